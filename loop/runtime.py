"""The runtime shared by the deadline services (the loop, complaints): state rebuilt from topics read from the start,
then poll, fold in, sweep on the event or the wall clock, publish chained findings."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from loop.contract import LoopMessageError, tick_now
from schemas.control import DeadLetter
from schemas.findings import Finding
from schemas.wire import WireError, load_json
from streams.chain import Head, seal
from streams.rules.calendar import TZ


def read_from_start(
    consumer: Any, topics: tuple[str, ...], consume: Callable[[dict[Any, list[Any]]], None], timeout_s: float, what: str
) -> None:
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


def service_tick(value: bytes | None) -> datetime | None:
    """The moment of a deadline service's event-clock tick (``{"type": "tick", "now": ISO time with offset}``,
    on the service's own ticks topic, which only the clock writes), or None when ``value`` is not one: read
    with the bounded reader, its ``now`` timezone-aware and within the calendar's years (`loop.contract`)."""
    try:
        head = load_json(value or b"", max_bytes=4096)
        if isinstance(head, dict) and head.get("type") == "tick":
            return tick_now(head)
    except (WireError, LoopMessageError):
        pass
    return None


def publish_chained(
    producer: Any, findings_topic: str, out: list[Finding], chain: int, head: Head, heads_topic: str | None, group: str
) -> Head:
    """Chain ``out`` after ``head`` on chain number ``chain`` (streams/chain.py), publish them keyed by case id
    and the new head for `esup verify`; returns the new head."""
    texts, new = seal([f.model_dump_json().encode() for f in out], chain, head)
    for f, text in zip(out, texts, strict=True):
        producer.send(findings_topic, key=f.case_id.encode(), value=text)
    if out and heads_topic:
        record = {"group": group, "partition": chain, "seq": new.seq, "hash": new.hash}
        producer.send(heads_topic, key=group.encode(), value=json.dumps(record).encode())
    return new


class LogService:
    """One process whose state is its topics; subclasses fold records in (``_consume``) and fire (``sweep``).

    ``clock`` "wall" (``now_fn``) or "event" (``watermark``: the latest input time or tick)."""

    name = "esup-service"
    what = "the service's state"

    def __init__(
        self,
        *,
        bootstrap: str,
        topics: tuple[str, ...],
        findings_topic: str,
        dead_letter_topic: str,
        clock: str,
        now: Callable[[], datetime],
        store: Any = None,
        heads_topic: str | None = None,
        chain: int,
        chain_group: str = "esup",
        auth: dict[str, Any] | None = None,
    ) -> None:
        from kafka import KafkaConsumer

        from esup.producer import kafka_producer

        if clock not in ("wall", "event"):
            raise ValueError("clock is wall or event")
        self.topics, self.findings_topic, self.dead_letter_topic = topics, findings_topic, dead_letter_topic
        self.clock, self.now_fn, self.store = clock, now, store
        self.watermark: datetime | None = None
        self.raised: list[Finding] = []  # what this process published (for status and tests)
        # Its findings are chained like the workers' (streams/chain.py), on a chain of its own, whose head it
        # learns from its own findings as it reads the log from the start, and publishes for `esup verify`.
        self.head, self.chain = Head(), chain
        self.heads_topic, self.chain_group = heads_topic, chain_group
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            allow_auto_create_topics=False,
            client_id=self.name,
            **(auth or {}),
        )
        self.producer = kafka_producer(bootstrap, self.name, auth=auth)

    def handlers(self) -> dict[str, Callable[[Any], None]]:
        """Which method folds in a record of which topic."""
        raise NotImplementedError

    def _consume(self, batches: dict[Any, list[Any]]) -> None:
        handlers = self.handlers()
        for tp, records in batches.items():
            for r in records:
                if r.value is not None:  # a tombstone says nothing here
                    handlers[tp.topic](r)

    def sweep(self) -> list[Finding]:
        """Fire what is due at the clock's now and publish it; each service says what is due."""
        raise NotImplementedError

    def _advance(self, t: datetime) -> None:
        if self.watermark is None or t > self.watermark:
            self.watermark = t

    def _learn_head(self, f: Finding) -> None:
        if f.chain is not None and f.chain.partition == self.chain and f.chain.seq > self.head.seq:
            self.head = Head(f.chain.seq, f.chain.hash)

    def _dead_letter(self, record: Any, reason: str, value: bytes) -> None:
        letter = DeadLetter.of(
            reason=reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=value,
            failed_at=datetime.now(TZ),
        )
        self.producer.send(self.dead_letter_topic, key=record.key, value=letter.model_dump_json().encode())

    def _publish(self, out: list[Finding], group: str) -> list[Finding]:
        """Chain and publish ``out`` (acks=all, keyed by case id) with the new head under ``group``."""
        self.head = publish_chained(
            self.producer, self.findings_topic, out, self.chain, self.head, self.heads_topic, group
        )
        if out:
            self.producer.flush()
            self.raised += out
        return out

    def start(self, timeout_s: float = 60.0) -> None:
        """Assign every partition of the topics from the beginning and read up to their current end."""
        read_from_start(self.consumer, self.topics, self._consume, timeout_s, self.what)
        self._flush_store()

    def now(self) -> datetime | None:
        """The clock's now: the wall clock, or on the event clock the watermark (None until an input has a time)."""
        return self.now_fn() if self.clock == "wall" else self.watermark

    def _flush_store(self) -> None:
        if self.store is not None:
            self.store.flush()

    def step(self, timeout_ms: int = 500) -> list[Finding]:
        """Poll one batch, fold it in, flush the store, then sweep; returns the findings raised."""
        # The rules read only the messages' own times, never their arrival, so applying a batch before the
        # sweep raises the same findings as sweeping between its messages would.
        self._consume(self.consumer.poll(timeout_ms=timeout_ms))
        self._flush_store()
        return self.sweep()

    def run(self, stop: threading.Event, poll_ms: int = 500) -> None:
        """Rebuild the state from the topics, then step until ``stop`` is set."""
        self.start()
        while not stop.is_set():
            self.step(poll_ms)

    def close(self) -> None:
        """Close the consumer (no offsets committed: state comes from the log) and the producer (10 s to send)."""
        self.consumer.close(autocommit=False)
        self.producer.close(timeout=10)
