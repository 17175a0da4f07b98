"""The oracle's legal periods, counted day by day from the working-day calendar (independent of the engine).

Design: docs/architecture.md#the-simulators-oracle-of-legal-periods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from streams.rules.calendar import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
ONE_DAY = timedelta(days=1)
ORDER = ("notice", "promise", "statutory", "red")
HORIZON_DAYS = 3 * 366  # no period in the catalog comes near this


def end_of(day: date) -> datetime:
    """24:00 of ``day`` in Beijing time: the moment a period ending that day runs out."""
    return datetime.combine(day + ONE_DAY, time(0), tzinfo=TZ)


@dataclass(frozen=True)
class Milestone:
    """A warning a period reaches: its name, the day whose end reaches it, when it fires and the limit's last day."""

    name: str  # notice | promise | statutory | red
    day: date  # the day whose end reaches it
    at: datetime  # when it fires: 24:00 of ``day``, or the extension that made it due
    deadline: date | None  # the last day of the limit it warns about or breaks (None: held by a procedure)


@dataclass
class Pause:
    """A special procedure (art. 45): days from ``start`` until the day before ``end`` are not counted."""

    start: date
    end: date | None = None  # None while the procedure runs: the period is held
    started_at: datetime | None = None  # the events, to know what was known at a given moment
    ended_at: datetime | None = None

    def holds(self, day: date) -> bool:
        """Whether the procedure holds ``day`` (from its start until the day before its end)."""
        return self.start <= day and (self.end is None or day < self.end)

    def as_known_at(self, moment: datetime) -> Pause | None:
        """This procedure as the case's events up to ``moment`` tell it (None: not started yet)."""
        if self.started_at is not None and self.started_at >= moment:
            return None
        if self.ended_at is not None and self.ended_at >= moment:
            return Pause(self.start, None, self.started_at)
        return self


@dataclass(frozen=True)
class Thresholds:
    """The warning thresholds the oracle counts with: notice share, follow-up days, back-dating, batch, suspension."""

    notice_share: Fraction
    follow_up_wd: int
    backdating_hours: float = 24.0
    batch_min_events: int = 3
    batch_window_minutes: float = 60.0
    suspension_share: Fraction = Fraction(1)

    @classmethod
    def of(cls, notice_share: float, follow_up_wd: int, **more: float) -> Thresholds:
        """Thresholds from plain numbers, the shares taken as exact decimals (70 % of 10 days is 7)."""
        # Decimal semantics on purpose: 70 % of 10 days is 7 days, whatever binary floats make of 0.7 * 10.
        share = more.pop("suspension_share", 1.0)
        return cls(Fraction(str(notice_share)), follow_up_wd, suspension_share=Fraction(str(share)), **more)  # type: ignore[arg-type]


@dataclass
class LegalClock:
    """One legal period of a case (accept, review, decision, delivery or a step), counted in working days."""

    name: str  # accept | review | decision | delivery | step_review | step_decision
    start: date
    statutory: int
    promised: int | None = None
    deemed: bool = False  # a decision period whose end counts as approval (超时默认)
    extensions: list[tuple[datetime, int]] = field(default_factory=list)  # lawful ones: (granted at, days)
    suspensions: list[Pause] = field(default_factory=list)
    stop: datetime | None = None  # the event that ended it; None while it runs

    def __post_init__(self) -> None:
        if self.promised is not None and self.promised >= self.statutory:
            self.promised = None  # a promise no stricter than the law is just the law

    # ---- counting -----------------------------------------------------------------------------------

    def counts(self, day: date, cal: WorkCalendar) -> bool:
        """Whether ``day`` counts towards the period: a working day after the start not held by a procedure."""
        return day > self.start and cal.is_workday(day) and not any(s.holds(day) for s in self.suspensions)

    def held_from(self, day: date) -> bool:
        """Whether a procedure begun on or before ``day`` still holds the period open (no end yet)."""
        return any(s.start <= day and s.end is None for s in self.suspensions)

    def extension(self, before: datetime | None = None) -> int:
        """The days of lawful extension, all of them or those granted before ``before``."""
        return sum(days for when, days in self.extensions if before is None or when < before)

    def day_of(self, k: int, cal: WorkCalendar) -> date | None:
        """The day on which the k-th counted working day falls (k=0: the start day); None while held."""
        if k <= 0:
            return self.start
        used, day = 0, self.start
        for _ in range(HORIZON_DAYS):
            day += ONE_DAY
            if self.counts(day, cal):
                used += 1
                if used == k:
                    return day
            elif self.held_from(day):
                return None
        raise ValueError(f"{self.name}: {k} working days after {self.start} is beyond the horizon")

    def used_on(self, day: date, cal: WorkCalendar) -> int:
        """Working days counted from the start up to and including ``day``."""
        used, d = 0, self.start
        while d < day:
            d += ONE_DAY
            used += self.counts(d, cal)
        return used

    # ---- limits -------------------------------------------------------------------------------------

    def allowed(self, ext: int) -> int:
        """Working days allowed: the promise (else the statutory limit) plus ``ext`` days of extension."""
        return (self.promised if self.promised is not None else self.statutory) + ext

    def limits(self, ext: int, th: Thresholds) -> dict[str, int]:
        """Working days used at which each warning is due, with ``ext`` days of lawful extension."""
        allowed = self.allowed(ext)
        out: dict[str, int] = {}
        notice = max(1, math.ceil(th.notice_share * allowed))
        if notice < allowed:
            out["notice"] = notice
        if self.promised is not None:
            out["promise"] = self.promised + ext
        out["statutory"] = self.statutory + ext
        if self.name.startswith("step_"):
            out.pop("promise", None)  # a step (环节时限) has only the department's promise: notice, then yellow
            return out
        if self.name != "accept" and not self.deemed:
            out["red"] = self.statutory + ext + th.follow_up_wd
        return out

    def first_warning(self, th: Thresholds) -> int:
        """Working days used at which the first warning of the period is due."""
        return min(self.limits(self.extension(), th).values())

    def safe_until(self, cal: WorkCalendar, th: Thresholds) -> date | None:
        """The last day an event can stop this period with no warning at all (None: held open)."""
        return self.day_of(self.first_warning(th), cal)

    def statutory_day(self, cal: WorkCalendar) -> date | None:
        """The last day of the statutory limit with the lawful extensions (None while held)."""
        return self.day_of(self.statutory + self.extension(), cal)

    # ---- what fires -----------------------------------------------------------------------------------

    def milestones(self, cal: WorkCalendar, th: Thresholds, at: datetime) -> list[Milestone]:
        """Every warning reached by ``at`` and before the period was stopped, walking one day at a time."""
        fired: dict[str, Milestone | None] = {}  # None: passed over without a finding
        used, day = 0, self.start
        for _ in range(HORIZON_DAYS):
            day += ONE_DAY
            for when, _ in self.extensions:
                if when.astimezone(TZ).date() == day and when <= at and "notice" not in fired:
                    self._notice_on_extension(when, used, day, fired, cal, th)
            moment = end_of(day)
            if moment > at or (self.stop is not None and moment > self.stop):
                break
            used += self.counts(day, cal)
            ext = self.extension(before=moment)
            for name, k in sorted(self.limits(ext, th).items(), key=lambda nk: ORDER.index(nk[0])):
                if name in fired or used < k:
                    continue
                fired[name] = Milestone(name, day, moment, self._deadline(name, moment, ext, fired, cal))
                if name == "statutory" and (self.name == "accept" or self.deemed):
                    return [m for m in fired.values() if m]  # deemed accepted / approved: the period is over
            if "red" in fired or self.held_from(day):
                break
        return [m for m in fired.values() if m]

    def _notice_on_extension(
        self,
        when: datetime,
        used: int,
        day: date,
        fired: dict[str, Milestone | None],
        cal: WorkCalendar,
        th: Thresholds,
    ) -> None:
        """An extension raises the limits, so a notice the shorter limit never had may already be due:
        it is given at the extension — or not at all if the extended limit has run out too."""
        ext = sum(d for w, d in self.extensions if w <= when)
        k = self.limits(ext, th).get("notice")
        if k is None or used < k:
            return  # not due yet: it comes at the end of a later day, like any notice
        if used >= self.allowed(ext):
            fired["notice"] = None  # announcing a deadline already gone warns of nothing
            return
        reached = self.day_of(k, cal)
        assert reached is not None
        fired["notice"] = Milestone("notice", reached, when, self._deadline("notice", when, ext, {}, cal))

    def _deadline(
        self, name: str, moment: datetime, ext: int, fired: dict[str, Milestone | None], cal: WorkCalendar
    ) -> date | None:
        if name == "notice":
            # It announces the stricter limit as it stands then: later procedures are not known yet, and one
            # still running leaves the last day open.
            return self._known_at(moment, ext).day_of(self.allowed(ext), cal)
        if name == "red":
            statutory = fired["statutory"]
            assert statutory is not None
            return statutory.day
        return (moment - ONE_DAY).date()

    def _known_at(self, moment: datetime, ext: int) -> LegalClock:
        known = [p for s in self.suspensions if (p := s.as_known_at(moment)) is not None]
        return LegalClock(
            self.name, self.start, self.statutory, self.promised, self.deemed, [(moment, ext)] if ext else [], known
        )

    def held_workdays(self, cal: WorkCalendar) -> int:
        """Working days after the start that ended procedures held (art. 45), counted day by day."""
        ended = [s for s in self.suspensions if s.end is not None]
        if not ended:
            return 0
        last = max(s.end for s in ended if s.end is not None)
        n, day = 0, self.start
        while day < last:
            day += ONE_DAY
            n += cal.is_workday(day) and any(s.holds(day) for s in ended)
        return n

    def provisional(self, cal: WorkCalendar, until: date) -> bool:
        """Whether the period touches a year whose holidays are not published yet."""
        return any(cal.is_provisional(y) for y in range(self.start.year, until.year + 1))
