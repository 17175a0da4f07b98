"""Working-day calendar (行政许可法 第82条) on real 2026 dates, and provisional years."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from streams.rules.calendar import TZ, WorkCalendar, end_of_day, load_calendar, local_date
from tests.support import calendar


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 2, 13), True),  # Friday before the Spring Festival
        (date(2026, 2, 14), True),  # working Saturday (调休)
        (date(2026, 2, 15), False),
        (date(2026, 2, 17), False),  # 春节
        (date(2026, 2, 23), False),  # Monday, still the holiday
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # working Saturday (调休)
        (date(2026, 3, 1), False),  # ordinary Sunday
        (date(2026, 9, 25), False),  # 中秋节 (Friday)
        (date(2026, 10, 1), False),  # 国庆节
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # working Saturday
        (date(2026, 10, 11), False),
    ],
)
def test_2026_holidays_and_adjusted_working_days(day: date, working: bool) -> None:
    assert calendar().is_workday(day) is working


def test_start_day_is_not_counted_and_spring_festival_is_skipped() -> None:
    cal = calendar()
    # Materials received Fri 13 Feb; 5 working days (art. 32): 14 Feb (Sat, 调休), 24, 25, 26, 27 Feb.
    assert cal.add_workdays(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert cal.add_workdays(date(2026, 2, 13), 2) == date(2026, 2, 24)
    assert cal.add_workdays(date(2026, 2, 13), 5) == date(2026, 2, 27)
    assert cal.add_workdays(date(2026, 2, 13), 6) == date(2026, 2, 28)
    assert cal.workdays_between(date(2026, 2, 13), date(2026, 2, 28)) == 6
    assert cal.add_workdays(date(2026, 2, 13), 0) == date(2026, 2, 13)


def test_mid_autumn_and_national_day_break() -> None:
    cal = calendar()
    assert cal.add_workdays(date(2026, 9, 24), 1) == date(2026, 9, 28)
    assert cal.add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cal.add_workdays(date(2026, 10, 9), 1) == date(2026, 10, 10)
    # 20 working days (art. 42) from Mon 21 Sep 2026, across both breaks: 22-24 Sep (3), 28-30 Sep (6),
    # 8-9 Oct (8), Sat 10 Oct (9), 12-16 Oct (14), 19-23 Oct (19), 26 Oct (20).
    assert cal.workdays_between(date(2026, 9, 21), date(2026, 10, 23)) == 19
    assert cal.add_workdays(date(2026, 9, 21), 20) == date(2026, 10, 26)


def test_a_year_without_published_data_is_provisional_not_monday_to_friday() -> None:
    cal = calendar()
    assert not cal.is_provisional(2026)
    assert cal.is_provisional(2027)
    assert not cal.is_workday(date(2027, 1, 1))  # fixed-date 元旦 still known
    assert not cal.is_workday(date(2027, 10, 1))
    assert cal.add_workdays(date(2026, 12, 30), 2) == date(2027, 1, 4)
    assert cal.provisional_between(date(2026, 12, 30), date(2027, 1, 4))
    assert not cal.provisional_between(date(2026, 3, 1), date(2026, 4, 1))


def test_override_file_publishes_a_year_and_changes_the_version(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "cal.yaml"
    f.write_text(
        "version: gov-2027\n"
        "years:\n"
        "  2027:\n"
        "    holidays: [2027-01-01, 2027-02-05, 2027-02-08]\n"
        "    workdays: [2027-02-06]\n",
        encoding="utf-8",
    )
    cal = load_calendar(f)
    assert not cal.is_provisional(2027)
    assert not cal.is_workday(date(2027, 2, 5))
    assert cal.is_workday(date(2027, 2, 6))  # a Saturday made a working day
    assert cal.is_workday(date(2027, 10, 1)) is False  # not listed: weekday minus fixed holidays
    assert cal.version.endswith(":gov-2027")
    assert cal.version != WorkCalendar().version


def test_override_rejects_a_date_under_the_wrong_year(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "cal.yaml"
    f.write_text("years:\n  2027:\n    holidays: [2028-01-01]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="2028-01-01 listed under year 2027"):
        load_calendar(f)


def test_naive_datetimes_are_refused_and_days_are_read_in_shanghai() -> None:
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2026, 3, 1, 12, 0))  # noqa: DTZ001 - the point of the test
    # 20:00 UTC on 1 March is already 2 March in Shanghai.
    from datetime import UTC

    assert local_date(datetime(2026, 3, 1, 20, 0, tzinfo=UTC)) == date(2026, 3, 2)
    assert end_of_day(date(2026, 3, 2)) == datetime(2026, 3, 3, 0, 0, tzinfo=TZ)


def test_out_of_range_dates_raise() -> None:
    with pytest.raises(ValueError, match="outside the calendar range"):
        calendar().is_workday(date(1999, 1, 1))
