"""Complaint messages into ClickHouse (table complaint_messages, migration 0050): no personal data in clear."""

from __future__ import annotations

import re
from typing import Any

from complaints.contract import ComplaintMessage, Received

COLUMNS = (
    "message_id",
    "complaint_id",
    "type",
    "schema_version",
    "actor_id",
    "at",
    "channel",
    "category",
    "department_id",
    "staff_id",
    "case_id",
    "region_code",
    "contact_hash",
    "text",
    "extra_wd",
    "rating",
    "substantiated",
    "source_partition",
    "source_offset",
)
# What a citizen may type into the free text that identifies them (个人信息保护法 minimisation): mobile and
# landline numbers, resident ID numbers, e-mail addresses. A name cannot be told from other words; the
# intake asks for it in its own (sealed) field.
_MASKS = (
    re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"),  # 居民身份证号
    re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)"),  # mobile
    re.compile(r"(?<!\d)0\d{2,3}[- ]?\d{7,8}(?!\d)"),  # landline with area code
    # e-mail (ASCII: \w takes 汉字). A match starts only where a run of local-part characters starts, and the
    # run is taken whole: without both, a long run with no @ in it is rescanned from each of its characters
    # (quadratic: a 1 MB refused message took most of an hour to mask for its dead letter).
    re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]++@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
)
_TEXT_FIELDS = ("text", "note", "reason", "result", "comment", "finding")


def mask(text: str) -> str:
    """The text with phone numbers, ID numbers and e-mail addresses replaced by ▇."""
    for pattern in _MASKS:
        text = pattern.sub(lambda m: "▇" * len(m.group(0)), text)
    return text


def mask_bytes(raw: bytes) -> bytes:
    """A refused message's bytes for its dead letter, masked like the texts (the sink archives dead letters)."""
    return mask(raw.decode("utf-8", "replace")).encode("utf-8")


def message_row(msg: ComplaintMessage, partition: int, offset: int) -> tuple[Any, ...]:
    """The complaint_messages row of a message: the contact only as its hash, free text masked."""
    d = msg.model_dump(mode="json", exclude={"complainant"})  # the sealed contact never leaves Kafka
    row: dict[str, Any] = {c: "" for c in COLUMNS} | {
        "message_id": msg.message_id,
        "complaint_id": msg.complaint_id,
        "type": msg.type,
        "schema_version": 1,
        "actor_id": msg.actor_id,
        "at": msg.at,
        "extra_wd": int(d.get("extra_wd") or 0),
        "substantiated": int(d["substantiated"]) if "substantiated" in d else -1,
        "source_partition": partition,
        "source_offset": offset,
    }
    for key in ("channel", "category", "department_id", "staff_id", "case_id", "region_code", "rating"):
        if d.get(key) is not None:
            row[key] = str(d[key])
    row["text"] = mask(next((str(d[k]) for k in _TEXT_FIELDS if d.get(k)), ""))
    if isinstance(msg, Received) and msg.complainant is not None:
        row["contact_hash"] = msg.complainant.contact_hash
    return tuple(row[c] for c in COLUMNS)


class ComplaintStore:
    """Buffers rows; ``flush()`` is the only I/O and always clears (a replayed message keeps one row: FINAL)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.rows: list[tuple[Any, ...]] = []

    def add(self, msg: ComplaintMessage, partition: int, offset: int) -> None:
        """Buffer the message's row."""
        self.rows.append(message_row(msg, partition, offset))

    def flush(self) -> None:
        """Insert the buffered rows (the buffer is cleared first, even if the insert fails)."""
        rows, self.rows = self.rows, []
        if rows:
            self.client.execute(f"INSERT INTO complaint_messages ({', '.join(COLUMNS)}) VALUES", rows)
