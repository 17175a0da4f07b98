"""A live copy of the directory: the compacted topic read to its end, then followed in a background thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from directory.index import DirectoryIndex
from directory.topic import index_of_parsed, read_record
from schemas.wire import WireError

log = logging.getLogger("esup.directory")


class DirectoryFeed:
    """The directory its compacted topic holds, followed in a background thread; ``ready`` once read to its end."""

    def __init__(self, bootstrap: str, topic: str, *, auth: dict[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self.auth = auth or {}  # the reading process's login (esup.kafka_auth)
        self.topic = topic
        self.ready = threading.Event()  # set once everything published before the start has been read
        self.changes = 0  # bumped on every applied record: followers compare it to see a new directory
        self._parsed: dict[bytes, Any] = {}  # the parsed form of each entry's latest good record
        self._index = DirectoryIndex()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def index(self) -> DirectoryIndex:
        """The index of every entry applied so far; a new object after each change, so a caller may keep it."""
        with self._lock:
            return self._index

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one topic record: an entry set, or removed by a tombstone; a record without a key is ignored."""
        self.apply_many([(key, value)])

    def apply_many(self, batch: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        """Apply records in order, then make the index once. Each record is parsed once, when it arrives: the
        index used to be rebuilt, re-parsing every entry, after each record — 38 s to load a province's 1,800
        entries, past the notifier's 30 s wait, so it notified by ids only."""
        changed = 0
        for key, value in batch:
            if key is None:
                continue
            if value is None:  # tombstone: the entry was removed from the directory
                self._parsed.pop(key, None)
                changed += 1
                continue
            try:
                parsed = read_record(key, value)
            except WireError as exc:  # the last good version of the entry stands
                log.warning("directory %s: record %r refused: %s", self.topic, key[:80], exc.reason)
                continue
            self._parsed[key] = parsed
            changed += 1
        if not changed:
            return
        index = index_of_parsed(self._parsed)
        with self._lock:
            self._index = index
            self.changes += changed

    def start(self) -> DirectoryFeed:
        """Start following the topic in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self._run, name="directory-feed", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following and wait up to 5 s for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except Exception:
                log.exception("directory feed from %s failed; retrying in 2 s", self.topic)
                self._stop.wait(2.0)

    def _follow(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        consumer: Any = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            **self.auth,
            allow_auto_create_topics=False,
            client_id="esup-directory-feed",
        )
        try:
            parts = consumer.partitions_for_topic(self.topic)
            while not parts and not self._stop.is_set():
                log.warning("directory topic %s not found yet; waiting for `esup topics create`", self.topic)
                self._stop.wait(2.0)
                parts = consumer.partitions_for_topic(self.topic)
            if not parts:
                return
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            end = consumer.end_offsets(tps)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    self.apply_many((r.key, r.value) for r in records)
                if not self.ready.is_set() and all(consumer.position(tp) >= end[tp] for tp in tps):
                    self.ready.set()
                    log.info("directory loaded: %d entries from %s", len(self.index()), self.topic)
        finally:
            consumer.close(autocommit=False)

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the topic to be read to its end; True once it has been."""
        deadline = time.monotonic() + timeout_s
        return self.ready.wait(max(0.0, deadline - time.monotonic()))
