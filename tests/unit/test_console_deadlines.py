"""The inbox's countdown in working days: the law's way (start day not counted, the last day whole), holidays."""

from __future__ import annotations

from datetime import date

from console.deadlines import countdown
from loop.config import LoopConfig
from streams.rules.calendar import WorkCalendar
from tests.loop_support import t

CAL, CFG = WorkCalendar(), LoopConfig()


def test_yellow_counts_three_working_days_over_a_weekend() -> None:
    # Wed 3 June 2026: Thu 4, Fri 5, Mon 8 June; due 24:00 of 8 June.
    detected = t(2026, 6, 3, 10)
    days = {d: countdown(detected, "yellow", date(2026, 6, d), CFG, CAL) for d in (3, 4, 5, 6, 8, 9, 10)}
    assert {d: c.remaining for d, c in days.items() if c} == {3: 3, 4: 3, 5: 2, 6: 1, 8: 1, 9: -1, 10: -2}
    c = days[4]
    assert c is not None and c.last_day == date(2026, 6, 8) and c.due_at == t(2026, 6, 9)
    assert c.label == "剩余 3 个工作日" and days[9] is not None and days[9].label == "已超期 1 个工作日"


def test_red_over_national_day_and_notices_need_no_answer() -> None:
    # Red, Wed 30 Sep 2026: 1-7 October are holidays, so its one working day is Thu 8 October.
    c = countdown(t(2026, 9, 30, 16), "red", date(2026, 10, 2), CFG, CAL)
    assert c is not None and c.last_day == date(2026, 10, 8) and c.remaining == 1
    # Overdue on Saturday 10 October by two working days: Friday 9 and that Saturday (调休, worked).
    past = countdown(t(2026, 9, 30, 16), "red", date(2026, 10, 10), CFG, CAL)
    assert past is not None and past.remaining == -2
    assert countdown(t(2026, 9, 30, 16), "notice", date(2026, 10, 2), CFG, CAL) is None
