"""The simulated departments and supervisors on Kafka: read the findings, send their answers and decisions.

They publish on the responses topic exactly as a department system or the API does (the contract's messages,
keyed by finding id, acks=all), all as the API's principal: department systems and supervisors answer through
the API (or the console), which alone may write the responses topic (esup/access/table.py). Like the API,
they audit each message (its id in the record's detail, marked simulated), so `esup verify` finds every
decision's audit record.
A message goes out once simulated time has reached it: ``until`` for a finite run (then a tick at ``until``
on the loop's own ticks topic, as the clock's principal and audited, moves the loop's event clock there),
the latest finding's time when following a live province.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from esup.audit_writers import audit_topic
from esup.kafka_auth import API, CLOCK, OPERATOR, kafka_python_auth
from esup.settings import Settings
from loop.config import LoopConfig
from schemas.findings import Finding
from sim.responses import Message, Plan, plan
from sim.truth import write_loop_truth
from streams.rules.calendar import WorkCalendar

log = logging.getLogger("esup.sim.respond")
TRUTH_FILE = "loop_truth.jsonl"
# What the API records for each message type: the action and the path's last part (api/app.py).
_ACTIONS = {
    "response": ("respond", "responses"),
    "decision": ("decide", "decisions"),
    "recommendation_report": ("report_recommendation", "recommendation-reports"),
}


@dataclass
class Responder:
    """The simulated departments and supervisors: plan each finding's messages and publish them once due."""

    settings: Settings
    seed: int
    cfg: LoopConfig
    calendar: WorkCalendar
    plans: dict[str, Plan] = field(default_factory=dict)
    queue: list[tuple[datetime, str, Message]] = field(default_factory=list)
    sent: int = 0
    _producers: dict[str, Any] = field(default_factory=dict)
    _auditor: Any = None

    def producer(self, principal: str) -> Any:
        """The Kafka producer logged in as ``principal``, made on first use and kept."""
        from esup.producer import kafka_producer

        if principal not in self._producers:
            self._producers[principal] = kafka_producer(
                self.settings.kafka_bootstrap, f"esup-sim-{principal}", auth=kafka_python_auth(self.settings, principal)
            )
        return self._producers[principal]

    def take(self, findings: list[Finding]) -> None:
        """Plan the messages of every finding not seen before (a redelivered finding keeps its first plan)."""
        for f in findings:
            if f.finding_id in self.plans:
                continue
            p = plan(f, self.seed, self.cfg, self.calendar)
            if p is None:
                continue
            self.plans[f.finding_id] = p
            for m in p.messages:
                heapq.heappush(self.queue, (m.at, m.message_id, m))

    def send_until(self, now: datetime) -> int:
        """Publish, in time order, every planned message made by ``now``."""
        n = 0
        while self.queue and self.queue[0][0] <= now:
            _, _, m = heapq.heappop(self.queue)
            principal = API  # what the API would publish for the department or the supervisor
            self.producer(principal).send(
                self.settings.topic_responses, key=m.finding_id.encode(), value=m.model_dump_json().encode()
            )
            self.audit(m)
            n += 1
        self.flush()
        self.sent += n
        return n

    def audit(self, m: Message) -> None:
        """The API's audit record of ``m`` (api/audit.py), as the API writes it when it accepts the message."""
        from api.audit import Auditor

        if self._auditor is None:
            self._auditor = Auditor(None, self.producer(API), audit_topic(self.settings, API))
        action, path = _ACTIONS[m.type]
        self._auditor.record(
            at=m.at,
            actor=m.actor_id,
            role="supervisor" if m.type == "decision" else "department",
            action=action,
            method="POST",
            path=f"/findings/{m.finding_id}/{path}",
            finding_id=m.finding_id,
            status=202,
            detail={"message_id": m.message_id, "simulated": True},
        )

    def tick(self, now: datetime) -> None:
        """Move the loop's event clock to ``now``: a tick on its own topic, as the clock's principal, audited."""
        from esup.access.audit import AccessAudit

        p = self.producer(CLOCK)
        topic = self.settings.topic_loop_ticks
        AccessAudit(p, audit_topic(self.settings, CLOCK), CLOCK, "esup loop simulate").record(
            "clock.advance", {"to": now.isoformat(), "topic": topic}
        )
        p.send(topic, key=b"tick", value=json.dumps({"type": "tick", "now": now.isoformat()}).encode())
        self.flush()

    def flush(self) -> None:
        """Flush every producer made so far."""
        for p in self._producers.values():
            p.flush()

    def close(self) -> None:
        """Close every producer made so far."""
        for p in self._producers.values():
            p.close(timeout=10)


def read_findings(s: Settings, principal: str = OPERATOR) -> list[Finding]:
    """Every committed finding on the findings topic, up to its current end."""
    return [f for batch in follow_findings(s, principal, stop=None) for f in batch]


def follow_findings(s: Settings, principal: str, stop: threading.Event | None, poll_ms: int = 1000) -> Any:
    """Batches of findings from the beginning; up to the end when ``stop`` is None, else until it is set."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(
        bootstrap_servers=s.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        client_id="esup-sim-respond",
        **kafka_python_auth(s, principal),
    )
    try:
        tps = [TopicPartition(s.topic_findings, p) for p in sorted(c.partitions_for_topic(s.topic_findings) or [])]
        if not tps:
            raise LookupError(f"topic {s.topic_findings} does not exist: run `esup topics create`")
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)

        def more() -> bool:
            return any(c.position(tp) < end[tp] for tp in tps) if stop is None else not stop.is_set()

        while more():
            batch: list[Finding] = []
            for records in c.poll(timeout_ms=poll_ms).values():
                for r in records:
                    if r.value is not None:
                        batch.append(Finding.model_validate_json(r.value))
            yield batch
    finally:
        c.close(autocommit=False)


def respond_until(
    s: Settings, *, seed: int, until: datetime, out: Path, cfg: LoopConfig, calendar: WorkCalendar
) -> tuple[int, int]:
    """Answer and decide every finding on the topic with simulated time at ``until``; write the loop's truth.

    Returns (messages sent, findings supervised)."""
    r = Responder(s, seed, cfg, calendar)
    try:
        r.take(read_findings(s))
        sent = r.send_until(until)
        r.tick(until)
    finally:
        r.close()
    write_loop_truth(out / TRUTH_FILE, [p.truth(until) for p in r.plans.values()])
    return sent, len(r.plans)


def follow(
    s: Settings,
    *,
    seed: int,
    cfg: LoopConfig,
    calendar: WorkCalendar,
    stop: threading.Event,
    say: Callable[[str], None] = log.info,
) -> None:
    """Live: answer findings as simulated time (the latest finding's) reaches each message's moment."""
    r = Responder(s, seed, cfg, calendar)
    clock: datetime | None = None
    try:
        for batch in follow_findings(s, OPERATOR, stop):
            r.take(batch)
            for f in batch:
                if f.category != "supervision" and (clock is None or f.detected_at > clock):
                    clock = f.detected_at
            if clock is not None and r.send_until(clock):
                say(f"sent {r.sent} messages on {len(r.plans)} findings, simulated time {clock.isoformat()}")
    finally:
        r.close()
