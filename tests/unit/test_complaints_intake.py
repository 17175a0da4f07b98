"""The complaint intake's validation: the public form and the hotline JSON, every bad input a 4xx naming the field.

Over FastAPI's test client with an in-memory producer and audit (the real Kafka is in
tests/integration/test_complaints_intake.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from api.app import Services, create_app
from api.audit import Auditor
from api.auth import Authenticator
from complaints import formtoken
from complaints.contract import Channel, parse_message
from complaints.forms import Invalid, form_submission, hotline_submission, parse_form
from complaints.intake import Intake
from complaints.pii import Keyring
from esup.ratelimit import RateLimiter
from esup.tokens import TokenStore
from loop.config import LoopConfig
from streams.rules.calendar import TZ

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=TZ)
SECRET = b"form-secret-0123456789abcdef"
GOOD = {
    "category": "misconduct",
    "text": "窗口工作人员暗示需要请客才能加快办理。",
    "name": "张三丰",
    "phone": "138 1234 5678",
    "id_number": "",
    "department_id": "DZ-1",
    "staff_id": "",
    "case_id": "",
}


@dataclass
class Meta:
    partition: int = 0
    offset: int = 0


class Sent:
    def __init__(self, log: list[tuple[str, bytes, bytes]], item: tuple[str, bytes, bytes]) -> None:
        log.append(item)

    def get(self, timeout: float | None = None) -> Meta:
        return Meta()


class MemoryProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    def send(self, topic: str, key: bytes, value: bytes) -> Sent:
        return Sent(self.sent, (topic, key, value))


class MemoryClickHouse:
    def __init__(self) -> None:
        self.rows: list[Any] = []

    def execute(self, sql: str, values: Any = None, **_: Any) -> list[Any]:
        self.rows += values or []
        return []


def forms(**changes: str) -> dict[str, str]:
    token = formtoken.issue(SECRET, NOW.timestamp())
    return {**GOOD, "form_token": token, **changes}


@pytest.fixture(scope="module")
def auth() -> Authenticator:
    return Authenticator({}, b"0123456789abcdef-test")  # one argon2 hash (its dummy) per module, not per test


@pytest.fixture
def app(tmp_path: Path, auth: Authenticator) -> dict[str, Any]:
    producer, ch = MemoryProducer(), MemoryClickHouse()
    tokens = TokenStore(tmp_path / "hotline.json")
    _, token = tokens.add("hotline-12345")
    intake = Intake(
        keyring=Keyring(tmp_path / "keys.json"),
        producer=producer,
        topic="esup.complaints",
        form_secret=SECRET,
        hotline_tokens=tokens,
        form_limiter=RateLimiter(1 / 3600, 6),
        hotline_limiter=RateLimiter(1.0, 3),
        max_body_bytes=8192,
    )
    services = Services(
        auth=auth,
        findings=None,  # type: ignore[arg-type]
        publisher=None,
        auditor=Auditor(ch, producer, "esup.audit"),
        loop=LoopConfig(),  # type: ignore[arg-type]
        now=lambda: NOW,
        intake=intake,
    )
    return {
        "client": TestClient(create_app(services)),
        "producer": producer,
        "token": token,
        "ch": ch,
        "ring": intake.keyring,
        "intake": intake,
    }


def complaints_sent(producer: MemoryProducer) -> list[bytes]:
    return [v for t, _, v in producer.sent if t == "esup.complaints"]


def post_form(client: TestClient, body: bytes | dict[str, str], **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else urlencode(body).encode()
    return client.post(
        "/complaints/form", content=raw, headers={"content-type": "application/x-www-form-urlencoded", **headers}
    )


def test_the_form_is_chinese_and_carries_a_signed_token(app: dict[str, Any]) -> None:
    page = app["client"].get("/complaints/form")
    assert page.status_code == 200 and "提交投诉" in page.text and 'name="form_token"' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert app["ch"].rows == []  # a page view is not audited


def test_a_good_submission_is_sealed_and_gets_a_receipt(app: dict[str, Any]) -> None:
    body = forms(text="请回电 13812345678，张三丰，窗口人员暗示要请客才办。")
    got = post_form(app["client"], body)
    assert got.status_code == 200, got.text
    sent = complaints_sent(app["producer"])
    assert len(sent) == 1
    assert b"13812345678" not in sent[0] and "张三丰".encode() not in sent[0]
    msg = parse_message(sent[0])
    assert msg.type == "received" and msg.channel == Channel.web and msg.complaint_id in got.text
    assert msg.complaint_id.startswith("TS20261202-") and "[投诉人]" in msg.text
    assert app["ring"].open(**msg.complainant.model_dump()).phone == "13812345678"  # type: ignore[union-attr]
    # The same page submitted again: the same receipt, nothing published twice.
    again = post_form(app["client"], body)
    assert again.status_code == 200 and msg.complaint_id in again.text and len(complaints_sent(app["producer"])) == 1
    # Audited, without the complainant.
    audit = [r for r in app["ch"].rows if r[4] == "complaint.submit"]
    assert audit and audit[0][2] == "public" and "13812345678" not in str(audit) and "张三丰" not in str(audit)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"category": "bribes"}, "category"),
        ({"text": "太慢"}, "text"),
        ({"text": "x" * 2001}, "text"),
        ({"phone": "12345"}, "phone"),
        ({"phone": ""}, "phone"),
        ({"name": ""}, "name"),
        ({"name": "名" * 51}, "name"),
        ({"id_number": "110105194912310021"}, "id_number"),
        ({"department_id": "DZ 1; drop"}, "department_id"),
        ({"case_id": "../../etc"}, "case_id"),
        ({"website": "http://spam"}, "website"),
        ({"text": "控制字符\x00在这里很长很长"}, "text"),
        ({"form_token": "1.2.3"}, "form_token"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(app: dict[str, Any], changes: dict[str, str], field: str) -> None:
    got = post_form(app["client"], forms(**changes))
    assert got.status_code == 400 and f'data-field="{field}"' in got.text, got.text
    assert complaints_sent(app["producer"]) == []


def test_bad_bodies(app: dict[str, Any]) -> None:
    c = app["client"]
    assert post_form(c, b"text=%FF%FE&category=x").status_code == 400  # not UTF-8
    assert 'data-field="&lt;body&gt;"' in post_form(c, b"\xff\xfe=\x00").text
    assert 'data-field="color"' in post_form(c, urlencode({**forms(), "color": "red"}).encode()).text
    twice = urlencode(forms()).encode() + b"&text=again"
    assert 'data-field="text"' in post_form(c, twice).text


def test_size_type_origin_and_rate(app: dict[str, Any]) -> None:
    c = app["client"]
    assert post_form(c, b"text=" + b"a" * 9000).status_code == 413
    assert c.post("/complaints/form", json=forms()).status_code == 415
    assert post_form(c, forms(), origin="https://evil.example").status_code == 403
    # Every POST from a source counts (the 413 and the 415 too): a burst of 6, then one an hour.
    assert [post_form(c, forms()).status_code for _ in range(5)] == [200, 200, 200, 200, 429]
    refused = post_form(c, forms())
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 60 and "频繁" in refused.text
    assert len(complaints_sent(app["producer"])) == 4


def hotline(app: dict[str, Any], body: Any, token: str | None = None, raw: bytes | None = None) -> Any:
    headers = {"authorization": f"Bearer {token or app['token']}", "content-type": "application/json"}
    return app["client"].post(
        "/complaints/hotline", content=raw if raw is not None else json.dumps(body), headers=headers
    )


HOTLINE = {
    "ticket_id": "GD-2026-000123",
    "category": "attitude",
    "text": "来电反映窗口人员态度恶劣。",
    "caller": {"name": "李四", "phone": "028-8765 4321"},
}


def test_hotline_accepts_idempotently(app: dict[str, Any]) -> None:
    first, second = hotline(app, HOTLINE), hotline(app, HOTLINE)
    assert first.status_code == 202 and first.json() == second.json()
    sent = complaints_sent(app["producer"])
    assert len({parse_message(v).message_id for v in sent}) == 1 and b"87654321" not in sent[0]
    assert parse_message(sent[0]).channel == Channel.hotline


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**HOTLINE, "category": 7}, "category"),
        ({**HOTLINE, "text": ""}, "text"),
        ({**HOTLINE, "extra": 1}, "extra"),
        ({**HOTLINE, "caller": {"name": "李四", "phone": "abc"}}, "caller.phone"),
        ({**HOTLINE, "caller": {"name": "李四", "phone": "13812345678", "id_number": "1"}}, "caller.id_number"),
        ({**HOTLINE, "caller": "李四"}, "caller"),
        ({**HOTLINE, "ticket_id": "a b"}, "ticket_id"),
        ({k: v for k, v in HOTLINE.items() if k != "ticket_id"}, "ticket_id"),
        ([HOTLINE], "<body>"),
    ],
)
def test_hotline_bad_fields(app: dict[str, Any], body: Any, field: str) -> None:
    got = hotline(app, body)
    assert got.status_code == 400 and field in [e["field"] for e in got.json()["errors"]], got.text


def test_hotline_bad_bytes_nesting_size_and_token(app: dict[str, Any]) -> None:
    assert hotline(app, None, raw=b"\xff{").status_code == 400
    deep = hotline(app, None, raw=b"[" * 2000 + b"]" * 2000)
    assert deep.status_code == 400 and "nested" in deep.json()["detail"]
    assert hotline(app, None, raw=b"{" + b'"a":1,' * 2000 + b'"b":2}').status_code == 413
    assert hotline(app, HOTLINE, token="esgw.nope.nope").status_code == 401


def test_form_token_and_receipt_numbers() -> None:
    t = formtoken.issue(SECRET, 1000.0)
    assert formtoken.check(SECRET, t, 1001.0) is not None
    assert formtoken.check(b"another-secret-0123456789", t, 1001.0) is None
    assert formtoken.check(SECRET, t, 1000.0 + formtoken.MAX_AGE_S + 1) is None
    assert formtoken.check(SECRET, t[:-2] + "AA", 1001.0) is None
    a = formtoken.receipt_number(SECRET, "TS20261202-", "n1")
    assert (
        a
        == formtoken.receipt_number(SECRET, "TS20261202-", "n1")
        != formtoken.receipt_number(SECRET, "TS20261202-", "n2")
    )
    assert len(a) == len("TS20261202-") + 12


def test_validation_functions_directly() -> None:
    sub = form_submission({**GOOD, "name": "", "phone": ""})
    assert sub.contact is None  # anonymous
    with pytest.raises(Invalid) as bad:
        form_submission({**GOOD, "phone": "1", "category": ""})
    assert {p.field for p in bad.value.problems} == {"phone", "category"}
    assert parse_form(b"name=%E5%BC%A0&text=x") == {"name": "张", "text": "x"}
    ticket, sub = hotline_submission(json.dumps({**HOTLINE, "caller": None}).encode(), 4096)
    assert ticket == "GD-2026-000123" and sub.contact is None


def test_status_by_receipt_number_shows_only_the_status(app: dict[str, Any]) -> None:
    c = app["client"]
    assert "受理编号" in c.get("/complaints/status").text  # no look-up configured: the empty form
    app["intake"].status_of = {"TS20261202-AAAA": "dispatched"}.get
    found = c.get("/complaints/status", params={"id": "TS20261202-AAAA"})
    assert found.status_code == 200 and "已转办" in found.text
    assert "没有查到" in c.get("/complaints/status", params={"id": "TS-nope"}).text
    # A look-up costs a quarter of a submission: the burst of 6 allows 24 of them, then 429.
    codes = [c.get("/complaints/status", params={"id": "x"}).status_code for _ in range(23)]
    assert codes.count(200) == 22 and codes[-1] == 429  # 2 + 22 = 24
