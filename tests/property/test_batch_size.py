"""Batch size never changes what the worker finds: 1, 2 or any split give identical findings and state.

Also a fuzz of the processor: random and mutated messages (bad bytes, wrong keys, resends with other
content, late and far-future events, ticks) never escape it, and every message is accounted for:
messages in = events applied + duplicates + dead letters + ticks.
"""

from __future__ import annotations

import json
import random
import zlib
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.batch import Message
from streams.processor import CaseProcessor
from streams.rows import META_KEY, decode_row
from tests.support import at, synthetic_context, synthetic_lines

CTX = synthetic_context()
LINES = synthetic_lines(60, seed=5)
RECEIVED = at("2026-11-30T12:00")


def _messages(lines: list[bytes], rnd: random.Random) -> list[Message]:
    """Keyed as a department would, with some events swapped out of order (late) and some ticks."""
    lines = list(lines)
    for _ in range(len(lines) // 10):  # late events: judged after the watermark passed them
        i = rnd.randrange(len(lines) - 3)
        lines[i], lines[i + 3] = lines[i + 3], lines[i]
    out: list[Message] = []
    offsets = {0: 0, 1: 0}
    for line in lines:
        key = json.loads(line)["case_id"].encode()
        p = zlib.crc32(key) % 2
        out.append(Message("events", p, offsets[p], key, line, RECEIVED))
        offsets[p] += 1
        if rnd.random() < 0.05:
            now = json.loads(line)["occurred_at"]
            tick = json.dumps({"partition": p, "now": now}).encode()
            out.append(Message("ticks", p, offsets[p] + 100_000, None, tick, RECEIVED))
    return out


def _judge(clock: str, messages: list[Message], sizes: list[int]) -> tuple[dict[bytes, list[str]], dict[bytes, dict]]:
    proc = CaseProcessor(ctx=CTX, clock=clock, ticks_topic="ticks", receipt_skew=timedelta(minutes=5))  # type: ignore[arg-type]
    findings: dict[bytes, list[str]] = {}
    i = 0
    k = 0
    while i < len(messages):
        n = sizes[k % len(sizes)]
        k += 1
        for name, key, value in proc.handle(messages[i : i + n]).outputs:
            if name == "findings":
                findings.setdefault(key, []).append(json.loads(value)["finding_id"])
        i += n
    table = {
        k: decode_row(v).to_dict()
        for part in proc.store.partitions.values()
        for k, v in part.rows.items()
        if k != META_KEY
    }
    return findings, table


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=5),
    clock=st.sampled_from(["event", "wall"]),
)
def test_batch_size_does_not_change_the_findings(seed: int, sizes: list[int], clock: str) -> None:
    messages = _messages(LINES, random.Random(seed))
    one = _judge(clock, messages, [1])
    assert _judge(clock, messages, [2]) == one
    assert _judge(clock, messages, sizes) == one


def _mutate(line: bytes, rnd: random.Random) -> tuple[bytes, bytes | None]:
    doc = json.loads(line)
    key: bytes | None = doc["case_id"].encode()
    choice = rnd.randrange(10)
    if choice == 0:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40))), key
    if choice == 1:
        return b"[" * rnd.choice([10, 1000, 50_000]), key
    if choice == 2:
        return b'{"a": ' + b"1" * 5000 + b"}", key
    if choice == 3:
        doc["payload"] = {"fee_code": rnd.choice([1, None, [], "X" * 300]), "amount_fen": "many"}
        doc["kind"] = "fee_charged"
    elif choice == 4:
        doc["occurred_at"] = rnd.choice(["2004-01-01T00:00:00+14:00", "2026-03-02T09:00", "2039-12-31T23:00:00+08:00"])
    elif choice == 5:
        doc["payload"] = {"amount_fen": rnd.randrange(1, 10**6), "fee_code": "F"}
        doc["kind"] = "fee_charged"  # a resend of an applied id with other content, or a new fee
    elif choice == 6:
        key = b"someone-else"
    elif choice == 7:
        doc["case_id"] = doc["case_id"] + "\x00"
    elif choice == 8:
        return line[: rnd.randrange(len(line))], key
    else:
        doc["extra"] = {"nested": [[[[1]]]]}
    return json.dumps(doc, ensure_ascii=False).encode(), key


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 1_000_000), size=st.integers(1, 50))
def test_hostile_messages_never_escape_and_every_message_is_accounted_for(seed: int, size: int) -> None:
    rnd = random.Random(seed)
    messages: list[Message] = []
    for offset, line in enumerate(LINES[:120]):
        value, key = (line, json.loads(line)["case_id"].encode()) if rnd.random() < 0.6 else _mutate(line, rnd)
        messages.append(Message("events", 0, offset, key, value, RECEIVED))
        if rnd.random() < 0.1:
            messages.append(
                Message(
                    "ticks",
                    0,
                    10_000 + offset,
                    None,
                    rnd.choice(
                        [b"{}", b"nonsense", json.dumps({"partition": 0, "now": "2026-06-01T00:00:00+08:00"}).encode()]
                    ),
                    RECEIVED,
                )
            )
    proc = CaseProcessor(
        ctx=CTX,
        clock=rnd.choice(["event", "wall"]),
        ticks_topic="ticks",  # type: ignore[arg-type]
        receipt_skew=timedelta(minutes=5),
    )
    letters = 0
    for i in range(0, len(messages), size):
        result = proc.handle(messages[i : i + size])
        letters += sum(name == "dead_letters" for name, _, _ in result.outputs)
    c = proc.counters
    assert c["dead_letters"] == letters
    # events counts applied events and duplicates; valid ticks count as ticks
    assert len(messages) == c["events"] + c["dead_letters"] + c["ticks"]
    valid = [m for m in messages if m.value in LINES and m.key == json.loads(m.value)["case_id"].encode()]
    assert c["events"] >= len(valid)  # nothing valid was dead-lettered
