"""The notifier's pure parts: who is told on which channel, quiet hours, idempotency keys, backoff, HMAC."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from directory.index import DirectoryIndex
from directory.model import parse_directory
from notifier.channels import EmailChannel, sign, verify
from notifier.config import Email, NotifierConfig, QuietHours
from notifier.ledger import from_payload, to_payload
from notifier.routing import backoff, delivery_id, plan, quiet_until
from schemas.findings import Finding
from tests.unit.test_directory import small

TZ = ZoneInfo("Asia/Shanghai")
INDEX = DirectoryIndex.of(parse_directory(small()))


def finding(severity: str, rule: str = "TIME_DECISION_OVERDUE", staff: str = "S1", **kw: Any) -> Finding:
    return Finding(
        finding_id=f"f-{rule}-{severity}",
        case_id="C1",
        rule=rule,
        category="time",
        severity=severity,
        title="decision overdue",
        message="逾期未作决定",
        staff_id=staff,
        department_id="D1",
        region_code="511700",
        item_code="SC-SCJG-001",
        detected_at=datetime(2026, 3, 2, 17, tzinfo=TZ),
        evidence_event_ids=["e1"],
        calendar_version="t",
        **kw,
    )


def who(deliveries: list[Any]) -> set[tuple[str, str, str]]:
    return {(d.reason, d.recipient, d.channel) for d in deliveries}


def test_notice_goes_to_the_responsible_staff_only() -> None:
    assert who(plan(finding("notice", "TIME_DECISION_NOTICE"), INDEX, NotifierConfig(), escalation=False)) == {
        ("responsible", "S1", "email"),
        ("responsible", "S1", "webhook"),
    }


def test_yellow_also_goes_to_the_head_and_red_also_to_the_bureau() -> None:
    yellow = who(plan(finding("yellow"), INDEX, NotifierConfig(), escalation=False))
    assert {r for r, _, _ in yellow} == {"responsible", "head"}
    assert ("head", "H1", "sms") in yellow and ("head", "H1", "email") in yellow
    red = who(plan(finding("red", "TIME_DECISION_RED"), INDEX, NotifierConfig(), escalation=True))
    assert {r for r, _, _ in red} == {"responsible", "head", "bureau"}
    assert ("bureau", "J1", "sms") in red


def test_deemed_approval_is_the_heads_even_as_a_notice() -> None:
    config = NotifierConfig(
        routes={
            "notice": {"responsible": ["email"]},
            "yellow": {"responsible": ["email"]},
            "red": {"responsible": ["email"], "head": ["webhook"]},
        }
    )
    deemed = who(plan(finding("notice", "TIME_DEEMED_APPROVAL"), INDEX, config, escalation=False))
    assert ("head", "H1", "webhook") in deemed
    plain = who(plan(finding("notice", "TIME_DECISION_NOTICE"), INDEX, config, escalation=False))
    assert {r for r, _, _ in plain} == {"responsible"}


def test_a_head_who_is_responsible_gets_one_message_per_channel() -> None:
    got = plan(finding("yellow", staff="H1"), INDEX, NotifierConfig(), escalation=False)
    assert len({(d.recipient, d.channel) for d in got}) == len(got) == 3


def test_disabled_channels_and_missing_addresses() -> None:
    config = NotifierConfig(channels={"sms": {"enabled": False}})
    got = plan(finding("yellow"), INDEX, config, escalation=False)
    assert all(d.channel != "sms" for d in got)
    by = {(d.recipient, d.channel): d.address for d in got}
    assert by[("H1", "email")] == "h1@x.example" and by[("S1", "email")] == ""  # S1 has no address: skipped later
    assert by[("S1", "webhook")] == "S1"


def test_messages_carry_names_and_the_escalation() -> None:
    d = plan(finding("yellow"), INDEX, NotifierConfig(), escalation=True)[0]
    assert "黄牌升级" in d.subject and "达州市市场监督管理局" in d.subject
    assert "李娜" in d.text and "王伟" in d.text
    assert d.body["head"] == {"id": "H1", "name": "王伟"} and d.body["escalation"] is True
    assert d.accountable["head_id"] == "H1"


def test_delivery_ids_are_stable_and_differ_by_each_part() -> None:
    base = delivery_id("f", "yellow", "S1", "email")
    assert base == delivery_id("f", "yellow", "S1", "email")
    others = {
        delivery_id("g", "yellow", "S1", "email"),
        delivery_id("f", "red", "S1", "email"),
        delivery_id("f", "yellow", "S2", "email"),
        delivery_id("f", "yellow", "S1", "sms"),
    }
    assert base not in others and len(others) == 4
    d = plan(finding("yellow"), INDEX, NotifierConfig(), escalation=False)[0]
    assert d.delivery_id == delivery_id(d.finding_id, "yellow", d.recipient, d.channel)


QUIET = [QuietHours(channel="sms", start="22:00", end="07:00")]


@pytest.mark.parametrize(
    ("local", "severity", "channel", "until"),
    [
        ("2026-03-02T23:30", "yellow", "sms", "2026-03-03T07:00"),
        ("2026-03-03T06:59", "notice", "sms", "2026-03-03T07:00"),
        ("2026-03-02T22:00", "yellow", "sms", "2026-03-03T07:00"),
        ("2026-03-03T07:00", "yellow", "sms", None),
        ("2026-03-02T21:59", "yellow", "sms", None),
        ("2026-03-02T23:30", "red", "sms", None),  # red cards are sent at night
        ("2026-03-02T23:30", "yellow", "email", None),
    ],
)
def test_quiet_hours(local: str, severity: str, channel: str, until: str | None) -> None:
    at = datetime.fromisoformat(local).replace(tzinfo=TZ).astimezone(ZoneInfo("UTC"))  # any zone in, Beijing rules
    got = quiet_until(QUIET, channel, severity, at, "Asia/Shanghai")
    assert got == (datetime.fromisoformat(until).replace(tzinfo=TZ) if until else None)


def test_quiet_hours_within_a_day() -> None:
    q = [QuietHours(channel="email", start="12:00", end="13:30", except_severities=[])]
    assert quiet_until(q, "email", "red", datetime(2026, 3, 2, 12, 10, tzinfo=TZ), "Asia/Shanghai") == datetime(
        2026, 3, 2, 13, 30, tzinfo=TZ
    )
    assert quiet_until(q, "email", "red", datetime(2026, 3, 2, 13, 30, tzinfo=TZ), "Asia/Shanghai") is None


def test_backoff_doubles_to_the_cap() -> None:
    assert [backoff(n, 1.0, 10.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_hmac_signature_verifies_and_rejects_tampering_and_old_requests() -> None:
    key, body, ts = b"k" * 32, b'{"a":1}', "1767225600"
    sig = sign(key, ts, body)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert verify(key, ts, sig, body, now=1767225600 + 10)
    assert not verify(key, ts, sig, b'{"a":2}', now=1767225600)
    assert not verify(b"other", ts, sig, body, now=1767225600)
    assert not verify(key, str(int(ts) + 1), sig, body, now=1767225600)  # the timestamp is signed
    assert not verify(key, ts, sig, body, now=1767225600 + 301)  # replayed too late
    assert not verify(key, "x", sig, body)


def test_payload_round_trips_for_a_restart() -> None:
    d = plan(finding("yellow"), INDEX, NotifierConfig(), escalation=False)[0]
    back = from_payload(to_payload(d))
    assert (back.delivery_id, back.subject, back.text, back.body, back.accountable) == (
        d.delivery_id,
        d.subject,
        d.text,
        d.body,
        d.accountable,
    )


def test_email_has_a_stable_message_id() -> None:
    d = plan(finding("yellow"), INDEX, NotifierConfig(), escalation=False)
    mail = next(x for x in d if x.channel == "email" and x.address)
    m = EmailChannel(Email()).message(mail)
    assert m["Message-ID"] == f"<{mail.delivery_id}@esup.notifier>" and m["To"] == "h1@x.example"
