"""A hostile corpus for any JSON-object message on a topic (loop responses, complaints, findings), built from one
valid message, with the field each refusal must name; and the same records interleaved with valid ones.

Sibling of tests/hostile.py (case events). An entry's ``field`` is what the refusal must name as "field: …"
(``<message>`` for the message as a whole); ``None`` means the path documents that it skips the record
without a dead letter (a tombstone).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# kafka-python's max_request_size and the broker's message.max.bytes are both about 1 MiB: stay just under.
NEAR_BROKER_LIMIT = 1_000_000


@dataclass(frozen=True)
class HostileRecord:
    name: str
    value: bytes | None  # None: a tombstone
    field: str | None  # named in the refusal as "field: …"; None: skipped without a dead letter
    key: bytes = b"hostile"


def _dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, default=str).encode()


def _raw(message: dict[str, Any], name: str, raw_json: str) -> bytes:
    """``message`` with the field ``name`` written as raw JSON text (what json.dumps cannot produce)."""
    body = json.dumps({k: v for k, v in message.items() if k != name}, ensure_ascii=False, default=str)
    return (body[:-1] + f', "{name}": {raw_json}}}').encode()


def message_corpus(
    base: dict[str, Any], *, id_field: str, time_field: str, text_field: str, what: str = "<message>"
) -> list[HostileRecord]:
    """Hostile variants of the valid JSON object ``base``: bytes, nesting, numbers, types, ids, times, size."""

    def with_(**changes: Any) -> bytes:
        return _dumps({**base, **changes})

    deep = "[" * 20_000 + "]" * 20_000  # 40 KB: under every message limit here
    return [
        HostileRecord("invalid UTF-8", b'{"type": "\xff\xfe"}', what),
        HostileRecord("GBK bytes", with_(**{text_field: "态度恶劣"}).decode().encode("gbk"), what),
        HostileRecord("50,000-deep nesting", b"[" * 50_000, what),
        HostileRecord("20,000-deep nesting in a field", _raw(base, text_field, deep), what),
        HostileRecord("5,000-digit number", _raw(base, id_field, "1" * 5000), id_field),
        HostileRecord("1e999", _raw(base, id_field, "1e999"), id_field),
        HostileRecord("NaN", _raw(base, id_field, "NaN"), id_field),
        HostileRecord("duplicate key", _dumps(base)[:-1] + f', "{id_field}": "x"}}'.encode(), id_field),
        HostileRecord("id a number", with_(**{id_field: 123}), id_field),
        HostileRecord("id an object", with_(**{id_field: {"a": 1}}), id_field),
        HostileRecord("time a list", with_(**{time_field: ["2026-03-02"]}), time_field),
        HostileRecord("unit separator in the id", with_(**{id_field: "F-1\x1fX"}), id_field),
        HostileRecord("NUL in the id", with_(**{id_field: "F\x001"}), id_field),
        HostileRecord("bidi override in the id", with_(**{id_field: "F-\u202e1"}), id_field),
        HostileRecord("unpaired surrogate in the id", _raw(base, id_field, '"F-\\ud800"'), id_field),
        HostileRecord("year 9999", with_(**{time_field: "9999-12-31T23:59:59+08:00"}), time_field),
        HostileRecord("year 1900", with_(**{time_field: "1900-01-01T00:00:00+08:00"}), time_field),
        HostileRecord("year 1 at +23:00", with_(**{time_field: "0001-01-01T00:00:00+23:00"}), time_field),
        HostileRecord("naive time", with_(**{time_field: "2026-03-02T09:10:00"}), time_field),
        HostileRecord("time not a time", with_(**{time_field: "yesterday"}), time_field),
        HostileRecord("unknown field", with_(colour="red"), "colour"),
        HostileRecord("near the broker's limit", with_(**{text_field: "x" * (NEAR_BROKER_LIMIT - 2000)}), what),
        HostileRecord("JSON array", b"[1, 2, 3]", what),
        HostileRecord("JSON string", b'"response"', what),
        HostileRecord("JSON null", b"null", what),
        HostileRecord("invalid JSON", b"{oops", what),
        HostileRecord("empty", b"", what),
        HostileRecord("tombstone", None, None),
    ]


@dataclass(frozen=True)
class Slot:
    """One record to publish: hostile (``hostile`` set) or valid (``valid_id`` is what must come out)."""

    key: bytes
    value: bytes | None
    hostile: HostileRecord | None = None
    valid_id: str = ""


def interleave(corpus: list[HostileRecord], valid: Callable[[int], tuple[bytes, bytes, str]]) -> list[Slot]:
    """A valid record before each hostile one and after the last; ``valid(i)`` gives (key, value, its id)."""
    slots: list[Slot] = []
    for i, h in enumerate(corpus):
        key, value, vid = valid(i)
        slots += [Slot(key, value, valid_id=vid), Slot(h.key, h.value, hostile=h)]
    key, value, vid = valid(len(corpus))
    return [*slots, Slot(key, value, valid_id=vid)]


def reason_names(reason: str, field: str) -> bool:
    """Whether a refusal's reason names ``field`` (or one of its parts, ``field.0``) as "field: …", first or
    after "; "."""
    return re.search(rf"(?:^|; ){re.escape(field)}(?:\.[^:;]+)?: ", reason) is not None
