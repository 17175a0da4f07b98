"""Working days between two dates as ClickHouse SQL, from the rules engine's own calendar (art. 82).

ClickHouse has no holiday calendar, so the statutory holidays and the adjusted working weekends (调休) of a
window of years are written into the SQL as day numbers. Working days in (a, b] are the weekdays in it,
minus the holidays that fall on a weekday, plus the weekends that are working days — the same half-open
count as ``WorkCalendar.workdays_between`` (the start day is not counted).
"""

from __future__ import annotations

from datetime import date, timedelta

from streams.rules.calendar import WorkCalendar

# toRelativeDayNum('1970-01-05'): the first Monday of the day numbering, so weekday arithmetic starts on it.
_FIRST_MONDAY = 4


def exceptions(calendar: WorkCalendar, first_year: int, last_year: int) -> tuple[list[int], list[int]]:
    """Day numbers (days since 1970-01-01) of weekday holidays and of working weekend days in the years."""
    epoch = date(1970, 1, 1).toordinal()
    holidays: list[int] = []
    workdays: list[int] = []
    d, end = date(first_year, 1, 1), date(last_year, 12, 31)
    while d <= end:
        weekday = d.weekday() < 5
        work = calendar.is_workday(d)
        if weekday and not work:
            holidays.append(d.toordinal() - epoch)
        elif work and not weekday:
            workdays.append(d.toordinal() - epoch)
        d += timedelta(days=1)
    return holidays, workdays


def _weekdays_through(day: str) -> str:
    """Weekdays from 1970-01-05 up to and including `day` (a Date expression)."""
    n = f"(toInt64(toRelativeDayNum({day})) - {_FIRST_MONDAY} + 1)"
    return f"(5 * intDiv({n}, 7) + least(modulo({n}, 7), 5))"


def _count_through(day: str, days: list[int]) -> str:
    if not days:
        return "0"
    # One captured column per lambda: ClickHouse 18.16 loses the second column a lambda captures.
    return f"arrayCount(x -> x <= toRelativeDayNum({day}), [{', '.join(map(str, days))}])"


def workdays_between_sql(a: str, b: str, calendar: WorkCalendar, years: tuple[int, int]) -> str:
    """SQL for the working days in (a, b] of two Date expressions; 0 when b <= a.

    ClickHouse 18.16 prunes a subquery column that is used only inside a lambda: here `a` and `b` are
    always used outside one too (the weekday count), which keeps them.
    """
    holidays, workdays = exceptions(calendar, *years)
    return (
        f"if({b} <= {a}, 0, {_weekdays_through(b)} - {_weekdays_through(a)}"
        f" - ({_count_through(b, holidays)} - {_count_through(a, holidays)})"
        f" + ({_count_through(b, workdays)} - {_count_through(a, workdays)}))"
    )
