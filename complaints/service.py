"""`esup complaints run`: complaint messages in, cards out onto the findings topic, on the event or the wall clock.

Like the loop (loop/service.py), state is rebuilt from the log at start: esup.complaints, the findings topic
(the cards raised before, and this service's chain head) and esup.ticks are read from the beginning
(read_committed). Cards are ordinary findings, chained on a chain of their own, so the notifier, the loop
(responses, decisions) and the scores take them like any finding. Event clock = the latest complaint message
time, an esup.ticks tick (`esup clock advance`) or a `{"type": "tick", "now": …}` on esup.complaint-ticks
(the simulator's, as the clock, which may not write esup.complaints); wall clock = now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from complaints import repeat
from complaints.config import ComplaintsConfig
from complaints.contract import MAX_MESSAGE_BYTES, ComplaintMessageError, parse_message
from complaints.rules import Complaint, apply, due
from complaints.store import ComplaintStore, mask_bytes
from loop.contract import tick_now
from loop.runtime import LogService, service_tick
from loop.service import wall_now
from schemas.control import parse_tick
from schemas.events import in_calendar_range
from schemas.findings import Finding, read_finding
from schemas.wire import WireError, load_json
from streams.rules.calendar import WorkCalendar

log = logging.getLogger(__name__)

# The complaint cards' own findings chain (the workers' are numbered by input partition, the loop's 1,000,000).
COMPLAINTS_CHAIN = 1_000_001


class ComplaintsService(LogService):
    """One process; ``clock`` "wall" (live) or "event" (the latest complaint message or tick)."""

    name, what = "esup-complaints", "the complaints' state"

    def __init__(
        self,
        *,
        bootstrap: str,
        complaints_topic: str,
        findings_topic: str,
        ticks_topic: str,
        dead_letter_topic: str,
        cfg: ComplaintsConfig,
        calendar: WorkCalendar,
        clock: str = "wall",
        now: Callable[[], datetime] | None = None,
        store: ComplaintStore | None = None,
        heads_topic: str | None = None,
        chain_group: str = "esup",
        auth: dict[str, Any] | None = None,
        clock_ticks_topic: str | None = None,
    ) -> None:
        # Besides the workers' ticks, its own event-clock ticks (`esup complaints simulate --until`) come on a
        # topic of their own that only the clock writes: never on the complaints topic, which the clock may not write.
        super().__init__(
            bootstrap=bootstrap,
            topics=(
                complaints_topic,
                findings_topic,
                ticks_topic,
                *((clock_ticks_topic,) if clock_ticks_topic else ()),
            ),
            findings_topic=findings_topic,
            dead_letter_topic=dead_letter_topic,
            clock=clock,
            now=now or wall_now(),
            store=store,
            heads_topic=heads_topic,
            chain=COMPLAINTS_CHAIN,
            chain_group=chain_group,
            auth=auth,
        )
        self.cfg, self.cal = cfg, calendar
        self.complaints: dict[str, Complaint] = {}
        self.repeat_fired: set[str] = set()

    def _complaint(self, cid: str) -> Complaint:
        return self.complaints.setdefault(cid, Complaint(cid))

    def _on_finding(self, value: bytes) -> None:
        """Only this service's own cards matter here: what fired before a restart, and the chain's head."""
        if b'"CMP_' not in value:
            return
        try:
            f = read_finding(value)
        except WireError:
            return  # the sink dead-letters what it cannot read
        self._learn_head(f)
        if f.rule == repeat.RULE:
            self.repeat_fired.add(f.finding_id)
        elif f.rule.startswith("CMP_"):
            self._complaint(str(f.details.get("complaint_id", ""))).fired.add(f.finding_id)

    def _on_tick(self, value: bytes) -> None:
        try:
            tick = parse_tick(value)
            in_calendar_range(tick.now)
        except ValueError:  # TickError is one
            return  # the workers dead-letter bad ticks; the clock is the clock's business
        if not tick.arm:
            self._advance(tick.now)

    def _on_message(self, record: Any) -> None:
        try:  # bounded size, depth and numbers: nothing a sender writes raises out of here
            data = load_json(record.value, max_bytes=MAX_MESSAGE_BYTES)
            if record.key == b"tick" and isinstance(data, dict) and "now" in data:
                # Written here by the clock before ticks had a topic of their own (and the clock could write
                # complaints): no longer a clock, and not a complaint message either. A malformed one is a
                # dead letter naming `now`.
                tick_now(data, ComplaintMessageError)
                return
            msg = parse_message(data)
        except (WireError, ComplaintMessageError) as exc:
            # The refused bytes are kept masked: a complaint's text may carry the citizen's phone or ID number.
            self._dead_letter(record, exc.reason, mask_bytes(record.value))
            return
        apply(self._complaint(msg.complaint_id), msg)
        self._advance(msg.at)
        if self.store is not None:
            self.store.add(msg, record.partition, record.offset)

    def handlers(self) -> dict[str, Callable[[Any], None]]:
        """Complaint messages (and event-clock ticks), findings (only this service's own cards) and clock ticks."""
        complaints, findings, ticks = self.topics[:3]
        out = {
            complaints: self._on_message,
            findings: lambda r: self._on_finding(r.value),
            ticks: lambda r: self._on_tick(r.value),
        }
        if len(self.topics) > 3:
            out[self.topics[3]] = lambda r: self._on_clock_tick(r.value)
        return out

    def _on_clock_tick(self, value: bytes) -> None:
        tick = service_tick(value)
        if tick is not None:
            self._advance(tick)

    def sweep(self) -> list[Finding]:
        """Raise the cards due at the clock's now and publish them (acks=all, keyed by case id), chained."""
        now = self.now()
        if now is None:
            return []
        out: list[Finding] = []
        for c in self.complaints.values():
            out += due(c, now, self.cfg, self.cal)[1]
        out += repeat.due(self.complaints.values(), self.repeat_fired, now, self.cfg, self.cal)
        if out:
            log.info("raising %d complaint cards at %s", len(out), now.isoformat())
        return self._publish(out, f"{self.chain_group}/complaints")
