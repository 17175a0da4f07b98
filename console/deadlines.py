"""A finding's answer deadline in working days, counted down from today (pure: today and the calendar are given)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from loop.config import LoopConfig
from loop.rules import deadline
from schemas.findings import Severity
from streams.rules.calendar import WorkCalendar, local_date


@dataclass(frozen=True)
class Countdown:
    """A finding's answer deadline (回告期限): its working days, its last day and what is left of it today."""

    working_days: int  # the period (回告期限), start day not counted
    last_day: date  # its last working day; due at 24:00 of it
    due_at: datetime
    remaining: int  # working days left, today included while it is a working day; negative: overdue by so many

    @property
    def label(self) -> str:
        """The countdown in Chinese: working days left (剩余), due (已到期) or overdue by so many (已超期)."""
        if self.remaining > 0:
            return f"剩余 {self.remaining} 个工作日"
        if self.remaining == 0:
            return "已到期"  # past the last day, no working day since (a weekend)
        return f"已超期 {-self.remaining} 个工作日"


def countdown(
    detected_at: datetime, severity: str, today: date, cfg: LoopConfig, cal: WorkCalendar
) -> Countdown | None:
    """None for a severity that needs no answer (notices)."""
    wd = cfg.response_wd.get(Severity(severity))
    if wd is None:
        return None
    last, due_at = deadline(detected_at, wd, cal)
    if today <= last:
        # The working days in [today, last] (the last counts whole: due at its 24:00); the detection day never
        # counts (the period starts the day after).
        remaining = cal.workdays_between(max(today - timedelta(days=1), local_date(detected_at)), last)
    else:
        remaining = -cal.workdays_between(last, today)
    return Countdown(wd, last, due_at, remaining)
