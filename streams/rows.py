"""Case rows as stored in the worker's state and its changelog: the state and its next due moment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from streams.chain import GENESIS, Head
from streams.rules import CaseState

# The partition's own record in the changelog (case ids cannot hold control characters): its event-time
# watermark, so a new owner judges late events exactly as the previous one would have, and the head of its
# findings' chain.
META_KEY = b"\x00meta"


def encode_row(state: CaseState, *, due: datetime | None, basis: str) -> bytes:
    """A row: the state and its next due moment computed on ``basis`` (calendar and thresholds), so a new
    owner rebuilds its deadline index without decoding every state unless the basis changed."""
    raw = orjson.dumps({"s": state, "d": due, "b": basis})
    # orjson (3.12+) returns bytes over-allocated to its work buffer; a row lives as long as its case.
    return bytes(memoryview(raw))


def decode_row(raw: bytes) -> CaseState:
    return CaseState.from_dict(orjson.loads(raw)["s"])


def row_due(raw: bytes, basis: str) -> tuple[str, datetime | None] | None:
    """(case id, stored next due moment) when the row was written on ``basis``; None: compute it again."""
    row: dict[str, Any] = orjson.loads(raw)
    if row.get("b") != basis:
        return None
    stored = row.get("d")
    return row["s"]["case_id"], datetime.fromisoformat(stored) if stored else None


def encode_meta(watermark: datetime | None, chain: Head) -> bytes:
    return orjson.dumps({"watermark": watermark, "chain_seq": chain.seq, "chain_hash": chain.hash})


def decode_meta(raw: bytes) -> tuple[datetime | None, Head]:
    meta = orjson.loads(raw)
    mark = meta.get("watermark")
    value = datetime.fromisoformat(mark) if mark else None
    if value is not None and value.tzinfo is None:
        raise ValueError("watermark without a timezone")
    head = Head(int(meta.get("chain_seq", 0)), str(meta.get("chain_hash", GENESIS)))
    if head.seq < 0 or len(head.hash) != 64:
        raise ValueError("a malformed chain head")
    return value, head
