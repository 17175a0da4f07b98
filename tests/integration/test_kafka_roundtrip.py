"""Case events through a real broker: produced with kafka-python, consumed with aiokafka (Faust's client)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from schemas.events import event_to_json, parse_event
from tests.support import admin_aioauth, admin_auth

pytestmark = pytest.mark.integration


def _event(case: str, n: int) -> bytes:
    event = parse_event(
        {
            "event_id": f"{case}-e{n}",
            "case_id": case,
            "item_code": "SC-FOOD-001",
            "department_id": "DZ-SCJG",
            "region_code": "511702",
            "staff_id": "s-wang",
            "kind": "review" if n else "apply",
            "occurred_at": f"2026-03-02T09:{10 + n:02d}:00+08:00",
            "recorded_at": f"2026-03-02T09:{11 + n:02d}:00+08:00",
        }
    )
    return event_to_json(event).encode()


def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes, int, int]]:
    """Send (key, value) pairs and return (key, value, partition, offset) as the broker acknowledged them."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **admin_auth())
    try:
        futures = [(k, v, producer.send(topic, key=k, value=v)) for k, v in messages]
        producer.flush(timeout=30)
        acked = []
        for k, v, f in futures:
            meta = f.get(timeout=30)
            acked.append((k, v, meta.partition, meta.offset))
        return acked
    finally:
        producer.close(timeout=10)


async def _consume(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[Any]:  # noqa: ASYNC109
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        **admin_aioauth(),
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=1000)
                for part in batch.values():
                    records.extend(part)
        # Nothing more than what was produced arrives.
        extra = await consumer.getmany(timeout_ms=500)
        records.extend(r for part in extra.values() for r in part)
    finally:
        await consumer.stop()
    return records


def test_events_keyed_by_case_round_trip_exactly(kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    topic = new_topic(partitions=6, prefix="case-events")
    cases = [f"DZ2026-{i:04d}" for i in range(12)]
    sent = [(case.encode(), _event(case, n)) for n in range(3) for case in cases]

    acked = _produce(kafka_bootstrap, topic, sent)
    received = asyncio.run(_consume(kafka_bootstrap, topic, len(sent)))

    got = sorted((r.key, r.value, r.partition, r.offset) for r in received)
    assert got == sorted(acked)
    # Keyed by case id: every event of a case lands in one partition, in the order it was produced.
    by_case: dict[bytes, set[int]] = {}
    for key, _value, partition, _offset in acked:
        by_case.setdefault(key, set()).add(partition)
    assert all(len(parts) == 1 for parts in by_case.values())
    assert len({p for parts in by_case.values() for p in parts}) > 1, "12 cases should spread over partitions"
    for case in cases:
        ordered = [
            json.loads(r.value)["event_id"] for r in sorted(received, key=lambda r: r.offset) if r.key == case.encode()
        ]
        assert ordered == [f"{case}-e{n}" for n in range(3)]
    # The value is the canonical wire form and still meets the contract.
    assert all(parse_event(r.value).case_id.encode() == r.key for r in received)


def test_kafka_python_partitioner_matches_the_java_default(kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    """kafka-python's murmur2 partitioner is the Java client's: a department system in Java and our
    Python tools put a case in the same partition."""
    from kafka.partitioner.default import murmur2

    topic = new_topic(partitions=6, prefix="partitioner")
    sent = [(f"case-{i}".encode(), b"{}") for i in range(20)]
    for key, _value, partition, _offset in _produce(kafka_bootstrap, topic, sent):
        assert partition == (murmur2(key) & 0x7FFFFFFF) % 6
