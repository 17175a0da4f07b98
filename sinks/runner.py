"""The sink's consume loop: Kafka records → rows → batched inserts, offsets committed only after they land.

At-least-once into idempotent tables: a batch is written (retried with capped exponential backoff for as
long as ClickHouse is down, never dropped) and only then are its offsets committed. A crash between the
two re-reads the batch, which the ReplacingMergeTree keys collapse.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from esup.audit_writers import audit_topics
from esup.settings import Settings
from sinks.rows import REJECTS, Kind, Record, convert, reject_row
from sinks.writer import Sink, WriteFailed, sizes

log = logging.getLogger("esup.sink")

# Longest single wait inside the loop, so a stop request is seen within about this long.
_TICK_S = 0.5


@dataclass
class Backoff:
    """Capped exponential delays: initial, 2×, 4×… up to ``maximum``; ``reset()`` after a success."""

    initial: float = 0.5
    maximum: float = 10.0
    factor: float = 2.0
    _next: float = field(default=0.0, init=False)

    def next(self) -> float:
        """The next delay to wait, in seconds (then the one after grows by ``factor``, up to ``maximum``)."""
        delay = self._next or self.initial
        self._next = min(delay * self.factor, self.maximum)
        return min(delay, self.maximum)

    def reset(self) -> None:
        """Start again from ``initial`` (after a write that succeeded)."""
        self._next = 0.0


@dataclass
class SinkStats:
    """What the runner did: records read and rejected per topic, rows written per table, batches, commits, retries."""

    records: dict[str, int] = field(default_factory=dict)  # consumed, per topic
    invalid: dict[str, int] = field(default_factory=dict)  # not convertible (written to sink_rejects), per topic
    rows: dict[str, int] = field(default_factory=dict)  # written, per table
    batches: int = 0
    commits: int = 0
    retries: int = 0
    unwritten: int = 0  # rows still not written when the runner stopped (their offsets are not committed)


def sink_topics(settings: Settings) -> dict[str, Kind]:
    """The topics the sink reads and what each carries: every audit writer's topic, and the shared one."""
    topics: dict[str, Kind] = {
        settings.topic_case_events: "events",
        settings.topic_findings: "findings",
        settings.topic_case_snapshots: "snapshots",
        settings.topic_dead_letters: "dead_letters",
    }
    topics.update(dict.fromkeys(audit_topics(settings), "audit"))
    return topics


def sink_writers(settings: Settings) -> dict[str, str]:
    """Audit topic → the principal that alone writes it (`legacy` for the shared topic): the writer stored."""
    return audit_topics(settings)


def create_consumer(settings: Settings, topics: Mapping[str, Kind]) -> Any:
    """A kafka-python consumer in the sink's group, subscribed to ``topics``, committing by hand."""
    from kafka import KafkaConsumer

    from esup.kafka_auth import SINK, kafka_python_auth

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.sink_group,
        client_id="esup-sink",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=min(settings.sink_max_rows, 5000),
        # The workers write in transactions: a batch a fenced or crashed worker did not commit was never there.
        isolation_level="read_committed",
        **kafka_python_auth(settings, SINK),
    )
    consumer.subscribe(topics=sorted(topics))
    return consumer


class SinkRunner:
    """Drives one consumer and one sink; ``run(stop)`` returns when ``stop`` is set (after a last flush)."""

    def __init__(
        self,
        consumer: Any,
        sink: Sink,
        topics: Mapping[str, Kind],
        *,
        writers: Mapping[str, str] | None = None,
        max_rows: int = 5000,
        max_wait_s: float = 0.25,
        backoff: Backoff | None = None,
        shutdown_grace_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer = consumer
        self.sink = sink
        self.topics = dict(topics)
        # An audit topic's writer (sink_writers); a record on an audit topic missing here is rejected.
        self.writers = dict(writers or {})
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.backoff = backoff or Backoff()
        self.shutdown_grace_s = shutdown_grace_s
        self.clock = clock
        self.stats = SinkStats()
        self._offsets: dict[Any, int] = {}  # TopicPartition → next offset to commit, for what is buffered
        self._positions: dict[Any, int] = {}  # TopicPartition → last position committed while idle
        self._batch_started: float | None = None

    # ---- the loop -----------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> SinkStats:
        """Poll, convert and write until ``stop`` is set, then flush and commit what is left (within the grace)."""
        log.info("sink: reading %s", ", ".join(sorted(self.topics)))
        while not stop.is_set():
            self.poll_once(stop)
        self.flush_and_commit(stop, deadline=self.clock() + self.shutdown_grace_s)
        log.info("sink stopped: %s", self.describe())
        return self.stats

    def poll_once(self, stop: threading.Event) -> None:
        """One poll; then a flush if the batch is full or old enough."""
        wait = _TICK_S
        if self._batch_started is not None:
            wait = max(0.0, min(wait, self._batch_started + self.max_wait_s - self.clock()))
        room = max(1, self.max_rows - self.sink.pending)
        polled = self.consumer.poll(timeout_ms=int(wait * 1000), max_records=room)
        self._take(polled)
        if self._due():
            self.flush_and_commit(stop)
        elif not polled and self._batch_started is None:
            self._commit_positions()

    def _commit_positions(self) -> None:
        """Idle and nothing buffered: commit where the consumer stands. The workers write in transactions,
        so a partition ends with a commit marker after its last record; without this the group would
        show a lag of one message per partition for ever."""
        moved = {}
        for tp in self.consumer.assignment():
            with contextlib.suppress(Exception):
                pos = self.consumer.position(tp)
                if pos is not None and pos > self._positions.get(tp, -1):
                    moved[tp] = pos
        if moved:
            self._commit(moved)
            self._positions.update(moved)

    def _due(self) -> bool:
        if self._batch_started is None:
            return False
        return self.sink.pending >= self.max_rows or self.clock() - self._batch_started >= self.max_wait_s

    def _take(self, polled: Mapping[Any, list[Any]]) -> None:
        for tp, messages in polled.items():
            kind = self.topics.get(tp.topic, cast(Kind, "unknown"))  # unknown: every record is rejected
            for m in messages:
                record = Record(m.topic, m.partition, m.offset, m.timestamp, m.key, m.value)
                converted = convert(kind, record, writer=self.writers.get(tp.topic))
                count(self.stats.records, m.topic)
                if converted.row is not None:
                    self.sink.add(converted.table, [converted.row])
                    for table, row in converted.also:
                        self.sink.add(table, [row])
                else:
                    # Never skipped: the record goes to sink_rejects in this batch, so its offset is
                    # committed only once that row has landed.
                    reason = converted.invalid or "no row and no reason"
                    count(self.stats.invalid, m.topic)
                    self.sink.add(REJECTS, [reject_row(kind, record, reason)])
                    log.warning("rejected %s/%d@%d into %s: %s", m.topic, m.partition, m.offset, REJECTS, reason[:300])
                self._offsets[tp] = m.offset + 1
            if messages and self._batch_started is None:
                self._batch_started = self.clock()

    # ---- write, then commit -------------------------------------------------------------------------

    def flush_and_commit(self, stop: threading.Event, deadline: float | None = None) -> bool:
        """Write the buffered rows (retrying while ClickHouse is down), then commit their offsets.

        Once ``stop`` is set, retries go on for the shutdown grace (or until ``deadline``), then stop
        without committing: the rows are re-read from the last committed offsets on the next start.
        """
        offsets, self._offsets = self._offsets, {}
        self._batch_started = None
        if not offsets:
            return True
        try:
            written = self.sink.flush()
        except WriteFailed as failed:
            if not self._retry(failed, stop, deadline):
                self.stats.unwritten += sum(sizes(failed.batch).values())
                return False
            written = sizes(failed.batch)
        for table, n in written.items():
            count(self.stats.rows, table, n)
        self.stats.batches += 1
        log.debug("batch written: %s", written)
        self._commit(offsets)
        return True

    def _retry(self, failed: WriteFailed, stop: threading.Event, deadline: float | None) -> bool:
        rows = sum(sizes(failed.batch).values())
        self.backoff.reset()
        down_since = self.clock()
        error: BaseException = failed.cause
        attempts = 0
        while True:
            if deadline is None and stop.is_set():
                # Asked to stop while ClickHouse is down: give it the shutdown grace before giving up.
                deadline = self.clock() + self.shutdown_grace_s
            delay = self.backoff.next()
            log.warning(
                "ClickHouse insert of %d rows failed (%s: %s); retrying in %.1f s; offsets not committed",
                rows,
                type(error).__name__,
                error,
                delay,
            )
            if not self._wait(delay, stop, deadline):
                log.error(
                    "sink stopping with %d rows not written to ClickHouse; their offsets are not committed "
                    "and they will be read again on restart",
                    rows,
                )
                return False
            self.stats.retries += 1
            attempts += 1
            try:
                self.sink.write(failed.batch)
            except Exception as exc:
                error = exc
                continue
            log.warning(
                "ClickHouse is back: %d rows written after %d retries over %.1f s",
                rows,
                attempts,
                self.clock() - down_since,
            )
            return True

    def _wait(self, seconds: float, stop: threading.Event, deadline: float | None) -> bool:
        """Sleep while keeping the group membership alive; False once ``deadline`` has passed.

        Returns early when a stop is requested, so the caller can set the shutdown deadline.
        """
        until = self.clock() + seconds
        while True:
            if deadline is not None and self.clock() >= deadline:
                return False
            left = until - self.clock()
            if left <= 0 or (deadline is None and stop.is_set()):
                return True
            # Poll with every partition paused: no records, but the consumer keeps its place in the group
            # (one that stops polling for max.poll.interval.ms is evicted). Partitions a rebalance assigns
            # during the poll are not paused yet; what they return is buffered for the next batch.
            self._set_paused(self.consumer.assignment(), True)
            try:
                self._take(self.consumer.poll(timeout_ms=int(min(left, _TICK_S) * 1000)))
            finally:
                self._set_paused(self.consumer.paused(), False)

    def _set_paused(self, partitions: Iterable[Any], paused: bool) -> None:
        for tp in list(partitions):
            # A rebalance may have taken the partition away in between; nothing to pause then.
            with contextlib.suppress(KeyError):
                (self.consumer.pause if paused else self.consumer.resume)(tp)

    def _commit(self, offsets: dict[Any, int]) -> None:
        from kafka.structs import OffsetAndMetadata

        # A partition taken away by a rebalance is the new owner's to commit; our copy of its rows is
        # written and harmless (the new owner writes the same keys again).
        owned = set(self.consumer.assignment())
        mine = {tp: OffsetAndMetadata(n, "", -1) for tp, n in offsets.items() if tp in owned}
        if not mine:
            return
        try:
            self.consumer.commit(offsets=mine)
        except Exception as exc:
            # The rows are in ClickHouse; keep the offsets so the next batch commits them.
            log.warning("offset commit failed (%s: %s); retrying with the next batch", type(exc).__name__, exc)
            for tp, n in mine.items():
                self._offsets.setdefault(tp, n.offset)
            if self._batch_started is None:
                self._batch_started = self.clock()
            return
        self.stats.commits += 1

    def describe(self) -> str:
        """The stats in one log line."""
        s = self.stats
        return (
            f"{sum(s.records.values())} records, {sum(s.invalid.values())} rejected into {REJECTS} "
            f"{dict(sorted(s.invalid.items()))}, {s.batches} batches, {s.commits} commits, "
            f"{s.retries} retries, rows written {dict(sorted(s.rows.items()))}, {s.unwritten} rows unwritten"
        )


def count(counter: dict[str, int], key: str, n: int = 1) -> None:
    """Add ``n`` to ``counter[key]`` (starting from 0)."""
    counter[key] = counter.get(key, 0) + n
