"""A corpus of hostile case-event messages, each with the field its rejection must name (issue 10).

Reused by the parser, sink, CLI and pipeline tests: every entry must be refused with an EventError whose
reason names ``field`` (``<event>`` when the message as a whole is at fault), and must stop nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CASE_ID = "HX-0001"

# A valid fee event: its payload has an integer, the envelope every id field and both times.
BASE: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "HX-0001-e01",
    "case_id": CASE_ID,
    "item_code": "SC-FOOD-001",
    "department_id": "DZ-SCJG",
    "region_code": "511702",
    "staff_id": "s-wang",
    "kind": "fee_charged",
    "occurred_at": "2026-03-02T09:10:00+08:00",
    "recorded_at": "2026-03-02T09:16:00+08:00",
    "payload": {"fee_code": "F1", "amount_fen": 1000},
}


@dataclass(frozen=True)
class Hostile:
    name: str
    raw: bytes
    field: str  # named in the reason as "field: …"
    key: bytes = CASE_ID.encode()


def valid_bytes(**changes: Any) -> bytes:
    return json.dumps({**BASE, **changes}, ensure_ascii=False).encode()


def _with(**changes: Any) -> bytes:
    return valid_bytes(**changes)


def _payload(**changes: Any) -> bytes:
    return valid_bytes(payload={**BASE["payload"], **changes})


def _raw_field(name: str, raw_json: str) -> bytes:
    """The base event with one field's value written as raw JSON text (what json.dumps cannot produce)."""
    body = json.dumps({k: v for k, v in BASE.items() if k != name})
    return (body[:-1] + f', "{name}": {raw_json}}}').encode()


def corpus() -> list[Hostile]:
    big_int = "1" * 5000
    return [
        Hostile("deep nesting", b"[" * 50_000, "<event>"),
        Hostile("deep nesting closed", b"[" * 5000 + b"]" * 5000, "<event>"),
        Hostile(
            "deep nesting in a field",
            _payload(note=None)[:-2] + b', "x": ' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}}",
            "<event>",
        ),
        Hostile("5,000-digit number", b'{"a": ' + big_int.encode() + b"}", "a"),
        Hostile(
            "5,000-digit amount",
            _raw_field("payload", '{"fee_code": "F1", "amount_fen": ' + big_int + "}"),
            "payload.amount_fen",
        ),
        Hostile(
            "~900 KB message", _with(payload={"fee_code": "F1", "amount_fen": 1, "note": "x" * 900_000}), "<event>"
        ),
        Hostile("+14:00 occurred_at in 2003 in Beijing", _with(occurred_at="2004-01-01T00:00:00+14:00"), "occurred_at"),
        Hostile(
            "+14:00 recorded_at in 2003 in Beijing",
            _with(occurred_at="2004-01-01T08:00:00+08:00", recorded_at="2004-01-01T00:30:00+14:00"),
            "recorded_at",
        ),
        Hostile("year 9999 near the datetime limit", _with(occurred_at="9999-12-31T23:59:59-23:00"), "occurred_at"),
        Hostile("year 1 near the datetime limit", _with(occurred_at="0001-01-01T00:00:00+23:00"), "occurred_at"),
        Hostile("invalid UTF-8", b'{"case_id": "\xff\xfe"}', "<event>"),
        Hostile("GBK bytes", _with(staff_id="张三").decode().encode("gbk"), "<event>"),
        Hostile("duplicate key", valid_bytes()[:-1] + b', "case_id": "HX-0002"}', "case_id"),
        Hostile(
            "duplicate key in payload",
            _raw_field("payload", '{"fee_code": "F1", "fee_code": "F2", "amount_fen": 1}'),
            "payload.fee_code",
        ),
        Hostile("NaN", _raw_field("payload", '{"fee_code": "F1", "amount_fen": NaN}'), "payload.amount_fen"),
        Hostile("Infinity", _raw_field("payload", '{"fee_code": "F1", "amount_fen": -Infinity}'), "payload.amount_fen"),
        Hostile("1e999", _raw_field("payload", '{"fee_code": "F1", "amount_fen": 1e999}'), "payload.amount_fen"),
        Hostile("unit separator in case_id", _with(case_id="HX-0001\x1fTIME"), "case_id", key=b"HX-0001\x1fTIME"),
        Hostile("NUL in event_id", _with(event_id="e\x001"), "event_id"),
        Hostile("bidi override in staff_id", _with(staff_id="s-\u202ewang"), "staff_id"),
        Hostile("zero-width space in item_code", _with(item_code="SC-FOOD\u200b-001"), "item_code"),
        Hostile("control char in a payload id", _payload(fee_code="F\x071"), "payload.fee_code"),
        Hostile("unpaired surrogate", _raw_field("staff_id", '"s-\\ud800"'), "staff_id"),
        Hostile("case_id a number", _with(case_id=123), "case_id"),
        Hostile("payload a list", _with(payload=[1, 2]), "payload"),
        Hostile("occurred_at a list", _with(occurred_at=["2026-03-02"]), "occurred_at"),
        Hostile("amount a string", _payload(amount_fen="lots"), "payload.amount_fen"),
        Hostile("kind an object", _with(kind={"x": 1}), "kind"),
        Hostile("naive time", _with(occurred_at="2026-03-02T09:10:00"), "occurred_at"),
        Hostile("unknown field", _with(colour="red"), "colour"),
        Hostile("JSON array", b"[1, 2, 3]", "<event>"),
        Hostile("JSON string", b'"apply"', "<event>"),
        Hostile("JSON null", b"null", "<event>"),
        Hostile("invalid JSON", b"{oops", "<event>"),
        Hostile("empty", b"", "<event>"),
    ]


def forged_finding_ids() -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    """Two (case, rule, occurrence) triples that a separator-joined hash could not tell apart."""
    return ("C1\x1fTIME_X", "Y", "o"), ("C1", "TIME_X\x1fY", "o")
