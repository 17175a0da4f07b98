"""The complaints contract: every type round-trips, errors name the field, hostile input is refused, no clear PII."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from complaints.contract import (
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    ComplaintMessageError,
    complaints_json_schema,
    message_id,
    parse_message,
    to_wire,
)
from tests.complaints_support import DEFAULTS

CST = ZoneInfo("Asia/Shanghai")
SEALED = {"contact_hash": "a" * 64, "sealed": "QUJD-_x", "key_id": "k2026"}
BASE = {
    "schema_version": 1,
    "message_id": "m1",
    "complaint_id": "CP-511702-0001",
    "actor_id": "intake",
    "at": "2026-03-02T09:10:00+08:00",
}
ONE_OF_EACH: dict[str, dict[str, Any]] = DEFAULTS | {
    "received": {**DEFAULTS["received"], "category": "misconduct", "case_id": "DZ-2026-001", "complainant": SEALED},
}


def raw(kind: str, **change: Any) -> dict[str, Any]:
    return {**BASE, "type": kind, **ONE_OF_EACH[kind], **change}


@pytest.mark.parametrize("kind", MESSAGE_TYPES)
def test_every_type_round_trips(kind: str) -> None:
    m = parse_message(json.dumps(raw(kind)).encode())
    assert m.type == kind and parse_message(to_wire(m)) == m
    assert m.at == datetime(2026, 3, 2, 9, 10, tzinfo=CST)


def test_anonymous_and_ids() -> None:
    m = parse_message(raw("received", complainant=None, case_id=None, staff_id=None, department_id=None))
    assert m.type == "received" and m.complainant is None
    assert message_id("C", "received", "k") == message_id("C", "received", "k") != message_id("C", "received", "j")
    assert message_id("C", "replied", "k") != message_id("C", "received", "k")


@pytest.mark.parametrize(
    ("kind", "change", "field"),
    [
        ("received", {"channel": "fax"}, "channel"),
        ("received", {"category": "rudeness"}, "category"),
        ("received", {"text": "x" * 10_001}, "text"),
        ("received", {"text": ""}, "text"),
        ("received", {"at": "2026-03-02T09:10:00"}, "at"),
        ("received", {"complainant": {**SEALED, "contact_hash": "A" * 64}}, "complainant.contact_hash"),
        ("received", {"complainant": {**SEALED, "sealed": "not base64!"}}, "complainant.sealed"),
        ("received", {"complainant": {**SEALED, "sealed": "A" * 4097}}, "complainant.sealed"),
        ("received", {"complainant": {**SEALED, "key_id": "k" * 65}}, "complainant.key_id"),
        # A clear name or phone smuggled next to the seal is refused, not stored.
        ("received", {"complainant": {**SEALED, "phone": "13800138000"}}, "complainant.phone"),
        ("received", {"name": "张三"}, "name"),
        ("received", {"complaint_id": "../../etc"}, "complaint_id"),
        ("received", {"case_id": "x' OR 1=1"}, "case_id"),
        ("dispatched", {"department_id": None}, "department_id"),
        ("extended", {"extra_wd": 0}, "extra_wd"),
        ("evaluated", {"rating": "meh"}, "rating"),
        ("closed", {"substantiated": "maybe"}, "substantiated"),
        ("registered", {"region_code": "51a"}, "region_code"),
        ("received", {"schema_version": 2}, "schema_version"),
    ],
)
def test_errors_name_the_field(kind: str, change: dict[str, Any], field: str) -> None:
    with pytest.raises(ComplaintMessageError) as err:
        parse_message(json.dumps(raw(kind, **change)))
    assert err.value.reason.startswith(field + ":"), err.value.reason


def test_reasons_do_not_echo_the_input() -> None:
    with pytest.raises(ComplaintMessageError) as err:
        parse_message(raw("received", complainant={**SEALED, "contact_hash": "13800138000"}))
    assert "13800138000" not in err.value.reason


@pytest.mark.parametrize(
    ("payload", "start"),
    [
        (b"\xff\xfe", "<message>: not UTF-8"),
        (b"[1]", "<message>: expected a JSON object"),
        (b"{}", "type:"),
        (b'{"type": {"$ne": 1}}', "type:"),
        (b"not json", "<message>: invalid JSON"),
        (b"[" * 60_000, "<message>: nested more than"),
        (b"{" + b" " * MAX_MESSAGE_BYTES + b"}", "<message>:"),
        (("{" + '"a":1,' * 20_000 + '"type":"received"}').encode(), "<message>:"),
    ],
)
def test_hostile_bytes(payload: bytes, start: str) -> None:
    with pytest.raises(ComplaintMessageError) as err:
        parse_message(payload)
    assert err.value.reason.startswith(start)


def test_schema_has_every_type_and_no_clear_contact_field() -> None:
    schema = complaints_json_schema()
    assert schema["title"] == "ComplaintMessage v1"
    names = {
        "Received",
        "Registered",
        "Dispatched",
        "Accepted",
        "Extended",
        "Replied",
        "Evaluated",
        "Reopened",
        "Closed",
        "SealedContact",
    }
    assert names <= set(schema["$defs"])
    props = {p for d in schema["$defs"].values() for p in d.get("properties", {})}
    assert not props & {"name", "phone", "id_number", "id_card", "mobile", "address"}


def test_schema_export_writes_the_complaint_schema(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from esup.cli import main

    res = CliRunner().invoke(main, ["schema", "export", str(tmp_path)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "complaint-message.schema.json").read_text(encoding="utf-8"))
    assert doc["title"] == "ComplaintMessage v1"
