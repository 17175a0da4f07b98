"""Every worker's full copy of the catalog: the compacted catalog topic read to its end, then followed live.

This is the global table of the design, read directly with aiokafka rather than through faust's
GlobalTable: faust recovers a global table's partitions as *standbys* on all but one worker, and
standbys may still be loading when the agent starts — a second worker then judged early events
against an empty catalog (observed: hundreds of false DQ_UNKNOWN_ITEM findings). Here the agent waits
for ``ready``, which is set only once everything published before the worker started has been read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("esup.catalog")


class CatalogFeed:
    """The catalog topic as ``items`` (code → JSON), read to its end, then followed; ``ready`` once one is usable."""

    def __init__(self, bootstrap: str, topic: str, *, auth: dict[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self.auth = auth or {}  # the worker's login (esup.kafka_auth.aiokafka_auth)
        self.topic = topic
        self.items: dict[bytes, bytes] = {}  # item code → item JSON, as published
        self.ready = asyncio.Event()
        self.updates = 0
        self.state = "loading"  # loading | waiting: no usable item | ready
        # Called with every record applied (the live catalog keeps each item's last good version from it).
        self.observe: Callable[[bytes, bytes], object] | None = None

    def usable(self) -> bool:
        """At least one item parses: an empty or unreadable catalog would make every item unknown."""
        from schemas.catalog import CatalogError, parse_catalog_item

        for raw in self.items.values():
            try:
                parse_catalog_item(raw)
                return True
            except CatalogError:
                continue
        return False

    def _maybe_ready(self) -> None:
        if self.usable():
            self.state = "ready"
            self.ready.set()
            log.info("catalog loaded: %d items from %s", len(self.items), self.topic)
        else:
            self.state = "waiting: the catalog has no usable item (`esup catalog publish`)"
            log.warning("catalog %s %s; not judging events until it has", self.topic, self.state)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record: an item set (and passed to ``observe``), or removed by a tombstone; no key: ignored."""
        if key is None:
            return
        if value is None:
            self.items.pop(key, None)  # tombstone: the item was removed from the catalog
        else:
            self.items[key] = value
            if self.observe is not None:
                self.observe(key, value)
        self.updates += 1

    async def _partitions(self, consumer: Any) -> set[int] | None:
        """The catalog topic's partitions, asked of the broker now. aiokafka's public calls answer from the
        consumer's cached metadata (topics() fetches but does not keep it), so this uses its client."""
        metadata = await consumer._client.fetch_all_metadata()  # noqa: SLF001
        parts: set[int] | None = metadata.partitions_for_topic(self.topic)
        return parts

    async def run(self) -> None:
        """Load, then follow the topic forever; reconnects with a pause if Kafka goes away."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("catalog feed from %s failed; retrying in 2 s", self.topic)
                await asyncio.sleep(2.0)

    async def _follow(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer: Any = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            **self.auth,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            parts = await self._partitions(consumer)
            while not parts:
                log.warning("catalog topic %s not found yet; waiting for `esup topics create`", self.topic)
                await asyncio.sleep(2.0)
                parts = await self._partitions(consumer)
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while not self.ready.is_set():
                positions = [await consumer.position(tp) for tp in tps]
                if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                    self._maybe_ready()
                    break
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        self.apply(r.key, r.value)
            async for r in consumer:
                self.apply(r.key, r.value)
                if not self.ready.is_set():
                    self._maybe_ready()
                log.info(
                    "catalog item %s %s",
                    (r.key or b"").decode(errors="replace"),
                    "removed" if r.value is None else "updated",
                )
        finally:
            await consumer.stop()
