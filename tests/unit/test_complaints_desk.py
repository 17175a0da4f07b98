"""complaints.view and complaints.desk: messages folded once each; who sees which complaint and its complainant."""

from __future__ import annotations

from pathlib import Path

from api.auth import Principal, Role
from api.directory import Department, YamlDirectory
from complaints.contract import Category, Channel, Dispatched, Registered
from complaints.desk import HIDDEN, Desk
from complaints.forms import Submission
from complaints.pii import Contact, Keyring
from complaints.view import ComplaintsView
from tests.loop_support import t

SUP_DZ = Principal(username="sup", role=Role.supervisor, region_code="511700")
SUP_CD = Principal(username="sup-cd", role=Role.supervisor, region_code="510100")
DZ1 = Principal(username="dz1", role=Role.department, department_id="DZ-1")


def test_visibility_and_the_complainant(tmp_path: Path) -> None:
    ring, view = Keyring(tmp_path / "k.json"), ComplaintsView()
    directory = YamlDirectory([Department(department_id="DZ-1", region_code="511702")], [])
    desk = Desk(view, ring, producer=None, topic="t", directory=directory)
    r = Submission(
        Channel.web, Category.fees, "乱收费的问题很严重。", Contact("张三丰", "13812345678"), department_id="DZ-1"
    ).received(complaint_id="C1", request_key="k", actor="a", at=t(2026, 6, 4, 9), keyring=ring)
    view.add(r)
    view.add(r)  # a redelivery is one message
    c = view.get("C1")
    assert c is not None and len(c.messages) == 1
    assert desk.may_see(SUP_DZ, c) and not desk.may_see(SUP_CD, c)  # DZ-1 is in Dazhou (5117)
    assert not desk.may_see(DZ1, c)  # not dispatched yet
    assert desk.contact(SUP_DZ, c, clear=True) == {"name": "张三丰", "phone": "13812345678", "id_number": None}
    assert desk.contact(SUP_DZ, c, clear=False) == {"name": "张**", "phone": "138****5678", "id_number": ""}
    view.add(Registered(message_id="m2", complaint_id="C1", actor_id="sup", at=t(2026, 6, 4, 10), region_code="511700"))
    view.add(Dispatched(message_id="m3", complaint_id="C1", actor_id="sup", at=t(2026, 6, 4, 11), department_id="DZ-1"))
    c = view.get("C1")
    assert c is not None and c.status == "dispatched" and c.dispatched_to == "DZ-1"
    assert desk.may_see(DZ1, c)
    assert desk.contact(DZ1, c, clear=True) == {"name": HIDDEN, "phone": HIDDEN, "id_number": None}


def test_bad_records_are_skipped_and_counted() -> None:
    view = ComplaintsView()
    view.add_raw([b"\xff", b"{}", b'{"type": "closed"}'])
    assert view.rejected == 3 and view.all() == []
