"""Every worker's copy of the adopted configurations: the compacted configuration topic read to its end, then followed.

Like the catalog feed (streams/catalog_feed.py): read directly with aiokafka, and ``ready`` only once
everything adopted before the worker started has been read, so that no step is judged, and no partition's
timers are indexed, before the worker knows the whole schedule. An empty topic is ready at once (the start
files are in effect at every moment). Every record is checked (streams/rules/schedule.py): a bad one is
refused with a log naming the field, the schedule stays as it was, and the worker goes on.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.configs import Contexts
from streams.rules.schedule import AdoptionError, parse_adoption
from streams.topic_feed import read_then_follow, retrying

log = logging.getLogger("esup.config")


class ConfigFeed:
    """The configuration topic applied to ``contexts``; ``ready`` once read to the end."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        contexts: Contexts,
        *,
        auth: dict[str, Any] | None = None,
        published_offset: timedelta | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        # Set (a live, wall-clock worker; the worker's clock offset): a record whose moment is before the
        # broker received it is refused — an adoption never revises what already happened. None: no check.
        self.published_offset = published_offset
        self.topic = topic
        self.contexts = contexts
        self.auth = auth or {}  # the worker's login (esup.kafka_auth.aiokafka_auth)
        self.ready = asyncio.Event()
        self.adopted = 0
        self.rejected: dict[str, str] = {}  # record key → why it was refused

    def apply(self, key: bytes | None, value: bytes | None, timestamp_ms: int | None = None) -> bool:
        """Check one record and add it to the schedule; a bad one is refused (logged, listed) and changes nothing.
        ``timestamp_ms``: the record's broker timestamp (the topic stamps receipt), for the live worker's check."""
        name = (key or b"").decode("utf-8", "replace")[:80]
        try:
            a = parse_adoption(key, value)
            if self.published_offset is not None:
                if not timestamp_ms or timestamp_ms <= 0:
                    raise AdoptionError("timestamp", "the record has no broker timestamp")
                try:
                    published = datetime.fromtimestamp(timestamp_ms / 1000, UTC) + self.published_offset
                except (OverflowError, ValueError, OSError):
                    raise AdoptionError("timestamp", f"{timestamp_ms} is not a time") from None
                if a.effective_from < published:
                    raise AdoptionError(
                        "effective_from",
                        f"{a.effective_from.isoformat()} is before the record was published "
                        f"({published.isoformat()}): an adoption takes effect ahead, never in the past",
                    )
        except AdoptionError as exc:
            self.rejected[name] = exc.reason[:300]
            log.error("configuration record %r refused: %s; the schedule stays as it was", name, exc.reason[:300])
            return False
        self.contexts.adopt(a)
        self.adopted += 1
        self.rejected.pop(name, None)
        log.info(
            "configuration adopted: %s %s (%s) from %s (audit record %s)",
            a.kind,
            a.version[:19],
            a.label or "no label",
            a.effective_from.isoformat(),
            a.audit_id,
        )
        return True

    def status(self) -> dict[str, Any]:
        """For the status page."""
        return {"ready": self.ready.is_set(), "adopted": self.adopted, "rejected": dict(sorted(self.rejected.items()))}

    def _loaded(self) -> None:
        if not self.ready.is_set():
            self.ready.set()
            log.info("configuration schedule loaded: %d adoptions from %s", self.adopted, self.topic)

    async def run(self) -> None:
        """Load, then follow the topic forever; reconnects with a pause if Kafka goes away. A reconnect reads
        from the beginning again: applying a record twice gives the same schedule."""
        missing = (
            f"configuration topic {self.topic} not found, or not readable by the worker; judging nothing until it "
            "is (`esup topics create`, then `esup access bootstrap`)"
        )
        await retrying(
            lambda: read_then_follow(
                self.bootstrap,
                self.topic,
                self.auth,
                lambda r: self.apply(r.key, r.value, r.timestamp),
                self._loaded,
                missing=missing,
                max_partition_fetch_bytes=16 << 20,  # one record may hold a whole configuration file
            ),
            f"configuration feed from {self.topic}",
        )
