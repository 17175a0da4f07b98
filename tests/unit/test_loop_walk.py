"""The dossier's day-by-day deadline equals the engine's, across the 2026 Spring Festival and National Day."""

from __future__ import annotations

from datetime import date, timedelta

from loop.walk import walk
from schemas.catalog import Catalog
from schemas.config import RuleConfig
from streams.rules.calendar import WorkCalendar
from streams.rules.clocks import deadline_of
from streams.rules.context import Context
from streams.rules.state import Clock, Suspension

CAL = WorkCalendar()
CTX = Context.build(CAL, Catalog(items=[]), RuleConfig())


def engine(start: date, statutory: int, extension: int, susp: list[Suspension]) -> date | None:
    clock = Clock(
        key="decision#1", name="decision", start=start, statutory=statutory, extension=extension, suspensions=susp
    )
    return deadline_of(clock, CTX)


def test_spring_festival_by_hand() -> None:
    days, last = walk(CAL, date(2026, 2, 12), 3)
    assert last == date(2026, 2, 24)
    assert [(d.day.day, d.counted) for d in days if d.counted] == [(13, 1), (14, 2), (24, 3)]
    assert days[1].note == "adjusted working day (调休, Spring Festival)"
    assert days[2].note == "holiday (Spring Festival)"


def test_equal_to_the_engine_across_both_holidays() -> None:
    starts = [date(2026, 2, 1) + timedelta(days=i) for i in range(40)]
    starts += [date(2026, 9, 15) + timedelta(days=i) for i in range(30)]
    checked = 0
    for start in starts:
        for statutory, extension in ((1, 0), (3, 0), (5, 0), (20, 0), (20, 10)):
            for susp in (
                [],
                [Suspension(start + timedelta(days=2), start + timedelta(days=9), "s1")],
                [
                    Suspension(start, start + timedelta(days=3), "s1"),
                    Suspension(start + timedelta(days=12), start + timedelta(days=13), "s2"),
                ],
                [Suspension(start + timedelta(days=4), None, "open")],
            ):
                _, last = walk(CAL, start, statutory + extension, susp)
                assert last == engine(start, statutory, extension, susp), (start, statutory, extension, susp)
                checked += 1
    assert checked == 70 * 5 * 4
