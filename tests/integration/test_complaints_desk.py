"""The console's complaint desk on real Kafka and ClickHouse, in Chromium: the supervisor sees the complainant
(masked in the list, in clear on the complaint, audited), registers and dispatches it; the department it went to
sees the complaint but never the complainant; another department gets 403."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import Services
from api.audit import Auditor
from api.auth import Authenticator
from api.directory import YamlDirectory
from api.store import FindingsReader, Publisher
from complaints.contract import Category, Channel
from complaints.desk import Desk
from complaints.forms import Submission
from complaints.pii import Contact, Keyring
from complaints.view import ComplaintsView, KafkaTail
from console.app import Console, create_console
from console.queries import PerThread
from console.session import SessionConfig
from loop.config import LoopConfig
from schemas.catalog import Catalog
from sinks.clickhouse import connect_url
from streams.rules.calendar import WorkCalendar
from tests.console_support import serve, users
from tests.integration.analytics_db import fresh_database
from tests.integration.test_console_browser import chromium, log_in  # noqa: F401 (the fixture)
from tests.integration.test_loop_service import read_all
from tests.loop_support import t
from tests.support import admin_auth

pytestmark = pytest.mark.integration
DB = "esup_test_complaints_desk"
NAME, PHONE = "欧阳娜娜", "13987654321"
COMPLAINT = "TS20260604-DESKTEST0001"


@pytest.fixture
def desk(
    clickhouse_server: Any, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> Iterator[dict[str, Any]]:
    from esup.producer import kafka_producer

    client = fresh_database(clickhouse_server.address, DB)
    topics = {
        "complaints": new_topic(3, "complaints"),
        "audit": new_topic(1, "audit"),
        "responses": new_topic(1, "responses"),
    }
    producer = kafka_producer(kafka_bootstrap, "test-desk", auth=admin_auth())
    ring = Keyring(tmp_path / "pii-keys.json")
    received = Submission(
        Channel.web, Category.misconduct, "窗口人员暗示要请吃饭才给办理。", Contact(NAME, PHONE), department_id="DZ-1"
    ).received(complaint_id=COMPLAINT, request_key="k", actor="public-form", at=t(2026, 6, 4, 9), keyring=ring)
    producer.send(topics["complaints"], key=COMPLAINT.encode(), value=received.model_dump_json().encode()).get(30)
    view = ComplaintsView()
    tail = KafkaTail(view, kafka_bootstrap, topics["complaints"], admin_auth()).start()
    directory = YamlDirectory.load("tests/fixtures/directory.yaml")
    connect = lambda: connect_url(clickhouse_server.address, DB)  # noqa: E731
    services = Services(
        auth=Authenticator(users(), b"0123456789abcdef-test"),
        findings=FindingsReader(PerThread(connect)),
        publisher=Publisher(producer, topics["responses"]),
        auditor=Auditor(connect(), producer, topics["audit"]),
        loop=LoopConfig(),
        directory=directory,
        now=lambda: t(2026, 6, 4, 10),
        desk=Desk(view, ring, producer, topics["complaints"], directory),
    )
    app = create_console(
        Console(
            services, WorkCalendar(), Catalog(items=[]), SessionConfig("test-session-secret-0123456789", secure=False)
        )
    )
    try:
        with serve(app) as base:
            yield {"base": base, "ch": client, "topics": topics}
    finally:
        tail.close()
        producer.close()
        client.execute(f"DROP DATABASE IF EXISTS {DB}")


def test_supervisor_sees_and_dispatches_department_never_sees_the_complainant(
    chromium: Any,  # noqa: F811 - the fixture, imported from the console's browser test
    desk: dict[str, Any],
    kafka_bootstrap: str,
) -> None:
    base = desk["base"]
    sup = log_in(chromium, base, "sup-dazhou", "/complaints")
    sup.wait_for_selector(f"tr[data-complaint='{COMPLAINT}']")
    row = sup.inner_text(f"tr[data-complaint='{COMPLAINT}']")
    assert "欧**" in row and "139****4321" in row and PHONE not in row  # masked in the list
    sup.click(f"tr[data-complaint='{COMPLAINT}'] a")
    assert sup.inner_text("#complainant-name") == NAME and sup.inner_text("#complainant-phone") == PHONE
    sup.click("form[action$='/register'] button")
    assert "已提交" in sup.inner_text("p.ok")
    sup.fill("form[action$='/dispatch'] textarea[name=note]", "请于 5 个工作日内核查答复。")
    sup.click("form[action$='/dispatch'] button")
    assert "已提交（转办）" in sup.inner_text("p.ok")
    assert [r.split(b'"type":"')[1][:10] for r in read_all(kafka_bootstrap, desk["topics"]["complaints"])] == [
        b'received",',
        b"registered",
        b"dispatched",
    ]
    # The department it went to: the complaint, its text, and no complainant anywhere on the page.
    clerk = log_in(chromium, base, "dz1", "/complaints")
    clerk.wait_for_selector(f"tr[data-complaint='{COMPLAINT}']")
    for page in ("/complaints", f"/complaints/{COMPLAINT}"):
        response = clerk.goto(base + page)
        assert response is not None and response.status == 200
        html = clerk.content()
        assert NAME not in html and PHONE not in html and "4321" not in html and NAME[0] + "*" not in html
        assert "仅监察机关可见" in html
    assert "请吃饭" in clerk.inner_text("dd.text") and clerk.locator("form[action$='/dispatch']").count() == 0
    refused = clerk.request.post(
        f"{base}/complaints/{COMPLAINT}/close",
        form={
            "csrf": clerk.get_attribute("header input[name=csrf]", "value") or "",
            "substantiated": "no",
            "finding": "自行办结",
        },
        max_redirects=0,
    )
    assert refused.status == 403
    # Another department: not its complaint.
    other = log_in(chromium, base, "dz2", "/complaints")
    assert f"tr[data-complaint='{COMPLAINT}']" not in other.content()
    assert other.locator(f"tr[data-complaint='{COMPLAINT}']").count() == 0
    assert other.goto(f"{base}/complaints/{COMPLAINT}").status == 403
    # Audited: who saw the complainant in clear, and the actions; the complainant never in the audit.
    audit = desk["ch"].execute("SELECT actor_id, action, detail FROM audit_log")
    shown = [(a, d) for a, x, d in audit if x == "view_complaint" and '"complainant_shown": true' in d]
    assert shown and {a for a, _ in shown} == {"sup-dazhou"}
    assert {("sup-dazhou", "registered"), ("sup-dazhou", "dispatched")} <= {(a, x) for a, x, _ in audit}
    assert NAME not in str(audit) and PHONE not in str(audit)
