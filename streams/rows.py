"""Case rows as stored in the worker's state and its changelog: the state and its next due moment.

A row leaves out every field of the state (and of its clocks) that holds its default — most of an open
case's flags, counters and empty lists — and decoding gives them back (the dataclasses' defaults): an open
case's row is ~40 % smaller, in the worker's memory and in the changelog. A row written in full reads the same.

The row's JSON is then compressed with zstd and a dictionary trained on case rows (`rows.zdict`, made by
`python -m tests.make_row_dictionary`): ~5 µs a row, and a row ~4-6× smaller in memory and in the changelog
(docs/performance.md). A frame names its dictionary; a row in plain JSON (written before compression) still
reads. A frame that is not ours, names another dictionary or would inflate past ``ROW_LIMIT`` is refused
with ValueError, so recovery quarantines it like any malformed row.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from datetime import datetime
from importlib.resources import files
from typing import Any

import orjson
import zstandard

from streams.chain import GENESIS, Head
from streams.rules import CaseState
from streams.rules.state import Clock

# The partition's own record in the changelog (case ids cannot hold control characters): its event-time
# watermark, so a new owner judges late events exactly as the previous one would have, and the head of its
# findings' chain.
META_KEY = b"\x00meta"

ROW_LIMIT = 1 << 20  # a row inflates to at most 1 MiB (Kafka's record limit is the same order)
_DICTIONARY = zstandard.ZstdCompressionDict(files("streams").joinpath("rows.zdict").read_bytes())
_PACK = zstandard.ZstdCompressor(level=3, dict_data=_DICTIONARY, write_checksum=False, write_dict_id=True)
_UNPACK = zstandard.ZstdDecompressor(dict_data=_DICTIONARY)


def pack(raw_json: bytes) -> bytes:
    """A row's JSON, compressed (its size and dictionary id in the frame's header)."""
    return _PACK.compress(raw_json)


def unpack(raw: bytes) -> bytes:
    """A row's JSON from its stored bytes (compressed, or plain JSON from before compression)."""
    if raw[:1] == b"{":
        return raw
    try:
        frame = zstandard.get_frame_parameters(raw)
    except zstandard.ZstdError as exc:
        raise ValueError(f"a row that is neither JSON nor a zstd frame: {exc}") from None
    if frame.dict_id != _DICTIONARY.dict_id():
        raise ValueError(f"a row compressed with dictionary {frame.dict_id}, not {_DICTIONARY.dict_id()}")
    if not 0 <= frame.content_size <= ROW_LIMIT:
        raise ValueError(f"a row frame of {frame.content_size} bytes (at most {ROW_LIMIT}, size stated)")
    try:
        return bytes(_UNPACK.decompress(raw))
    except zstandard.ZstdError as exc:
        raise ValueError(f"a corrupt row frame: {exc}") from None


def load_row(raw: bytes) -> dict[str, Any]:
    """A row's JSON object ({"s": state, "d": next due, "b": basis}); ValueError when it is not one."""
    row = orjson.loads(unpack(raw))
    if not isinstance(row, dict):
        raise ValueError("a row that is not a JSON object")
    return row


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
    return pack(orjson.dumps({"s": s, "d": due, "b": basis}))


def decode_row(raw: bytes) -> CaseState:
    """The case state a row holds (fields left out of the row get their defaults back)."""
    return CaseState.from_dict(load_row(raw)["s"])


def row_due(raw: bytes, basis: str) -> tuple[str, datetime | None] | None:
    """(case id, stored next due moment) when the row was written on ``basis``; None: compute it again."""
    return stored_due(load_row(raw), basis)


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
