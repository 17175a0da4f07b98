"""The simulated complaints against the complaint rules: the oracle (sim/complaints.py's expected cards, from the
law's counting) must equal what complaints.rules raises from the same messages, over Spring Festival and
National Day, at several moments; every behaviour occurs; the complainant is sealed, never in clear."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest

from complaints.config import load_complaints_config
from complaints.contract import Received
from complaints.rules import Complaint, apply, due
from sim.complaints import BEHAVIOURS, ComplaintPlan, Office, plan_day
from streams.rules.calendar import TZ, WorkCalendar

CFG, CAL = load_complaints_config(), WorkCalendar()
OFFICES = [Office(f"D{i}", f"5117{i:02d}", (f"s-{i}-1", f"s-{i}-2")) for i in range(4)]


def plans() -> list[ComplaintPlan]:
    out = []
    for k in range(0, 300, 3):  # 100 days from mid-January 2026 across Spring Festival, and again over National Day
        for start in (date(2026, 1, 20), date(2026, 9, 1)):
            out += plan_day(start + timedelta(days=k % 60), 5, OFFICES, 2.0, CFG, CAL, prefix=f"CP{k}")
    return out


def raised(p: ComplaintPlan, at: datetime) -> list[tuple[str, str]]:
    c = Complaint(p.complaint_id)
    for m in p.messages:
        if m.at <= at:
            apply(c, m)
    return sorted((f.rule, f.detected_at.isoformat()) for f in due(c, at, CFG, CAL)[1])


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 2, 20, tzinfo=TZ),
        datetime(2026, 3, 10, 12, tzinfo=TZ),
        datetime(2026, 10, 9, tzinfo=TZ),
        datetime(2027, 1, 1, tzinfo=TZ),
    ],
)
def test_the_rules_raise_exactly_what_the_truth_says(at: datetime) -> None:
    ps = plans()
    assert len(ps) > 150
    for p in ps:
        want = sorted((r, m) for r, m in p.truth(at)["cards"])
        assert raised(p, at) == want, (p.complaint_id, p.behaviour)


def test_every_behaviour_occurs_deterministically_and_sealed() -> None:
    ps = plans()
    assert set(Counter(p.behaviour for p in ps)) == set(BEHAVIOURS)
    assert [p.messages for p in ps[:5]] == [p.messages for p in plans()[:5]]
    for p in ps:
        r = next(m for m in p.messages if isinstance(m, Received))
        assert r.complainant is not None and p.clear.name not in r.model_dump_json()
        assert p.clear.id_number not in r.model_dump_json()
    cards = Counter(r for p in ps for r, _ in p.cards)
    assert {
        "CMP_DISPATCH_LATE",
        "CMP_REPLY_LATE",
        "CMP_REPLY_LATE_RED",
        "CMP_EXTENDED_TOO_OFTEN",
        "CMP_UNSATISFIED_AGAIN",
        "CMP_UNSATISFIED_FINAL",
        "CMP_SUBSTANTIATED",
    } == set(cards)
