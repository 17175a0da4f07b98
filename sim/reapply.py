"""Withdraw-and-reapply: the applicant of a withdrawn case applies again for the same item, as a new case.

The new case is clean in itself; what it must raise is decided here, from the two events' times on the
calendar (`DQ_WITHDRAW_REAPPLY` when its application is at most ``reapply_window_wd`` working days after the
withdrawal's day), on the new case, against the staff who took the new application.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, time, timedelta

from sim.case import CaseBuilder
from sim.clock import TZ
from sim.lifecycle import Profile, build_case
from sim.province import County
from sim.truth import Expected

KIND = "withdraw_reapply"


def reapply(first: CaseBuilder, rnd: random.Random, county: County, profile: Profile, window_wd: int) -> CaseBuilder:
    """The new case of ``first``'s applicant (``first`` ended in a withdrawal), 0-3 working days later."""
    withdraw = next(e for e in first.events if e["kind"] == "withdraw")
    applicant = next(e for e in first.events if e["kind"] == "apply")["payload"]["applicant_id"]
    t1 = datetime.fromisoformat(withdraw["occurred_at"])
    k = rnd.randint(0, min(3, window_wd))  # working days after the withdrawal's day
    if k == 0:
        arrival = t1 + timedelta(minutes=rnd.randint(10, 120))
    else:
        day = first.cal.add_workdays(t1.astimezone(TZ).date(), k)
        arrival = datetime.combine(day, time(9), TZ) + timedelta(minutes=rnd.randint(0, 480))
    b = CaseBuilder(
        f"{first.case_id}-R", first.item, first.office, rnd, first.cal, first.th, known_item=first.known_item
    )
    # Straight to the window (no inquiry first): the application is the arrival.
    build_case(b, arrival, county, replace(profile, inquiry_only=0.0, inquiry_first=0.0))
    apply = next(e for e in b.events if e["kind"] == "apply")
    apply["payload"]["applicant_id"] = applicant
    b.violation = KIND
    t2 = datetime.fromisoformat(apply["occurred_at"])
    days = first.cal.workdays_between(t1.astimezone(TZ).date(), t2.astimezone(TZ).date())
    if t2 >= t1 and days <= window_wd:
        b.expected.append(Expected(b.case_id, "DQ_WITHDRAW_REAPPLY", str(apply["staff_id"]), KIND, apply["event_id"]))
    return b
