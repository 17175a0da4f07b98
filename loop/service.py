"""`esup loop`: the runtime of the loop — findings and responses in, supervision findings out, on either clock.

State is rebuilt from the log at start: both topics are read from the beginning (read_committed: a worker's
aborted transaction was never there), so the topics are the only truth and a restart needs no changelog. The
supervision findings it raised before are on the findings topic too, which is how it knows not to raise them
again; their ids are deterministic anyway, so a duplicate costs one more row that FINAL collapses.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from loop.config import LoopConfig
from loop.contract import LoopMessageError, parse_message
from loop.rules import Watch, apply, due
from loop.store import MessageStore
from schemas.control import DeadLetter
from schemas.findings import Category, Finding
from streams.chain import Head, seal
from streams.rules.calendar import TZ, WorkCalendar

log = logging.getLogger(__name__)

# The loop's own findings chain (the workers' chains are numbered by their input partitions, far below).
LOOP_CHAIN = 1_000_000


def wall_now(offset_s: float = 0.0) -> Callable[[], datetime]:
    """A wall clock in Asia/Shanghai, shifted by `offset_s` seconds."""
    from datetime import timedelta

    return lambda: datetime.now(TZ) + timedelta(seconds=offset_s)


def read_from_start(consumer: Any, topics: tuple[str, ...], consume: Callable[[dict[Any, list[Any]]], None],
                    timeout_s: float, what: str) -> None:
    """Assign every partition of ``topics`` from the beginning and feed ``consume`` up to their current end."""
    import time

    from kafka import TopicPartition

    tps = []
    for topic in topics:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise LookupError(f"topic {topic} does not exist: run `esup topics create`")
        tps += [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    deadline = time.monotonic() + timeout_s
    while any(consumer.position(tp) < end[tp] for tp in tps):
        if time.monotonic() > deadline:
            raise TimeoutError(f"rebuilding {what} took too long")
        consume(consumer.poll(timeout_ms=500))


def publish_chained(producer: Any, findings_topic: str, out: list[Finding], chain: int, head: Head,
                    heads_topic: str | None, group: str) -> Head:
    """Chain ``out`` after ``head`` on chain number ``chain`` (streams/chain.py), publish them keyed by case id
    and the new head for `esup verify`; returns the new head."""
    texts, new = seal([f.model_dump_json().encode() for f in out], chain, head)
    for f, text in zip(out, texts, strict=True):
        producer.send(findings_topic, key=f.case_id.encode(), value=text)
    if out and heads_topic:
        record = {"group": group, "partition": chain, "seq": new.seq, "hash": new.hash}
        producer.send(heads_topic, key=group.encode(), value=json.dumps(record).encode())
    return new


class LoopService:
    """One process; ``clock`` "wall" (live) or "event" (the latest finding or message time, or a tick)."""

    def __init__(self, *, bootstrap: str, findings_topic: str, responses_topic: str, dead_letter_topic: str,
                 cfg: LoopConfig, calendar: WorkCalendar, clock: str = "wall",
                 now: Callable[[], datetime] | None = None, store: MessageStore | None = None,
                 heads_topic: str | None = None, chain_group: str = "esup",
                 auth: dict[str, Any] | None = None) -> None:
        from kafka import KafkaConsumer

        from esup.producer import kafka_producer

        if clock not in ("wall", "event"):
            raise ValueError("clock is wall or event")
        self.topics = (findings_topic, responses_topic)
        self.dead_letter_topic = dead_letter_topic
        self.cfg, self.cal, self.clock, self.store = cfg, calendar, clock, store
        self.now_fn = now or wall_now()
        self.watermark: datetime | None = None
        self.watches: dict[str, Watch] = {}
        self.raised: list[Finding] = []  # what this process published (for status and tests)
        # Its findings are chained like the workers' (streams/chain.py), on a chain of its own, whose head it
        # learns from its own findings as it reads the log from the start, and publishes for `esup verify`.
        self.head = Head()
        self.heads_topic, self.chain_group = heads_topic, chain_group
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                      isolation_level="read_committed", allow_auto_create_topics=False,
                                      client_id="esup-loop", **(auth or {}))
        self.producer = kafka_producer(bootstrap, "esup-loop", auth=auth)

    def _watch(self, fid: str) -> Watch:
        return self.watches.setdefault(fid, Watch(fid))

    def _advance(self, t: datetime) -> None:
        if self.watermark is None or t > self.watermark:
            self.watermark = t

    def _on_finding(self, value: bytes) -> None:
        try:
            f = Finding.model_validate_json(value)
        except ValidationError:
            return  # the worker's own output: the sink dead-letters what it cannot read
        if f.category == Category.supervision:
            if f.chain is not None and f.chain.partition == LOOP_CHAIN and f.chain.seq > self.head.seq:
                self.head = Head(f.chain.seq, f.chain.hash)
            supervised = str(f.details.get("supervised_finding_id", ""))
            self._watch(supervised).fired.add(f.finding_id)
            return
        w = self._watch(f.finding_id)
        if w.finding is None:  # redelivered findings: the first copy stands (same id, same content)
            w.finding = f
        self._advance(f.detected_at)

    def _on_message(self, record: Any) -> None:
        try:
            head = json.loads(record.value)
            if isinstance(head, dict) and head.get("type") == "tick":  # event clock: `esup loop advance`
                self._advance(datetime.fromisoformat(str(head["now"])))
                return
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            pass
        try:
            msg = parse_message(record.value)
        except LoopMessageError as exc:
            letter = DeadLetter.of(reason=exc.reason, topic=record.topic, partition=record.partition,
                                   offset=record.offset, key=record.key, value=record.value,
                                   failed_at=datetime.now(TZ))
            self.producer.send(self.dead_letter_topic, key=record.key, value=letter.model_dump_json().encode())
            return
        apply(self._watch(msg.finding_id), msg, self.cfg)
        self._advance(msg.at)
        if self.store is not None:
            self.store.add(msg, record.partition, record.offset)

    def _consume(self, batches: dict[Any, list[Any]]) -> None:
        for tp, records in batches.items():
            for r in records:
                if r.value is None:
                    continue
                if tp.topic == self.topics[0]:
                    self._on_finding(r.value)
                else:
                    self._on_message(r)

    def start(self, timeout_s: float = 60.0) -> None:
        """Assign every partition of both topics from the beginning and read up to their current end."""
        read_from_start(self.consumer, self.topics, self._consume, timeout_s, "the loop's state")
        self._flush_store()

    def now(self) -> datetime | None:
        """The clock's now: the wall time, or on the event clock the latest time seen (None before any)."""
        return self.now_fn() if self.clock == "wall" else self.watermark

    def sweep(self) -> list[Finding]:
        """Fire what is due at the clock's now and publish it (acks=all, keyed by case id)."""
        now = self.now()
        if now is None:
            return []
        out: list[Finding] = []
        for w in self.watches.values():
            out += due(w, now, self.cfg, self.cal)[1]
        self.head = publish_chained(self.producer, self.topics[0], out, LOOP_CHAIN, self.head, self.heads_topic,
                                    f"{self.chain_group}/loop")
        if out:
            self.producer.flush()
            self.raised += out
        return out

    def _flush_store(self) -> None:
        if self.store is not None:
            self.store.flush()

    def step(self, timeout_ms: int = 500) -> list[Finding]:
        """Apply one poll of findings and messages, store the messages, and sweep; returns the findings raised."""
        # The rules read only the messages' own times, never their arrival, so applying a batch before the
        # sweep raises the same findings as sweeping between its messages would.
        self._consume(self.consumer.poll(timeout_ms=timeout_ms))
        self._flush_store()
        return self.sweep()

    def run(self, stop: threading.Event, poll_ms: int = 500) -> None:
        """Rebuild the state from the topics, then step until `stop` is set."""
        self.start()
        while not stop.is_set():
            self.step(poll_ms)

    def close(self) -> None:
        """Close the consumer (without committing) and the producer."""
        self.consumer.close(autocommit=False)
        self.producer.close(timeout=10)
