"""The deadline computation step by step, for the evidence dossier: every day from the start, and why it counts.

An independent walk, day by day, of what the engine computes from cumulative indexes
(streams.rules.clocks.counted_day): the start day is not counted (民法典 art. 201); rest days, holidays and
the working days inside a lawful suspension (art. 45, from its start until the day before resumption) are
skipped; adjusted working weekends (调休) count; the period ends at 24:00 of the last counted day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import chinese_calendar

from streams.rules.calendar import WorkCalendar
from streams.rules.state import Suspension

_ONE = timedelta(days=1)


@dataclass(frozen=True)
class Day:
    """One calendar day of a deadline's computation: whether it counted (its ordinal) and why."""

    day: date
    counted: int | None  # the ordinal of a counted working day, else None
    note: str  # why: working day, adjusted working day (调休), weekend, holiday (name), suspended (art. 45)


def _name(d: date) -> str | None:
    try:
        name: str | None = chinese_calendar.get_holiday_detail(d)[1]
        return name
    except NotImplementedError:  # a year the package does not know (provisional)
        return None


def walk(
    cal: WorkCalendar, start: date, days: int, suspensions: list[Suspension] | None = None, limit: int = 400
) -> tuple[list[Day], date | None]:
    """Each day after ``start`` until the ``days``-th counted one; the last day (None while suspended)."""
    out: list[Day] = []
    n, d = 0, start
    susp = suspensions or []
    while n < days and len(out) < limit:
        d += _ONE
        held = [s for s in susp if max(s.start, start + _ONE) <= d and (s.end is None or d < s.end)]
        if cal.is_workday(d):
            if held:
                open_ended = any(s.end is None for s in held)
                out.append(Day(d, None, "suspended (art. 45)" + (", not yet resumed" if open_ended else "")))
                if open_ended:
                    return out, None
                continue
            n += 1
            name = _name(d)
            note = f"adjusted working day (调休, {name})" if d.weekday() >= 5 else "working day"
            out.append(Day(d, n, note))
        else:
            name = _name(d)
            out.append(Day(d, None, f"holiday ({name})" if name else "weekend" if d.weekday() >= 5 else "holiday"))
    return out, (d if n == days else None)
