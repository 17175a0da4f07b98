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

from streams.topic_feed import read_then_follow, retrying

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
        self._loaded = False  # read to the end once

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

    def _record(self, r: Any) -> None:
        self.apply(r.key, r.value)
        if self._loaded:  # after the first read to the end: each change as it comes
            if not self.ready.is_set():
                self._maybe_ready()
            what = "removed" if r.value is None else "updated"
            log.info("catalog item %s %s", (r.key or b"").decode(errors="replace"), what)

    def _at_end(self) -> None:
        self._loaded = True
        if not self.ready.is_set():
            self._maybe_ready()

    async def run(self) -> None:
        """Load, then follow the topic forever; reconnects with a pause if Kafka goes away."""
        missing = f"catalog topic {self.topic} not found yet; waiting for `esup topics create`"
        await retrying(
            lambda: read_then_follow(
                self.bootstrap, self.topic, self.auth, self._record, self._at_end, missing=missing
            ),
            f"catalog feed from {self.topic}",
        )
