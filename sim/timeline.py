"""A case's timeline: its events in order at plausible moments, its legal periods, and when it can still act.

:class:`Timeline` knows the calendar and the periods running; :class:`sim.case.CaseBuilder` adds what each
kind of event means in law.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from schemas.catalog import CatalogItem
from sim.clock import TZ, LegalClock, Thresholds
from sim.province import Office, Staff
from sim.truth import Expected
from streams.rules.calendar import WorkCalendar

_MINUTE = timedelta(minutes=1)


class NoRoom(Exception):
    """A step that must come before a warning has no working day left for it (a generator defect)."""


class Timeline:
    """A case's events in order at plausible moments, its legal periods, who answers for it, and the calendar."""

    def __init__(
        self,
        case_id: str,
        item: CatalogItem,
        office: Office,
        rnd: random.Random,
        cal: WorkCalendar,
        th: Thresholds,
        *,
        known_item: bool = True,
        violation: str | None = None,
    ) -> None:
        self.case_id, self.item, self.office, self.rnd, self.cal, self.th = case_id, item, office, rnd, cal, th
        self.known_item = known_item
        self.violation = violation
        self.events: list[dict[str, Any]] = []
        self.expected: list[Expected] = []
        self.clocks: dict[str, LegalClock] = {}  # the current period of each kind
        self.periods: list[LegalClock] = []  # every period ever started, restarts included
        self.cursor: datetime | None = None
        self.responsible: str | None = None
        self.handovers: list[tuple[datetime, str]] = []  # (from when, who answers for the case's periods)
        self.hurry = False  # every step a few minutes after the last (a case entered in one sitting)

    # ---- time -----------------------------------------------------------------------------------------

    @property
    def day(self) -> date:
        """The date of the cursor: the moment of the case's latest step."""
        assert self.cursor is not None
        return self.cursor.date()

    def moment(self, day: date) -> datetime:
        """A moment on ``day`` in office hours, after the previous event (events of one case never tie)."""
        lo = datetime.combine(day, time(8, 30), TZ)
        hi = datetime.combine(day, time(17, 0), TZ)
        if self.hurry and self.cursor is not None and day == self.cursor.date():
            return self.cursor + self.rnd.randint(1, 3) * _MINUTE
        if self.cursor is not None:
            if day < self.cursor.date():
                raise ValueError(f"{self.case_id}: {day} is before the previous event {self.cursor}")
            lo = max(lo, self.cursor + _MINUTE)
        if lo >= hi:  # late on a busy day: a few minutes after the previous step
            t = lo + self.rnd.randint(0, 9) * _MINUTE
            assert t.date() == day and t.hour < 23, t
            return t
        return lo + self.rnd.randint(0, min(int((hi - lo) / _MINUTE), 180)) * _MINUTE

    def workday_from(self, day: date) -> date:
        """``day`` when it is a working day, else the first working day after it."""
        while not self.cal.is_workday(day):
            day += timedelta(days=1)
        return day

    def _first(self, not_before: date | None = None) -> date:
        first = self.workday_from(self.day)
        return max(first, self.workday_from(not_before)) if not_before else first

    def pick(
        self, limit: date | None, *, strict: bool = True, not_before: date | None = None, skew: float = 1.6
    ) -> date:
        """A working day from the current one up to ``limit``, early days likelier (most files move fast)."""
        first = self._first(not_before)
        if limit is None or first > limit:
            if strict:
                raise NoRoom(f"{self.case_id}: no working day from {first} to {limit}")
            return first
        days = [first]
        d = first
        while (d := d + timedelta(days=1)) <= limit:
            if self.cal.is_workday(d):
                days.append(d)
        return days[int(len(days) * self.rnd.random() ** skew)]

    def at_or_after(self, day: date | None) -> date:
        """``day``, or the first working day the case can still act on if that is already past."""
        first = self._first()
        return first if day is None or day < first else self.workday_from(day)

    def within(self, days: int) -> date:
        """A working day within ``days`` calendar days of the current one (no period at stake)."""
        return self.pick(self.day + timedelta(days=days), strict=False)

    def safe(self, *names: str) -> date:
        """The last day the named running periods all allow before their first warning."""
        days = [
            d
            for n in names
            if (c := self.clocks.get(n)) and c.stop is None and (d := c.safe_until(self.cal, self.th)) is not None
        ]
        if not days:
            raise NoRoom(f"{self.case_id}: no running period among {names}")
        return min(days)

    # ---- events ---------------------------------------------------------------------------------------

    def emit(
        self,
        kind: str,
        when: datetime,
        staff: Staff | str,
        payload: dict[str, Any] | None = None,
        *,
        office: Office | None = None,
    ) -> dict[str, Any]:
        """Append an event as a department system sends it (recorded minutes to hours later); move the cursor."""
        staff_id = staff if isinstance(staff, str) else staff.staff_id
        office = office or self.office
        lag = (self.rnd.randint(1, 30) if self.rnd.random() < 0.85 else self.rnd.randint(60, 480)) * _MINUTE
        event = {
            "schema_version": 1,
            "event_id": f"{self.case_id}-{len(self.events) + 1:02d}",
            "case_id": self.case_id,
            "item_code": self.item.code,
            "department_id": office.department_id,
            "region_code": office.region_code,
            "staff_id": staff_id,
            "kind": kind,
            "occurred_at": when.isoformat(),
            "recorded_at": (when + lag).isoformat(),
            "payload": payload or {},
        }
        if not self.events and not self.known_item:
            self._expect("DQ_UNKNOWN_ITEM", staff_id, event)
        self.events.append(event)
        self.cursor = when
        return event

    def _expect(self, rule: str, staff_id: str, event: dict[str, Any] | None = None, **kw: Any) -> None:
        self.expected.append(
            Expected(self.case_id, rule, staff_id, self.violation or "", event["event_id"] if event else None, **kw)
        )

    def _answerable(self, when: datetime, staff_id: str) -> None:
        self.responsible = staff_id
        self.handovers.append((when, staff_id))

    def responsible_at(self, moment: datetime) -> str:
        """Who answers for a warning reached at ``moment``: the last handover before it."""
        return [who for when, who in self.handovers if when < moment][-1]

    def _stop(self, when: datetime, *names: str) -> None:
        for name in names or tuple(self.clocks):
            clock = self.clocks.get(name)
            if clock is not None and clock.stop is None:
                clock.stop = when

    def _start(self, clock: LegalClock) -> LegalClock:
        self.clocks[clock.name] = clock
        self.periods.append(clock)
        return clock

    @property
    def last_day(self) -> date:
        """The day the last event occurred."""
        return datetime.fromisoformat(self.events[-1]["occurred_at"]).date()
