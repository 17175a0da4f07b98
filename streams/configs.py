"""The configurations a worker judges with: the files it was started with, and the adopted ones from their moments.

For each judging step the context is the one in effect at the step's moment (an event's time, a timer's
moment): the latest adoption per kind with ``effective_from`` ≤ the moment, else the start file
(streams/rules/schedule.py). One Context is built per distinct combination and kept, so its memo is reused.

A case's next due moment is computed with the context of the step that judged it and is *capped* at the
next boundary after that step: at a boundary every pending case wakes and is judged again under the
configuration that starts there. The rows' ``basis`` digests the start configuration and the whole
schedule, so a row written before an adoption has its due moment computed again when a partition is taken
over (streams/recovery.py).
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
from collections.abc import Callable
from datetime import datetime

from schemas.config import RuleConfig
from streams.rules import CaseState, Context, WorkCalendar
from streams.rules.clocks import next_due
from streams.rules.context import ItemLookup
from streams.rules.schedule import JUST_BEFORE, Adoption, Schedule


def basis_of(calendar: WorkCalendar, config: RuleConfig) -> str:
    """What a stored next-due moment was computed on without adoptions: calendar version and thresholds.
    A digest, not the text: it is in every row (the text is ~210 bytes, a fifth of an open case's row)."""
    text = f"{calendar.version}|{config.model_dump_json()}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class Contexts:
    """The start context, the schedule of adoptions, and one cached Context per combination in effect."""

    def __init__(self, base: Context) -> None:
        self.base = base
        self.catalog: ItemLookup = base.catalog
        self.schedule = Schedule()
        self.boundaries: list[datetime] = []
        self._built: dict[tuple[str, str], Context] = {("", ""): base}
        self._live: dict[datetime, Context] = {}  # the context in effect from each boundary
        self._start_basis = basis_of(base.calendar, base.config)
        self.basis = self._start_basis
        # Called with the moment of every adoption applied (the processor wakes the cases pending past it).
        self.listeners: list[Callable[[datetime], None]] = []

    def adopt(self, a: Adoption) -> None:
        """Add an adoption to the schedule (a new schedule; contexts already built stay cached). One already in
        it (the feed reading the topic again after a reconnect) changes nothing and wakes no case."""
        if any(
            x.version == a.version
            for x in self.schedule.by_kind.get(a.kind, ())
            if x.effective_from == a.effective_from
        ):
            return
        self.schedule = self.schedule.adopt(a)
        self.boundaries = self.schedule.boundaries()
        self._live = {}  # what is in effect from each boundary may have changed
        signature = "|".join(
            f"{kind}@{x.effective_from.isoformat()}={x.version}"
            for kind in sorted(self.schedule.by_kind)
            for x in self.schedule.by_kind[kind]
        )
        self.basis = hashlib.blake2b(f"{self._start_basis}|{signature}".encode(), digest_size=12).hexdigest()
        for listener in self.listeners:
            listener(a.effective_from)

    def at(self, moment: datetime) -> Context:
        """The context in effect at ``moment``, knowing the boundary it is in effect from (`Context.live_from`:
        it dates no finding before that boundary)."""
        if not self.boundaries:
            return self.base
        i = bisect.bisect_right(self.boundaries, moment)
        if i == 0:
            return self.base  # before the first adoption: the start files
        live_from = self.boundaries[i - 1]
        got = self._live.get(live_from)
        if got is not None:
            return got
        rules = self.schedule.in_effect("rules", moment)
        calendar = self.schedule.in_effect("calendar", moment)
        key = (rules.version if rules else "", calendar.version if calendar else "")
        ctx = self._built.get(key)
        if ctx is None:
            cal = calendar.value if calendar is not None and isinstance(calendar.value, WorkCalendar) else None
            cfg = rules.value if rules is not None and isinstance(rules.value, RuleConfig) else None
            ctx = self._built[key] = Context.build(cal or self.base.calendar, self.catalog, cfg or self.base.config)
        live = dataclasses.replace(ctx, live_from=live_from)
        object.__setattr__(live, "memo", ctx.memo)  # the same configuration: its pure results are the same
        self._live[live_from] = live
        return live

    def next_boundary(self, after: datetime) -> datetime | None:
        """The first moment after ``after`` from which the configuration changes, if any."""
        i = bisect.bisect_right(self.boundaries, after)
        return self.boundaries[i] if i < len(self.boundaries) else None

    def cap(self, due: datetime | None, judged_at: datetime) -> datetime | None:
        """A next due moment computed at ``judged_at``, brought forward to the next boundary after it.

        A case with nothing due stays out of the index (None is not capped), and `DeadlineIndex.cap` wakes only
        indexed cases at an adopted moment: such a case is judged again under the new configuration only at its
        next event. Deliberately: a milestone's existence depends on the thresholds only for the notice (the
        others exist under any configuration, and one already fired stays fired), so an open case with nothing
        due has fired its deadlines already, and the only timer a new configuration could give it is a notice
        of a deadline already past, a warning after the fact (`clocks.settle_notice` refuses those for the same
        reason). Waking such cases at a boundary would also mean decoding every row without a due moment."""
        nxt = self.next_boundary(judged_at)
        if nxt is None or (due is not None and due <= nxt):
            return due
        return nxt if due is not None else None

    def recomputed_due(self, state: CaseState, present: datetime) -> datetime | None:
        """A case's next due moment when its stored one cannot be trusted (computed on another schedule, or by
        a batch that failed). Computed under the configuration in effect at the case's last event, the last
        moment it was judged on its own, and capped at the next boundary after it, not under the one in effect
        at ``present``: a timer due before a boundary that the case has not yet reached (a worker down across
        the boundary) stays due, and the sweep fires it under the old configuration and then crosses the
        boundary (as `evaluate --schedule`). Timers the state already fired are not due again, so judging from
        that earlier moment only wakes a case sooner. ``present``: for a state without an event time."""
        moment = state.last_event_at or present
        return self.cap(next_due(state, self.at(moment)), moment)

    def crossings(self, now: datetime, after: datetime | None = None) -> list[datetime]:
        """The last moment before each boundary in (``after``, ``now``]: a sweep to ``now`` first sweeps to each
        of these, so that timers due before a boundary fire under the configuration in effect then."""
        lo = 0 if after is None else bisect.bisect_right(self.boundaries, after)
        hi = bisect.bisect_right(self.boundaries, now)
        return [b - JUST_BEFORE for b in self.boundaries[lo:hi]]

    def status(self) -> dict[str, object]:
        """For the status page: every adoption in the schedule, and the contexts built."""
        return {
            "adoptions": [
                {"kind": a.kind, "from": a.effective_from.isoformat(), "version": a.version, "audit_id": a.audit_id}
                for kind in sorted(self.schedule.by_kind)
                for a in self.schedule.by_kind[kind]
            ],
            "contexts": len(self._built),
            "basis": self.basis,
        }
