"""The sink loop with a scripted consumer and the in-memory sink: batching, commits after writes, outages."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from kafka.structs import TopicPartition

from schemas.events import event_to_json
from sinks.runner import Backoff, SinkRunner
from sinks.writer import MemorySink
from tests.support import event

TOPIC = "events"


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeConsumer:
    """Serves records of one topic's partitions in offset order; an empty poll advances the fake clock."""

    clock: FakeClock
    records: dict[TopicPartition, list[Any]] = field(default_factory=dict)
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    paused_tps: set[TopicPartition] = field(default_factory=set)
    commits: list[tuple[dict[TopicPartition, int], int]] = field(default_factory=list)
    sink: MemorySink | None = None  # to note how many writes had landed at each commit

    def add(self, partition: int, key: bytes, value: bytes) -> None:
        tp = TopicPartition(TOPIC, partition)
        log = self.records.setdefault(tp, [])
        log.append(
            SimpleNamespace(
                topic=TOPIC, partition=partition, offset=len(log), timestamp=1000 + len(log), key=key, value=value
            )
        )
        self.positions.setdefault(tp, 0)

    def assignment(self) -> set[TopicPartition]:
        return set(self.records)

    def pause(self, tp: TopicPartition) -> None:
        self.paused_tps.add(tp)

    def resume(self, tp: TopicPartition) -> None:
        self.paused_tps.discard(tp)

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_tps)

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[Any]]:
        room = max_records or 500
        out: dict[TopicPartition, list[Any]] = {}
        for tp in sorted(self.records):
            if tp in self.paused_tps or room <= 0:
                continue
            pos = self.positions[tp]
            got = self.records[tp][pos : pos + room]
            if got:
                out[tp] = got
                self.positions[tp] = pos + len(got)
                room -= len(got)
        if not out:
            self.clock.now += timeout_ms / 1000
        return out

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.commits.append(({tp: o.offset for tp, o in offsets.items()}, self.sink.writes if self.sink else 0))

    def committed(self) -> dict[TopicPartition, int]:
        merged: dict[TopicPartition, int] = {}
        for offsets, _ in self.commits:
            merged.update(offsets)
        return merged


def _setup(n: int, *, max_rows: int = 5000, bad: int = 0) -> tuple[SinkRunner, FakeConsumer, MemorySink, FakeClock]:
    clock = FakeClock()
    sink = MemorySink()
    consumer = FakeConsumer(clock, sink=sink)
    for i in range(n):
        case = f"C{i % 3}"
        e = event("apply", "2026-03-02T09:00", case=case, event_id=f"E{i}")
        consumer.add(i % 3, case.encode(), event_to_json(e).encode())
    for j in range(bad):
        consumer.add(0, b"C0", b"not json %d" % j)
    runner = SinkRunner(
        consumer, sink, {TOPIC: "events"}, max_rows=max_rows, max_wait_s=1.0, backoff=Backoff(0.5, 10.0), clock=clock
    )
    return runner, consumer, sink, clock


def _drain(runner: SinkRunner, polls: int = 20) -> None:
    stop = threading.Event()
    for _ in range(polls):
        runner.poll_once(stop)


def test_rows_are_committed_only_after_they_were_written_and_invalid_ones_are_counted() -> None:
    runner, consumer, sink, _ = _setup(9, bad=2)
    _drain(runner)
    assert sorted(r["event_id"] for r in sink.tables["case_events"]) == [f"E{i}" for i in range(9)]
    assert runner.stats.invalid == {TOPIC: 2} and runner.stats.records == {TOPIC: 11}
    # Invalid messages are skipped, not retried forever: their offsets are committed too.
    assert consumer.committed() == {
        TopicPartition(TOPIC, 0): 5,
        TopicPartition(TOPIC, 1): 3,
        TopicPartition(TOPIC, 2): 3,
    }
    assert all(writes >= 1 for _, writes in consumer.commits)


def test_a_full_batch_is_written_at_once_and_a_partial_one_after_max_wait() -> None:
    runner, _, sink, clock = _setup(7, max_rows=3)
    stop = threading.Event()
    runner.poll_once(stop)
    assert sink.writes == 1 and len(sink.tables["case_events"]) == 3 and clock.now == 0.0
    runner.poll_once(stop)
    runner.poll_once(stop)
    assert sink.writes == 2 and runner.sink.pending == 1  # the seventh row waits for time or company
    runner.poll_once(stop)
    runner.poll_once(stop)
    assert sink.writes == 3 and clock.now >= 1.0
    assert sum(len(r) for r in sink.tables.values()) == 7 and runner.stats.batches == 3


def test_clickhouse_down_means_retry_with_backoff_and_no_commit_until_the_rows_land() -> None:
    runner, consumer, sink, clock = _setup(6)
    sink.fail_next = 4
    stop = threading.Event()
    for _ in range(3):  # takes all six; once max_wait has passed the flush fails four times, then lands
        runner.poll_once(stop)
    assert runner.stats.retries == 4
    assert clock.now >= 1.0 + 0.5 + 1 + 2 + 4  # capped exponential waits, in fake time
    assert len(sink.tables["case_events"]) == 6 and sink.writes == 1
    assert len(consumer.commits) == 1 and consumer.commits[0][1] == 1  # the commit came after the write
    assert not consumer.paused_tps  # partitions resumed after the outage


def test_stopping_during_an_outage_commits_nothing_and_reports_the_unwritten_rows() -> None:
    runner, consumer, sink, _ = _setup(4)
    sink.fail_next = 10**6
    stop = threading.Event()
    runner.poll_once(stop)
    stop.set()
    assert runner.flush_and_commit(stop) is False
    assert consumer.commits == [] and runner.stats.unwritten == 4 and "case_events" not in sink.tables


def test_a_stop_during_an_outage_still_lands_the_rows_if_clickhouse_returns_within_the_grace() -> None:
    runner, consumer, sink, clock = _setup(4)
    sink.fail_next = 3  # 0.5 + 1 + 2 s of fake time: well within the 10 s grace
    stop = threading.Event()
    runner.poll_once(stop)
    stop.set()
    assert runner.flush_and_commit(stop) is True
    assert len(sink.tables["case_events"]) == 4 and len(consumer.commits) == 1 and clock.now < 10


def test_run_flushes_and_commits_on_stop() -> None:
    runner, consumer, _, _ = _setup(5)
    stop = threading.Event()
    runner.poll_once(stop)  # buffered, not yet due
    assert consumer.commits == []
    stop.set()
    stats = runner.run(stop)
    assert stats.rows == {"case_events": 5} and len(consumer.commits) == 1


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    b = Backoff(0.5, 10.0)
    assert [b.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    b.reset()
    assert b.next() == 0.5


def test_records_that_cannot_be_converted_go_to_sink_rejects_and_are_committed_only_after_that_insert() -> None:
    runner, consumer, sink, _ = _setup(0, bad=3)
    sink.fail_next = 2
    stop = threading.Event()
    runner.poll_once(stop)
    assert runner.sink.pending == 3 and consumer.commits == []  # buffered like any row
    _drain(runner, 3)
    assert runner.stats.retries == 2 and sink.writes == 1
    rejects = sink.tables["sink_rejects"]
    assert [(r["source_topic"], r["source_partition"], r["source_offset"]) for r in rejects] == [
        (TOPIC, 0, 0),
        (TOPIC, 0, 1),
        (TOPIC, 0, 2),
    ]
    assert all(r["kind"] == "events" and r["reason"].startswith("<event>: invalid JSON") for r in rejects)
    assert consumer.commits == [({TopicPartition(TOPIC, 0): 3}, 1)]  # after the one write that landed


def test_a_topic_the_runner_does_not_know_is_rejected_not_a_crash() -> None:
    runner, consumer, sink, _ = _setup(2)
    runner.topics = {"other": "events"}
    _drain(runner)
    assert [r["kind"] for r in sink.tables["sink_rejects"]] == ["unknown", "unknown"]
    assert consumer.committed() == {TopicPartition(TOPIC, 0): 1, TopicPartition(TOPIC, 1): 1}
