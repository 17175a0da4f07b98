"""Reading a small configuration topic whole, then following it: what the catalog and configuration feeds share.

Read directly with aiokafka (no group, no commits): every partition from its beginning to the end it had when
the reader started, then ``loaded`` is called, then every later record as it arrives. A reconnect reads from the
beginning again, so applying a record twice must give the same result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("esup.worker")


async def read_then_follow(
    bootstrap: str,
    topic: str,
    auth: dict[str, Any],
    on_record: Callable[[Any], object],
    loaded: Callable[[], None],
    *,
    missing: str,
    max_partition_fetch_bytes: int = 1 << 20,
) -> None:
    """Until cancelled or Kafka fails: ``on_record`` for each record (aiokafka ConsumerRecord), ``loaded`` once
    the end is reached; ``missing`` is logged every 2 s while the topic does not exist (or is not readable)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer: Any = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=max_partition_fetch_bytes,
        **auth,
    )
    await consumer.start()
    try:
        # aiokafka's public calls answer from the consumer's cached metadata (topics() fetches but does not keep
        # it), so the partitions are asked of the broker through its client.
        parts = (await consumer._client.fetch_all_metadata()).partitions_for_topic(topic)  # noqa: SLF001
        while not parts:
            log.warning(missing)
            await asyncio.sleep(2.0)
            parts = (await consumer._client.fetch_all_metadata()).partitions_for_topic(topic)  # noqa: SLF001
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while True:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                loaded()
                break
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    on_record(r)
        async for r in consumer:
            on_record(r)
    finally:
        await consumer.stop()


async def retrying(follow: Callable[[], Any], what: str) -> None:
    """Run ``follow`` forever, again 2 s after a failure (Kafka gone, a broker restarted)."""
    while True:
        try:
            await follow()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; retrying in 2 s", what)
            await asyncio.sleep(2.0)
