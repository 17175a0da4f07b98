"""Case rows as stored in the worker's state and its changelog: the state and its next due moment.

A row leaves out every field of the state (and of its clocks) that holds its default — most of an open
case's flags, counters and empty lists — and decoding gives them back (the dataclasses' defaults): an open
case's row is ~40 % smaller, in the worker's memory and in the changelog. A row written in full reads the same.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from datetime import datetime
from typing import Any

import orjson

from streams.chain import GENESIS, Head
from streams.rules import CaseState
from streams.rules.state import Clock

# The partition's own record in the changelog (case ids cannot hold control characters): its event-time
# watermark, so a new owner judges late events exactly as the previous one would have, and the head of its
# findings' chain.
META_KEY = b"\x00meta"


def _defaults(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return out


_STATE_DEFAULTS = _defaults(CaseState)
_CLOCK_DEFAULTS = _defaults(Clock)
_STATE_FIELDS = tuple(f.name for f in fields(CaseState))
_CLOCK_FIELDS = tuple(f.name for f in fields(Clock))


def _compact(obj: Any, names: tuple[str, ...], defaults: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        if name in defaults:
            default = defaults[name]
            if type(value) is type(default) and value == default:  # type too: False == 0
                continue
        out[name] = value
    return out


def encode_row(state: CaseState, *, due: datetime | None, basis: str) -> bytes:
    """A row: the state and its next due moment computed on ``basis`` (calendar and thresholds), so a new
    owner rebuilds its deadline index without decoding every state unless the basis changed."""
    s = _compact(state, _STATE_FIELDS, _STATE_DEFAULTS)
    if "clocks" in s:
        s["clocks"] = {name: _compact(c, _CLOCK_FIELDS, _CLOCK_DEFAULTS) for name, c in state.clocks.items()}
    raw = orjson.dumps({"s": s, "d": due, "b": basis})
    # orjson (3.12+) returns bytes over-allocated to its work buffer; a row lives as long as its case.
    return bytes(memoryview(raw))


def decode_row(raw: bytes) -> CaseState:
    """The case state a row holds (fields left out of the row get their defaults back)."""
    return CaseState.from_dict(orjson.loads(raw)["s"])


def row_due(raw: bytes, basis: str) -> tuple[str, datetime | None] | None:
    """(case id, stored next due moment) when the row was written on ``basis``; None: compute it again."""
    return stored_due(orjson.loads(raw), basis)


def stored_due(row: dict[str, Any], basis: str) -> tuple[str, datetime | None] | None:
    """`row_due` of a row already decoded."""
    if row.get("b") != basis:
        return None
    stored = row.get("d")
    return row["s"]["case_id"], datetime.fromisoformat(stored) if stored else None


def encode_meta(watermark: datetime | None, chain: Head) -> bytes:
    """The partition's meta row (``META_KEY``): its event-time watermark and its findings chain head."""
    return orjson.dumps({"watermark": watermark, "chain_seq": chain.seq, "chain_hash": chain.hash})


def decode_meta(raw: bytes) -> tuple[datetime | None, Head]:
    """The watermark and chain head in a meta row; ValueError when either is malformed."""
    meta = orjson.loads(raw)
    mark = meta.get("watermark")
    value = datetime.fromisoformat(mark) if mark else None
    if value is not None and value.tzinfo is None:
        raise ValueError("watermark without a timezone")
    head = Head(int(meta.get("chain_seq", 0)), str(meta.get("chain_hash", GENESIS)))
    if head.seq < 0 or len(head.hash) != 64:
        raise ValueError("a malformed chain head")
    return value, head
