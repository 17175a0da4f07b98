"""The simulated public on Kafka: complaints and their handling published on esup.complaints, with the truth.

Messages go out as the intake and the console publish them (the contract's messages keyed by complaint id,
acks=all, as the API's principal), each once simulated time has reached it: ``until`` for a finite run (then a
tick at ``until`` moves the complaint service's event clock there), the latest finding's time when following
a live province (as the loop's responder does). ``complaints_truth.jsonl`` holds each complaint's expected
cards; ``complaints_clear.jsonl`` (0600) the made-up complainants in clear, for the test that looks for them.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from complaints.config import ComplaintsConfig
from complaints.contract import ComplaintMessage
from esup.audit_writers import audit_topic
from esup.kafka_auth import API, CLOCK, OPERATOR, kafka_python_auth
from esup.settings import Settings
from sim.complaints import ComplaintPlan, Office, plan_day
from sim.respond import follow_findings
from streams.rules.calendar import WorkCalendar

log = logging.getLogger("esup.sim.complain")
TRUTH_FILE, CLEAR_FILE = "complaints_truth.jsonl", "complaints_clear.jsonl"


def offices(settings: Settings, seed: int) -> list[Office]:
    """Every office of the simulated province (its province.json when the simulator wrote one)."""
    path = settings.home / "sim" / "province.json"
    if path.exists():
        doc = json.loads(path.read_text(encoding="utf-8"))
        return [
            Office(d["department_id"], c["region_code"], tuple(s["staff_id"] for s in d["staff"]))
            for c in doc["counties"]
            for d in c["departments"]
        ]
    from sim.province import build_province

    return [
        Office(o.department_id, o.region_code, tuple(s.staff_id for s in o.all_staff()))
        for c in build_province(seed).counties
        for o in c.offices.values()
    ]


@dataclass
class Complainants:
    """The simulated public: plans each day's complaints, sends their messages once due, writes the truth."""

    settings: Settings
    seed: int
    cfg: ComplaintsConfig
    calendar: WorkCalendar
    per_day: float
    offices: list[Office]
    plans: list[ComplaintPlan] = field(default_factory=list)
    planned_to: date | None = None
    queue: list[tuple[datetime, str, ComplaintMessage]] = field(default_factory=list)
    sent: int = 0
    _producer: Any = None
    _keyring: Any = None

    def producer(self, principal: str = API) -> Any:
        """A producer as ``principal``: the API's is made once and reused; any other is new, for the caller to close."""
        from esup.producer import kafka_producer

        if self._producer is None or principal != API:
            p = kafka_producer(
                self.settings.kafka_bootstrap, f"esup-sim-{principal}", auth=kafka_python_auth(self.settings, principal)
            )
            if principal != API:
                return p
            self._producer = p
        return self._producer

    def plan_to(self, day: date) -> None:
        """Plan the complaints of every day up to ``day`` not planned yet."""
        d = self.planned_to + timedelta(days=1) if self.planned_to else day
        while d <= day:
            for p in plan_day(d, self.seed, self.offices, self.per_day, self.cfg, self.calendar):
                self.plans.append(p)
                for m in p.messages:
                    heapq.heappush(self.queue, (m.at, m.message_id, m))
            self.planned_to, d = d, d + timedelta(days=1)

    def _sealed(self, m: ComplaintMessage) -> ComplaintMessage:
        """A receipt's complainant sealed under the platform's keys, as the intake seals (the plan's own seal is
        deterministic, under the simulation's key): the supervisors' desk can open it, nothing else changes."""
        if m.type != "received" or m.complainant is None:
            return m
        from complaints.contract import SealedContact
        from complaints.pii import Contact, keyring

        if self._keyring is None:
            self._keyring = keyring(self.settings)
        clear = next(p.clear for p in self.plans if p.complaint_id == m.complaint_id)
        sealed = self._keyring.seal(Contact(clear.name, clear.phone, clear.id_number))
        return m.model_copy(update={"complainant": SealedContact(**sealed)})

    def send_until(self, now: datetime) -> int:
        """Send every queued message due by ``now`` to the complaints topic, in time order; returns how many."""
        n = 0
        while self.queue and self.queue[0][0] <= now:
            _, _, m = heapq.heappop(self.queue)
            m = self._sealed(m)
            self.producer().send(
                self.settings.topic_complaints, key=m.complaint_id.encode(), value=m.model_dump_json().encode()
            )
            n += 1
        if self._producer is not None:
            self._producer.flush()
        self.sent += n
        return n

    def tick(self, now: datetime) -> None:
        """Move the complaint service's event clock to ``now``: a tick on its own topic, as the clock, audited."""
        from esup.access.audit import AccessAudit

        p = self.producer(CLOCK)
        topic = self.settings.topic_complaint_ticks
        try:
            AccessAudit(p, audit_topic(self.settings, CLOCK), CLOCK, "esup complaints simulate").record(
                "clock.advance", {"to": now.isoformat(), "topic": topic}
            )
            p.send(topic, key=b"tick", value=json.dumps({"type": "tick", "now": now.isoformat()}).encode())
            p.flush()
        finally:
            p.close()

    def write_truth(self, out: Path, at: datetime) -> None:
        """Write the expected cards up to ``at`` (complaints_truth.jsonl) and the complainants in clear (0600)."""
        out.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(p.truth(at), ensure_ascii=False, sort_keys=True) for p in self.plans]
        (out / TRUTH_FILE).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        clear = out / CLEAR_FILE
        fd = os.open(clear, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for p in self.plans:
                fh.write(json.dumps({"complaint_id": p.complaint_id, **p.clear.__dict__}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        """Close the API's producer, if one was made."""
        if self._producer is not None:
            self._producer.close(timeout=10)


def complain_until(
    s: Settings,
    *,
    seed: int,
    start: date,
    until: datetime,
    per_day: float,
    out: Path,
    cfg: ComplaintsConfig,
    calendar: WorkCalendar,
) -> tuple[int, int]:
    """Every complaint received from ``start`` to ``until`` and its handling up to ``until``; the truth then.

    Returns (messages sent, complaints)."""
    c = Complainants(s, seed, cfg, calendar, per_day, offices(s, seed))
    try:
        c.planned_to = start - timedelta(days=1)
        c.plan_to(until.date())
        sent = c.send_until(until)
        c.tick(until)
    finally:
        c.close()
    c.write_truth(out, until)
    return sent, len(c.plans)


def follow(
    s: Settings,
    *,
    seed: int,
    per_day: float,
    cfg: ComplaintsConfig,
    calendar: WorkCalendar,
    stop: threading.Event,
    say: Callable[[str], None] = log.info,
) -> None:
    """Live: complaints as simulated time (the latest finding's) reaches each message's moment."""
    c = Complainants(s, seed, cfg, calendar, per_day, offices(s, seed))
    clock: datetime | None = None
    try:
        for batch in follow_findings(s, OPERATOR, stop):
            for f in batch:
                if not f.rule.startswith(("SUP_", "CMP_")) and (clock is None or f.detected_at > clock):
                    clock = f.detected_at
            if clock is None:
                continue
            c.plan_to(clock.date())
            if c.send_until(clock):
                say(f"sent {c.sent} complaint messages ({len(c.plans)} complaints), simulated time {clock.isoformat()}")
                c.write_truth(s.home / "sim", clock)
    finally:
        c.close()
