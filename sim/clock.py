"""The oracle's legal periods, counted day by day from the working-day calendar (independent of the engine).

A period's start day is not counted (民法典 art. 201): day 1 is the first working day after it, and day k
runs out at 24:00 of the k-th counted working day (art. 203). Working days from the day a special procedure
starts until the day before it ends are not counted (行政许可法 art. 45); an open procedure holds the period.

Warnings follow the platform's published thresholds: a notice once ``notice_share`` of the stricter limit
is used (rounded up), a yellow card when a stricter promise (承诺) runs out and another at the statutory
limit, a red card ``follow_up_wd`` working days later. Each fires once, at the end of the first day it is
reached under the limits in force that day; an extension granted later never dates a warning before it,
and a notice whose limit has already run out is not given at all. Acceptance ends in deemed acceptance (art. 32(4)) and
a decision on an item with 超时默认 in deemed approval; neither turns red.
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
    name: str  # notice | promise | statutory | red
    day: date  # it is reached at 24:00 of this day
    deadline: date  # the last day of the limit it warns about or breaks


@dataclass(frozen=True)
class Thresholds:
    notice_share: Fraction
    follow_up_wd: int

    @classmethod
    def of(cls, notice_share: float, follow_up_wd: int) -> Thresholds:
        # Decimal semantics on purpose: 70 % of 10 days is 7 days, whatever binary floats make of 0.7 * 10.
        return cls(Fraction(str(notice_share)), follow_up_wd)


@dataclass
class LegalClock:
    name: str  # accept | review | decision | delivery
    start: date
    statutory: int
    promised: int | None = None
    deemed: bool = False  # a decision period whose end counts as approval (超时默认)
    extensions: list[tuple[datetime, int]] = field(default_factory=list)  # lawful ones: (granted at, days)
    suspensions: list[list[date | None]] = field(default_factory=list)  # [first day held, day counting resumes)
    stop: datetime | None = None  # the event that ended it; None while it runs

    def __post_init__(self) -> None:
        if self.promised is not None and self.promised >= self.statutory:
            self.promised = None  # a promise no stricter than the law is just the law

    # ---- counting -----------------------------------------------------------------------------------

    def counts(self, day: date, cal: WorkCalendar, known_until: date | None = None) -> bool:
        if day <= self.start or not cal.is_workday(day):
            return False
        for lo, hi in self.suspensions:
            assert lo is not None
            if known_until is not None and lo > known_until:
                continue
            if lo <= day and (hi is None or day < hi):
                return False
        return True

    def held_from(self, day: date) -> bool:
        return any(lo is not None and lo <= day and hi is None for lo, hi in self.suspensions)

    def extension(self, before: datetime | None = None) -> int:
        return sum(days for when, days in self.extensions if before is None or when < before)

    def day_of(self, k: int, cal: WorkCalendar, known_until: date | None = None) -> date | None:
        """The day on which the k-th counted working day falls (k=0: the start day); None while held."""
        if k <= 0:
            return self.start
        used, day = 0, self.start
        for _ in range(HORIZON_DAYS):
            day += ONE_DAY
            if self.counts(day, cal, known_until):
                used += 1
                if used == k:
                    return day
            elif known_until is None and self.held_from(day):
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
        if self.name != "accept" and not self.deemed:
            out["red"] = self.statutory + ext + th.follow_up_wd
        return out

    def first_warning(self, th: Thresholds) -> int:
        return min(self.limits(self.extension(), th).values())

    def safe_until(self, cal: WorkCalendar, th: Thresholds) -> date | None:
        """The last day an event can stop this period with no warning at all (None: held open)."""
        return self.day_of(self.first_warning(th), cal)

    def statutory_day(self, cal: WorkCalendar) -> date | None:
        return self.day_of(self.statutory + self.extension(), cal)

    # ---- what fires -----------------------------------------------------------------------------------

    def milestones(self, cal: WorkCalendar, th: Thresholds, at: datetime) -> list[Milestone]:
        """Every warning reached by ``at`` and before the period was stopped, walking one day at a time."""
        fired: dict[str, Milestone] = {}
        used, day = 0, self.start
        for _ in range(HORIZON_DAYS):
            day += ONE_DAY
            moment = end_of(day)
            if moment > at or (self.stop is not None and moment > self.stop):
                break
            used += self.counts(day, cal)
            ext = self.extension(before=moment)
            for name, k in sorted(self.limits(ext, th).items(), key=lambda nk: ORDER.index(nk[0])):
                if name in fired or used < k:
                    continue
                if name == "notice" and used >= self.allowed(ext):
                    continue  # "due soon" about a limit already run out is no warning: the breach says it
                fired[name] = Milestone(name, day, self._deadline(name, day, ext, fired, cal))
                if name == "statutory" and (self.name == "accept" or self.deemed):
                    return list(fired.values())  # deemed accepted / deemed approved: the period is over
            if "red" in fired or self.held_from(day):
                break
        return list(fired.values())

    def _deadline(self, name: str, day: date, ext: int, fired: dict[str, Milestone], cal: WorkCalendar) -> date:
        if name == "notice":
            # Warned about the stricter limit as it stands that day: later suspensions are not known yet.
            projected = self._known_on(day, ext).day_of(self.allowed(ext), cal, known_until=day)
            assert projected is not None
            return projected
        if name == "red":
            return fired["statutory"].day
        return day

    def _known_on(self, day: date, ext: int) -> LegalClock:
        return LegalClock(self.name, self.start, self.statutory, self.promised, self.deemed,
                          [(datetime.min.replace(tzinfo=TZ), ext)] if ext else [],
                          [s for s in self.suspensions if s[0] is not None and s[0] <= day])  # fmt: skip

    def provisional(self, cal: WorkCalendar, until: date) -> bool:
        """Whether the period touches a year whose holidays are not published yet."""
        return any(cal.is_provisional(y) for y in range(self.start.year, until.year + 1))
