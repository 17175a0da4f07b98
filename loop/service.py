"""`esup loop`: the runtime of the loop — findings and responses in, supervision findings out, on either clock.

State is rebuilt from the log at start: both topics are read from the beginning (read_committed: a worker's
aborted transaction was never there), so the topics are the only truth and a restart needs no changelog. The
supervision findings it raised before are on the findings topic too, which is how it knows not to raise them
again; their ids are deterministic anyway, so a duplicate costs one more row that FINAL collapses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from loop.config import LoopConfig
from loop.contract import MAX_MESSAGE_BYTES, LoopMessageError, parse_message, tick_now
from loop.rules import Watch, apply, due
from loop.runtime import LogService, service_tick
from loop.store import MessageStore
from schemas.events import in_calendar_range
from schemas.findings import Category, Finding, read_finding
from schemas.wire import WireError, load_json
from streams.rules.calendar import TZ, WorkCalendar

log = logging.getLogger(__name__)

# The loop's own findings chain (the workers' chains are numbered by their input partitions, far below).
LOOP_CHAIN = 1_000_000


def wall_now(offset_s: float = 0.0) -> Callable[[], datetime]:
    """A wall clock in Asia/Shanghai, shifted by `offset_s` seconds."""
    from datetime import timedelta

    return lambda: datetime.now(TZ) + timedelta(seconds=offset_s)


class LoopService(LogService):
    """One process; ``clock`` "wall" (live) or "event" (the latest finding or message time, or a tick)."""

    name, what = "esup-loop", "the loop's state"

    def __init__(
        self,
        *,
        bootstrap: str,
        findings_topic: str,
        responses_topic: str,
        dead_letter_topic: str,
        cfg: LoopConfig,
        calendar: WorkCalendar,
        clock: str = "wall",
        now: Callable[[], datetime] | None = None,
        store: MessageStore | None = None,
        heads_topic: str | None = None,
        chain_group: str = "esup",
        auth: dict[str, Any] | None = None,
        ticks_topic: str | None = None,
    ) -> None:
        # The event clock's ticks come on a topic of their own (`esup loop simulate --until`, as the clock's
        # principal), never on the responses topic: only the API writes responses and decisions.
        super().__init__(
            bootstrap=bootstrap,
            topics=(findings_topic, responses_topic, *((ticks_topic,) if ticks_topic else ())),
            findings_topic=findings_topic,
            dead_letter_topic=dead_letter_topic,
            clock=clock,
            now=now or wall_now(),
            store=store,
            heads_topic=heads_topic,
            chain=LOOP_CHAIN,
            chain_group=chain_group,
            auth=auth,
        )
        self.cfg, self.cal = cfg, calendar
        self.watches: dict[str, Watch] = {}

    def _watch(self, fid: str) -> Watch:
        return self.watches.setdefault(fid, Watch(fid))

    def _on_finding(self, value: bytes) -> None:
        try:
            f = read_finding(value)
            in_calendar_range(f.detected_at)
        except ValueError as exc:  # WireError is one
            # The worker's own output: the sink dead-letters what it cannot read. A finding dated outside the
            # calendar would fail every sweep (and every restart, which reads the log again): it is left out.
            log.warning("skipping a record of %s that is not a finding the loop can use: %s", self.topics[0], exc)
            return
        if f.category == Category.supervision:
            self._learn_head(f)
            supervised = str(f.details.get("supervised_finding_id", ""))
            self._watch(supervised).fired.add(f.finding_id)
            return
        w = self._watch(f.finding_id)
        if w.finding is None:  # redelivered findings: the first copy stands (same id, same content)
            w.finding = f
        self._advance(f.detected_at)

    def _on_tick(self, value: bytes) -> None:
        """The event clock moves to a tick's ``now`` (``{"type": "tick", "now": ISO time with offset}``)."""
        tick = service_tick(value)
        if tick is not None:
            self._advance(tick)
        else:
            log.warning("a loop tick that cannot be read was skipped")  # the clock's business, not a department's

    def _on_message(self, record: Any) -> None:
        try:  # bounded size, depth and numbers: nothing a sender writes raises out of here
            data = load_json(record.value, max_bytes=MAX_MESSAGE_BYTES)
            if isinstance(data, dict) and data.get("type") == "tick":
                # Written here by the clock before ticks had a topic of their own (and the clock could write
                # responses): no longer a clock, and not a loop message either. A malformed one is a dead letter.
                tick_now(data)
                return
            msg = parse_message(data)
        except (WireError, LoopMessageError) as exc:
            self._dead_letter(record, exc.reason, record.value)
            return
        apply(self._watch(msg.finding_id), msg, self.cfg)
        self._advance(msg.at)
        if self.store is not None:
            self.store.add(msg, record.partition, record.offset)

    def handlers(self) -> dict[str, Callable[[Any], None]]:
        """Findings open watches (a supervision card marks its watch); responses carry loop messages; ticks
        move the event clock."""
        out = {self.topics[0]: lambda r: self._on_finding(r.value), self.topics[1]: self._on_message}
        if len(self.topics) > 2:
            out[self.topics[2]] = lambda r: self._on_tick(r.value)
        return out

    def sweep(self) -> list[Finding]:
        """Fire what is due at the clock's now and publish it (acks=all, keyed by case id)."""
        now = self.now()
        if now is None:
            return []
        out: list[Finding] = []
        for w in self.watches.values():
            out += due(w, now, self.cfg, self.cal)[1]
        return self._publish(out, f"{self.chain_group}/loop")
