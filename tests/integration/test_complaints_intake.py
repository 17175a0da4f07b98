"""The complaint intake on real Kafka and ClickHouse: the public form in Chromium gets a receipt and its complaint
arrives on the topic sealed, then is refused past its rate limit; every endpoint's bad input is a 4xx naming the
field and the service keeps going; the hotline's credential use is audited."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import Services, create_app
from api.audit import Auditor
from api.auth import Authenticator
from complaints.contract import Channel, parse_message
from complaints.intake import Intake
from complaints.pii import Keyring
from esup.ratelimit import RateLimiter
from esup.tokens import TokenStore
from loop.config import LoopConfig
from streams.rules.calendar import TZ
from tests.console_support import serve
from tests.integration.analytics_db import fresh_database
from tests.integration.test_console_browser import chromium  # noqa: F401 (the fixture)
from tests.integration.test_loop_service import read_all
from tests.support import admin_auth

pytestmark = pytest.mark.integration
DB = "esup_test_complaints_intake"
NAME, PHONE, ID = "欧阳娜娜", "13987654321", "11010519491231002X"


@pytest.fixture
def intake(
    clickhouse_server: Any, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> Iterator[dict[str, Any]]:
    from esup.producer import kafka_producer

    client = fresh_database(clickhouse_server.address, DB)
    topics = {"complaints": new_topic(3, "complaints"), "audit": new_topic(1, "audit")}
    producer = kafka_producer(kafka_bootstrap, "test-intake", auth=admin_auth())
    tokens = TokenStore(tmp_path / "hotline-tokens.json")
    _, token = tokens.add("12345-dazhou")
    ring = Keyring(tmp_path / "credentials" / "complaints" / "pii-keys.json")
    it = Intake(
        keyring=ring,
        producer=producer,
        topic=topics["complaints"],
        form_secret=b"it-form-secret-0123456789",
        hotline_tokens=tokens,
        form_limiter=RateLimiter(1 / 3600, 3),
        hotline_limiter=RateLimiter(50, 50),
        max_body_bytes=32 << 10,
    )
    services = Services(
        auth=Authenticator({}, b"0123456789abcdef-test"),
        findings=None,  # type: ignore[arg-type]
        publisher=None,
        auditor=Auditor(client, producer, topics["audit"]),  # type: ignore[arg-type]
        loop=LoopConfig(),
        now=lambda: datetime.now(TZ),
        intake=it,
    )
    try:
        with serve(create_app(services)) as base:
            yield {"base": base, "ch": client, "topics": topics, "token": token, "ring": ring}
    finally:
        producer.close()
        client.execute(f"DROP DATABASE IF EXISTS {DB}")


def fill(page: Any, text: str) -> None:
    page.select_option("select[name=category]", "misconduct")
    page.fill("input[name=department_id]", "DZ-1")
    page.fill("textarea[name=text]", text)
    page.fill("input[name=name]", NAME)
    page.fill("input[name=phone]", "139 8765 4321")
    page.fill("input[name=id_number]", ID)


def test_public_form_in_chromium_sealed_on_kafka_then_rate_limited(
    chromium: Any,  # noqa: F811 - the fixture, imported from the console's browser test
    intake: dict[str, Any],
    kafka_bootstrap: str,
) -> None:
    base = intake["base"]
    page = chromium.new_context(locale="zh-CN").new_page()
    page.goto(base + "/complaints/form")
    assert "行政审批服务投诉" in page.inner_text("h1")
    # A mistake first: the page says which field, keeps what was typed, and nothing is published.
    fill(page, "太短")
    page.fill("input[name=phone]", "12345")
    page.click("button[type=submit]")
    page.wait_for_selector("#error-text")
    assert page.locator("#error-phone").is_visible() and "至少 10 个字" in page.inner_text("#error-text")
    assert page.input_value("input[name=name]") == NAME
    assert read_all(kafka_bootstrap, intake["topics"]["complaints"]) == []
    fill(page, f"窗口工作人员暗示要请吃饭才给办理，我叫{NAME}，电话 {PHONE}。")
    page.click("button[type=submit]")
    receipt = page.wait_for_selector("#complaint-id").inner_text().strip()
    assert receipt.startswith("TS")
    records = read_all(kafka_bootstrap, intake["topics"]["complaints"])
    assert len(records) == 1
    raw = records[0]
    # Not in clear anywhere in the record: name, phone (any spelling), ID number.
    for secret in (NAME, PHONE, "139 8765 4321", ID, ID[:17]):
        assert secret.encode() not in raw, secret
    msg = parse_message(raw)
    assert msg.type == "received" and msg.complaint_id == receipt and msg.channel == Channel.web
    assert msg.department_id == "DZ-1" and msg.complainant is not None
    opened = intake["ring"].open(**msg.complainant.model_dump())
    assert (opened.name, opened.phone, opened.id_number) == (NAME, PHONE, ID)
    # The third POST from this address (burst 3; the mistake counted) is the last; the fourth is refused.
    page.goto(base + "/complaints/form")
    fill(page, "第二件投诉：收费没有依据，也不开票。")
    page.click("button[type=submit]")
    assert page.wait_for_selector("#complaint-id").inner_text().strip().startswith("TS")
    page.goto(base + "/complaints/form")
    fill(page, "第三件投诉：再次提交，应被限流。")
    with page.expect_response(lambda r: r.url.endswith("/complaints/form") and r.request.method == "POST") as sent:
        page.click("button[type=submit]")
    assert sent.value.status == 429 and int(sent.value.headers["retry-after"]) > 60
    assert "提交过于频繁" in page.wait_for_selector("#refused").inner_text()
    assert len(read_all(kafka_bootstrap, intake["topics"]["complaints"])) == 2
    # Audited, without the complainant.
    audit = intake["ch"].execute("SELECT actor_id, action, status, detail FROM audit_log")
    assert sorted(r[2] for r in audit if r[1] == "complaint.submit") == [200, 200, 400, 429]
    assert {r[0] for r in audit if r[1] == "complaint.submit"} == {"public"}
    assert NAME not in str(audit) and PHONE not in str(audit) and ID not in str(audit)


HOTLINE = {
    "ticket_id": "DZ12345-2026-0001",
    "category": "attitude",
    "department_id": "DZ-2",
    "text": "来电人反映窗口人员态度恶劣。",
    "caller": {"name": NAME, "phone": PHONE},
}


def test_bad_input_to_every_endpoint_is_a_4xx_naming_the_field(intake: dict[str, Any], kafka_bootstrap: str) -> None:
    base, token = intake["base"], intake["token"]
    auth = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    form = {"content-type": "application/x-www-form-urlencoded"}
    deep = b"[" * 5000 + b"]" * 5000
    with httpx.Client(base_url=base, timeout=30) as c:
        cases: list[tuple[str, dict[str, str], bytes, int, str]] = [
            ("/complaints/hotline", auth, b"\xff\xfe{bad", 400, "<body>"),
            ("/complaints/hotline", auth, deep[:20000], 400, "nested"),
            ("/complaints/hotline", auth, b'{"ticket_id": "' + b"x" * 40000 + b'"}', 413, "bytes"),
            ("/complaints/hotline", auth, json.dumps({**HOTLINE, "category": ["attitude"]}).encode(), 400, "category"),
            (
                "/complaints/hotline",
                auth,
                json.dumps({**HOTLINE, "caller": {"name": 1, "phone": PHONE}}).encode(),
                400,
                "caller.name",
            ),
            ("/complaints/hotline", auth, json.dumps({**HOTLINE, "text": {"a": {"b": "c"}}}).encode(), 400, "text"),
            ("/complaints/hotline", auth, b"12345", 400, "<body>"),
            ("/complaints/hotline", {**auth, "content-type": "text/plain"}, b"{}", 415, "json"),
            ("/complaints/hotline", {"content-type": "application/json"}, json.dumps(HOTLINE).encode(), 401, "token"),
        ]
        for path, headers, body, status, named in cases:
            got = c.post(path, content=body, headers=headers)
            assert got.status_code == status, (named, got.text)
            assert named in got.text, (named, got.text)
        # The public form: bad bytes, too big (declared or not), not a form; three from this source, then 429.
        assert c.post("/complaints/form", content=b"text=%FF%FE", headers=form).status_code == 400
        assert c.post("/complaints/form", content=b"a" * 40000, headers=form).status_code == 413
        chunks = (b"text=" + b"a" * 1000 for _ in range(40))  # no Content-Length: cut off at the limit all the same
        assert c.post("/complaints/form", content=chunks, headers=form).status_code == 413
        assert c.post("/complaints/form", content=b"x", headers=form).status_code == 429
        # Still serving: a good hotline complaint goes through (twice: the same complaint).
        first = c.post("/complaints/hotline", content=json.dumps(HOTLINE).encode(), headers=auth)
        again = c.post("/complaints/hotline", content=json.dumps(HOTLINE).encode(), headers=auth)
        assert first.status_code == again.status_code == 202 and first.json() == again.json()
    records = [parse_message(r) for r in read_all(kafka_bootstrap, intake["topics"]["complaints"])]
    assert {m.message_id for m in records} == {first.json()["message_id"]}
    assert all(PHONE.encode() not in r for r in read_all(kafka_bootstrap, intake["topics"]["complaints"]))
    audit = intake["ch"].execute("SELECT actor_id, action, status FROM audit_log WHERE action = 'complaint.hotline'")
    assert {(a, s) for a, _, s in audit} >= {
        ("anonymous", 401),
        (f"hotline-token:{token.split('.')[1]}", 202),
        (f"hotline-token:{token.split('.')[1]}", 400),
    }
