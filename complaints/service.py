"""`esup complaints run`: complaint messages in, cards out onto the findings topic, on the event or the wall clock.

Like the loop (loop/service.py), state is rebuilt from the log at start: esup.complaints, the findings topic
(the cards raised before, and this service's chain head) and esup.ticks are read from the beginning
(read_committed). Cards are ordinary findings, chained on a chain of their own, so the notifier, the loop
(responses, decisions) and the scores take them like any finding. Event clock = the latest complaint message
time, an esup.ticks tick (`esup clock advance`) or a `{"now": …}` keyed `tick` on esup.complaints (the
simulator's); wall clock = now.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from complaints import repeat
from complaints.config import ComplaintsConfig
from complaints.contract import ComplaintMessageError, parse_message
from complaints.rules import Complaint, apply, due
from complaints.store import ComplaintStore, mask_bytes
from loop.service import publish_chained, read_from_start, wall_now
from schemas.control import DeadLetter, TickError, parse_tick
from schemas.findings import Finding
from streams.chain import Head
from streams.rules.calendar import TZ, WorkCalendar

log = logging.getLogger(__name__)

# The complaint cards' own findings chain (the workers' are numbered by input partition, the loop's 1,000,000).
COMPLAINTS_CHAIN = 1_000_001


class ComplaintsService:
    """One process; ``clock`` "wall" (live) or "event" (the latest complaint message or tick)."""

    def __init__(self, *, bootstrap: str, complaints_topic: str, findings_topic: str, ticks_topic: str,
                 dead_letter_topic: str, cfg: ComplaintsConfig, calendar: WorkCalendar, clock: str = "wall",
                 now: Callable[[], datetime] | None = None, store: ComplaintStore | None = None,
                 heads_topic: str | None = None, chain_group: str = "esup",
                 auth: dict[str, Any] | None = None) -> None:
        from kafka import KafkaConsumer

        from esup.producer import kafka_producer

        if clock not in ("wall", "event"):
            raise ValueError("clock is wall or event")
        self.topics = (complaints_topic, findings_topic, ticks_topic)
        self.dead_letter_topic = dead_letter_topic
        self.cfg, self.cal, self.clock, self.store = cfg, calendar, clock, store
        self.now_fn = now or wall_now()
        self.watermark: datetime | None = None
        self.complaints: dict[str, Complaint] = {}
        self.repeat_fired: set[str] = set()
        self.raised: list[Finding] = []  # what this process published (for status and tests)
        self.head = Head()
        self.heads_topic, self.chain_group = heads_topic, chain_group
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                      isolation_level="read_committed", allow_auto_create_topics=False,
                                      client_id="esup-complaints", **(auth or {}))
        self.producer = kafka_producer(bootstrap, "esup-complaints", auth=auth)

    def _complaint(self, cid: str) -> Complaint:
        return self.complaints.setdefault(cid, Complaint(cid))

    def _advance(self, t: datetime) -> None:
        if self.watermark is None or t > self.watermark:
            self.watermark = t

    def _on_finding(self, value: bytes) -> None:
        """Only this service's own cards matter here: what fired before a restart, and the chain's head."""
        if b'"CMP_' not in value:
            return
        try:
            f = Finding.model_validate_json(value)
        except ValidationError:
            return
        if f.chain is not None and f.chain.partition == COMPLAINTS_CHAIN and f.chain.seq > self.head.seq:
            self.head = Head(f.chain.seq, f.chain.hash)
        if f.rule == repeat.RULE:
            self.repeat_fired.add(f.finding_id)
        elif f.rule.startswith("CMP_"):
            self._complaint(str(f.details.get("complaint_id", ""))).fired.add(f.finding_id)

    def _on_tick(self, value: bytes) -> None:
        try:
            tick = parse_tick(value)
        except TickError:
            return  # the workers dead-letter bad ticks; the clock is the clock's business
        if not tick.arm:
            self._advance(tick.now)

    def _on_message(self, record: Any) -> None:
        if record.key == b"tick":  # the event clock moved on the complaints topic (the simulator's --until)
            try:
                self._advance(datetime.fromisoformat(str(json.loads(record.value)["now"])))
                return
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                pass  # not a tick after all: the contract decides
        try:
            msg = parse_message(record.value)
        except ComplaintMessageError as exc:
            # The refused bytes are kept masked: a complaint's text may carry the citizen's phone or ID number.
            letter = DeadLetter.of(reason=exc.reason, topic=record.topic, partition=record.partition,
                                   offset=record.offset, key=record.key, value=mask_bytes(record.value),
                                   failed_at=datetime.now(TZ))
            self.producer.send(self.dead_letter_topic, key=record.key, value=letter.model_dump_json().encode())
            return
        apply(self._complaint(msg.complaint_id), msg)
        self._advance(msg.at)
        if self.store is not None:
            self.store.add(msg, record.partition, record.offset)

    def _consume(self, batches: dict[Any, list[Any]]) -> None:
        for tp, records in batches.items():
            for r in records:
                if r.value is None:
                    continue
                if tp.topic == self.topics[0]:
                    self._on_message(r)
                elif tp.topic == self.topics[1]:
                    self._on_finding(r.value)
                else:
                    self._on_tick(r.value)

    def start(self, timeout_s: float = 60.0) -> None:
        """Rebuild the state by reading the topics from the beginning, then write what the store buffered."""
        read_from_start(self.consumer, self.topics, self._consume, timeout_s, "the complaints' state")
        self._flush_store()

    def now(self) -> datetime | None:
        """The clock's now: the wall clock, or the event clock (None before any message or tick)."""
        return self.now_fn() if self.clock == "wall" else self.watermark

    def sweep(self) -> list[Finding]:
        """Raise the cards due at the clock's now and publish them (acks=all, keyed by case id), chained."""
        now = self.now()
        if now is None:
            return []
        out: list[Finding] = []
        for c in self.complaints.values():
            out += due(c, now, self.cfg, self.cal)[1]
        out += repeat.due(self.complaints.values(), self.repeat_fired, now, self.cfg, self.cal)
        self.head = publish_chained(self.producer, self.topics[1], out, COMPLAINTS_CHAIN, self.head,
                                    self.heads_topic, f"{self.chain_group}/complaints")
        if out:
            self.producer.flush()
            self.raised += out
            log.info("raised %d complaint cards at %s", len(out), now.isoformat())
        return out

    def _flush_store(self) -> None:
        if self.store is not None:
            self.store.flush()

    def step(self, timeout_ms: int = 500) -> list[Finding]:
        """One poll: apply what came in, store it, raise and publish what fell due."""
        self._consume(self.consumer.poll(timeout_ms=timeout_ms))
        self._flush_store()
        return self.sweep()

    def run(self, stop: threading.Event, poll_ms: int = 500) -> None:
        """Start, then poll until ``stop`` is set."""
        self.start()
        while not stop.is_set():
            self.step(poll_ms)

    def close(self) -> None:
        """Close the consumer (no offset commit) and the producer."""
        self.consumer.close(autocommit=False)
        self.producer.close(timeout=10)

