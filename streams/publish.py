"""Publishing a batch's outputs with few producer calls.

aiokafka's per-message `send` (a future, an accumulator lookup and a task per record) cost more than
the rules themselves once the worker processed batches. Here the records are grouped by topic and
partition (the same murmur2 partitioner the producer uses for keyed records), appended to record
batches, and each batch is handed to the producer whole; the caller awaits every batch's delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

Record = tuple[str, int | None, bytes, bytes]  # topic, partition (None: by key), key, value
Span = tuple[int, int]  # a record batch as written: its first offset, its number of records


class BatchPublisher:
    """Sends records through one aiokafka producer in record batches grouped by topic and partition."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer  # an AIOKafkaProducer (faust's `app.producer._ensure_producer()`)
        self._known: set[str] = set()

    async def publish(self, records: Iterable[Record]) -> dict[tuple[str, int], list[Span]]:
        """Send every record and wait until Kafka acknowledged all of them (raises otherwise); returns where
        they landed: per (topic, partition), each record batch's (first offset, number of records)."""
        producer = self.producer
        groups: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
        for topic, partition, key, value in records:
            if topic not in self._known:
                await producer.partitions_for(topic)  # metadata, once per topic
                self._known.add(topic)
            if partition is None:
                # aiokafka's own partitioner (murmur2 of the key, as Java's): one transaction per partition
                partition = producer._partition(topic, None, key, value, key, value)  # noqa: SLF001
            groups.setdefault((topic, partition), []).append((key, value))
        pending = []
        sent: list[tuple[tuple[str, int], int]] = []  # (topic, partition), records: one per batch in `pending`
        for (topic, partition), items in groups.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(timestamp=None, key=key, value=value) is None:  # full: send it, start another
                    sent.append(((topic, partition), batch.record_count()))
                    pending.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(timestamp=None, key=key, value=value)  # an empty batch takes any record
            if batch.record_count():
                sent.append(((topic, partition), batch.record_count()))
                pending.append(await producer.send_batch(batch, topic, partition=partition))
        spans: dict[tuple[str, int], list[Span]] = {}
        if pending:
            for (tp, count), meta in zip(sent, await asyncio.gather(*pending), strict=True):
                spans.setdefault(tp, []).append((meta.offset, count))  # a batch's metadata: its base offset
        return spans
