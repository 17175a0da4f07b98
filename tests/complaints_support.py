"""Builders shared by the complaints tests: one complaint's messages on real 2026 dates."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from complaints.contract import COMPLAINT_ADAPTER, ComplaintMessage, SealedContact, message_id

TZ = ZoneInfo("Asia/Shanghai")
SEALED = SealedContact(contact_hash="ab" * 32, sealed="c2VhbGVk", key_id="k1")

# One valid message body per type (the tests change what they test).
DEFAULTS: dict[str, dict[str, Any]] = {
    "received": {
        "channel": "web",
        "category": "attitude",
        "department_id": "DZ-1",
        "staff_id": "s-1",
        "region_code": "511702",
        "text": "态度恶劣",
        "complainant": SEALED.model_dump(),
    },
    "registered": {"region_code": "511702"},
    "dispatched": {"department_id": "DZ-1"},
    "accepted": {"department_id": "DZ-1"},
    "extended": {"department_id": "DZ-1", "extra_wd": 2, "reason": "需核查"},
    "replied": {"department_id": "DZ-1", "result": "已处理"},
    "evaluated": {"rating": "satisfied"},
    "reopened": {"reason": "不满意"},
    "closed": {"substantiated": False, "finding": "不属实"},
}


def t(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


def msg(cid: str, kind: str, at: datetime, key: str = "1", **fields: Any) -> ComplaintMessage:
    """One message of ``kind`` about complaint ``cid``; sensible defaults per type, overridable."""
    raw = {
        "type": kind,
        "message_id": message_id(cid, kind, key),
        "complaint_id": cid,
        "actor_id": "test",
        "at": at,
        **DEFAULTS[kind],
        **fields,
    }
    return COMPLAINT_ADAPTER.validate_python(raw)
