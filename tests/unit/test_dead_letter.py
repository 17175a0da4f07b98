"""Dead letters always fit in a Kafka record: a bounded prefix of the raw bytes, with the whole's length and hash."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

from schemas.control import (
    MAX_KEPT_KEY_BYTES,
    MAX_KEPT_VALUE_BYTES,
    MAX_REASON_CHARS,
    DeadLetter,
    read_dead_letter,
)

KAFKA_DEFAULT_MAX_BYTES = 1_000_000  # message.max.bytes / max.request.size defaults
WHEN = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _letter(value: bytes, key: bytes | None = b"C1", reason: str = "<event>: invalid JSON") -> DeadLetter:
    return DeadLetter.of(
        reason=reason, topic="case-events", partition=3, offset=7, key=key, value=value, failed_at=WHEN
    )


def test_a_small_message_is_kept_whole_with_its_length_and_hash() -> None:
    d = _letter(b"{oops")
    assert d.raw() == b"{oops" and not d.truncated
    assert d.value_length == 5 and d.value_sha256 == hashlib.sha256(b"{oops").hexdigest()


def test_a_900_kb_message_keeps_a_prefix_and_identifies_the_whole() -> None:
    value = bytes(range(256)) * 3600  # 921,600 bytes
    d = _letter(value, key=b"k" * 10_000, reason="x" * 1_000_000)
    wire = d.model_dump_json().encode()
    assert len(wire) < 100 * 1024 < KAFKA_DEFAULT_MAX_BYTES
    assert d.truncated and d.raw() == value[:MAX_KEPT_VALUE_BYTES]
    assert d.value_length == len(value) and d.value_sha256 == hashlib.sha256(value).hexdigest()
    assert base64.b64decode(d.key_b64 or "") == b"k" * MAX_KEPT_KEY_BYTES
    assert d.reason.startswith("x" * MAX_REASON_CHARS) and d.reason.endswith("(998000 more characters)")


def test_exactly_the_bound_is_not_truncated() -> None:
    d = _letter(b"a" * MAX_KEPT_VALUE_BYTES, key=b"k" * MAX_KEPT_KEY_BYTES)
    assert not d.truncated and len(d.raw()) == MAX_KEPT_VALUE_BYTES


def test_a_reason_quoting_a_lone_surrogate_still_serialises() -> None:
    d = _letter(b"x", reason="case_id: bad \ud800")
    assert read_dead_letter(d.model_dump_json().encode()).reason == "case_id: bad \\ud800"


def test_the_sink_reads_old_and_newer_dead_letters() -> None:
    old = {
        "reason": "r",
        "source_topic": "t",
        "source_partition": 0,
        "source_offset": 1,
        "key_b64": None,
        "value_b64": base64.b64encode(b"x").decode(),
        "failed_at": "2026-03-02T09:00:00+08:00",
    }

    assert read_dead_letter(json.dumps(old)).value_length is None
    assert read_dead_letter(json.dumps({**old, "added_later": [1]})).raw() == b"x"
