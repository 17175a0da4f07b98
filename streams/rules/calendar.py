"""Working-day calendar of mainland China (art. 82: periods are counted in working days).

Design: docs/architecture.md#the-working-day-calendar.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
from chinese_calendar import constants as _cc_constants

from schemas.yamlfile import load_mapping

TZ = ZoneInfo("Asia/Shanghai")
FIRST_YEAR = 2004
LAST_YEAR = 2040

# Fixed-date statutory holidays (全国年节及纪念日放假办法, as revised 2024); lunar ones cannot be
# known without the State Council's notice, which is exactly why such years are provisional.
_FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))


@dataclass(frozen=True)
class YearOverride:
    """One override-file year: the holidays and adjusted working days (调休) it sets, and whether it is provisional."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    provisional: bool = False


@dataclass
class WorkCalendar:
    """Answers working-day questions in O(1) from a precomputed index; immutable once built."""

    overrides: dict[int, YearOverride] = field(default_factory=dict)
    version: str = ""
    _base: int = 0
    _cum: list[int] = field(default_factory=list, repr=False)
    _days: list[int] = field(default_factory=list, repr=False)
    _provisional_years: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        pkg_years = {d.year for d in _cc_constants.holidays} | {d.year for d in _cc_constants.workdays}
        provisional = set()
        start = date(FIRST_YEAR, 1, 1)
        end = date(LAST_YEAR, 12, 31)
        self._base = start.toordinal()
        cum = 0
        cums: list[int] = []
        days: list[int] = []
        d = start
        one = timedelta(days=1)
        while d <= end:
            ov = self.overrides.get(d.year)
            if ov is not None:
                if ov.provisional:
                    provisional.add(d.year)
                if d in ov.holidays:
                    work = False
                elif d in ov.workdays:
                    work = True
                elif ov.provisional or d.year not in pkg_years:
                    work = d.weekday() < 5 and (d.month, d.day) not in _FIXED_HOLIDAYS
                else:
                    work = chinese_calendar.is_workday(d)
            elif d.year in pkg_years:
                work = chinese_calendar.is_workday(d)
            else:
                provisional.add(d.year)
                work = d.weekday() < 5 and (d.month, d.day) not in _FIXED_HOLIDAYS
            if work:
                cum += 1
                days.append(d.toordinal())
            cums.append(cum)
            d += one
        self._cum = cums
        self._days = days
        self._provisional_years = frozenset(provisional)
        if not self.version:
            self.version = _version(self.overrides)

    # ---- queries ------------------------------------------------------------------------------

    def _idx(self, d: date) -> int:
        i = d.toordinal() - self._base
        if i < 0 or i >= len(self._cum):
            raise ValueError(f"{d} is outside the calendar range {FIRST_YEAR}-{LAST_YEAR}")
        return i

    def is_workday(self, d: date) -> bool:
        """Whether ``d`` is a working day (an adjusted working weekend, 调休, is one)."""
        i = self._idx(d)
        return self._cum[i] != (self._cum[i - 1] if i else 0)

    def add_workdays(self, d: date, n: int) -> date:
        """The n-th working day after ``d`` (``d`` itself not counted); n=0 gives ``d``."""
        if n <= 0:
            return d
        k = self._cum[self._idx(d)] + n - 1
        if k >= len(self._days):
            raise ValueError(f"{n} working days after {d} is beyond {LAST_YEAR}")
        return date.fromordinal(self._days[k])

    def workdays_between(self, a: date, b: date) -> int:
        """Working days in the half-open interval (a, b]; 0 when b <= a."""
        if b <= a:
            return 0
        return self._cum[self._idx(b)] - self._cum[self._idx(a)]

    def is_provisional(self, year: int) -> bool:
        """Whether ``year``'s working days are estimated, not published (see the module docstring)."""
        return year in self._provisional_years

    def provisional_between(self, a: date, b: date) -> bool:
        """Whether any year from ``a`` to ``b`` (either order, both included) is provisional."""
        lo, hi = (a, b) if a <= b else (b, a)
        return any(y in self._provisional_years for y in range(lo.year, hi.year + 1))

    @property
    def provisional_years(self) -> frozenset[int]:
        """The years whose working days are estimated, not published."""
        return self._provisional_years

    def next_workday_on_or_after(self, d: date) -> date:
        """``d`` when it is a working day, else the first working day after it."""
        i = self._idx(d)
        k = bisect.bisect_left(self._days, d.toordinal())
        del i
        return date.fromordinal(self._days[k])


def local_date(dt: datetime) -> date:
    """The calendar date in Asia/Shanghai of an aware datetime."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every time in the platform must be timezone-aware")
    return dt.astimezone(TZ).date()


@functools.lru_cache(maxsize=4096)
def end_of_day(d: date) -> datetime:
    """24:00 of ``d`` in Asia/Shanghai (the instant a period ending on ``d`` runs out, 民法典 art. 203)."""
    return datetime.combine(d + timedelta(days=1), time(0, 0), tzinfo=TZ)


def _version(overrides: dict[int, YearOverride]) -> str:
    base = f"chinesecalendar-{getattr(chinese_calendar, '__version__', 'unknown')}"
    if not overrides:
        return base
    h = hashlib.sha256()
    for year in sorted(overrides):
        ov = overrides[year]
        h.update(f"{year}|{ov.provisional}|".encode())
        h.update(",".join(sorted(str(d) for d in ov.holidays)).encode())
        h.update(b"|")
        h.update(",".join(sorted(str(d) for d in ov.workdays)).encode())
    return f"{base}+override-{h.hexdigest()[:10]}"


def _dates(values: Any, where: str) -> frozenset[date]:
    if values is not None and not isinstance(values, list):
        raise ValueError(f"{where}: expected a list of ISO dates, got {type(values).__name__}")
    out = set()
    for v in values or []:
        if isinstance(v, date):
            out.add(v)
        else:
            try:
                out.add(date.fromisoformat(str(v)))
            except ValueError:
                raise ValueError(f"{where}: {str(v)[:40]!r} is not an ISO date") from None
    return frozenset(out)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):  # bool("no") is True: a quoted or misspelt flag must not flip a year
        raise ValueError(f"{where}: expected true or false, got {type(value).__name__}")
    return value


def load_calendar(path: str | Path | None = None) -> WorkCalendar:
    """The default calendar, extended or corrected by an override YAML file::

    version: gov-2027            # optional label recorded in every finding
    years:
      2027:
        holidays: [2027-01-01, ...]
        workdays: [2027-02-07, ...]   # adjusted working weekends (调休)
        provisional: false            # true while only a draft is known
    """
    if path is None:
        return WorkCalendar()
    return calendar_from_mapping(load_mapping(path), str(path))  # YamlFileError (a ValueError) names the file


def calendar_from_mapping(data: dict[str, Any], path: str) -> WorkCalendar:
    """`load_calendar` of a YAML document already read (an adopted calendar from Kafka); ``path`` names it."""
    unknown = sorted(str(k)[:40] for k in data if k not in ("version", "years"))
    if unknown:
        raise ValueError(f"{path}: {unknown[0]}: unknown key (expected version and years)")
    years = data.get("years") or {}
    if not isinstance(years, dict):
        raise ValueError(f"{path}: years: expected a mapping of year to holidays, workdays and provisional")
    overrides: dict[int, YearOverride] = {}
    for year, spec in years.items():
        if isinstance(year, bool) or not isinstance(year, int | str) or not str(year).isdigit() or len(str(year)) > 4:
            raise ValueError(f"{path}: years.{str(year)[:40]}: not a year")
        y = int(year)
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ValueError(f"{path}: years.{y}: expected a mapping with holidays, workdays and provisional")
        extra = sorted(str(k)[:40] for k in spec if k not in ("holidays", "workdays", "provisional"))
        if extra:
            raise ValueError(f"{path}: years.{y}.{extra[0]}: unknown key (expected holidays, workdays, provisional)")
        ov = YearOverride(
            holidays=_dates(spec.get("holidays"), f"{path}: years.{y}.holidays"),
            workdays=_dates(spec.get("workdays"), f"{path}: years.{y}.workdays"),
            provisional=_flag(spec.get("provisional", False), f"{path}: years.{y}.provisional"),
        )
        for d in ov.holidays | ov.workdays:
            if d.year != y:
                raise ValueError(f"{path}: {d} listed under year {y}")
        overrides[y] = ov
    label = data.get("version")
    cal = WorkCalendar(overrides=overrides)
    if label:
        cal.version = f"{cal.version}:{label}"
    return cal
