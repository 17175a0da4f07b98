"""The simulated responses and decisions against the loop's rules: the oracle (sim/truth.py's loop truth) must
equal what loop.rules raises from the same messages, finding by finding, over Spring Festival and National Day."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from loop.config import LoopConfig
from loop.rules import Watch, apply, due
from schemas.findings import Finding
from sim.responses import RESPONSE_OVERDUE, Message, plan
from sim.truth import LoopExpected, read_loop_truth, write_loop_truth
from streams.rules.calendar import TZ, WorkCalendar
from tests.loop_support import finding

CFG, CAL = LoopConfig(), WorkCalendar()
UNTIL = datetime(2026, 11, 1, tzinfo=TZ)


def findings(n: int = 400) -> list[Finding]:
    rnd = random.Random(7)
    out = []
    for i in range(n):
        day = datetime(2026, 1, 20, tzinfo=TZ) + timedelta(days=rnd.randint(0, 260), hours=rnd.choice([0, 10, 16]))
        out.append(
            finding(
                day,
                severity=rnd.choice(["notice", "yellow", "yellow", "red"]),
                case=f"C{i}",
                staff=f"s-{i % 9}",
                dept=f"D{i % 5}",
            )
        )
    return out


def loop_outcome(f: Finding, messages: list[Message], at: datetime) -> tuple[list[tuple[str, str]], str]:
    w = Watch(f.finding_id, finding=f)
    for m in messages:
        if m.at <= at:
            apply(w, m, CFG)
    raised = due(w, at, CFG, CAL)[1]
    return sorted((x.rule, x.detected_at.isoformat()) for x in raised), (w.latest_outcome or "pending")


@pytest.mark.parametrize("at", [UNTIL, datetime(2026, 3, 1, tzinfo=TZ), datetime(2026, 10, 9, tzinfo=TZ)])
def test_the_loop_raises_exactly_what_the_truth_says(at: datetime) -> None:
    plans = [p for f in findings() if (p := plan(f, 3, CFG, CAL)) is not None]
    assert plans and all(p.finding.severity != "notice" for p in plans)  # notices need no answer
    for p in plans:
        truth = p.truth(at)
        raised, status = loop_outcome(p.finding, p.messages, at)
        assert raised == sorted(truth.supervision), (p.story, p.behaviour, p.finding.detected_at)
        assert status == truth.status


def test_every_behaviour_and_story_occurs_and_is_deterministic() -> None:
    plans = [p for f in findings() if (p := plan(f, 3, CFG, CAL)) is not None]
    assert set(Counter(p.behaviour for p in plans)) == {"on_time", "late", "missing"}
    assert set(Counter(p.story for p in plans)) == {
        "held_accountable",
        "appeal_accepted",
        "appeal_refused",
        "explained",
        "reminder_talk",
        "recommendation_done",
        "recommendation_late",
        "recommendation_ignored",
    }
    again = [plan(p.finding, 3, CFG, CAL) for p in plans]
    assert [p.messages for p in plans] == [q.messages for q in again if q is not None]
    late = [p for p in plans if p.behaviour in ("late", "missing")]
    assert all(RESPONSE_OVERDUE in {r for r, _ in p.truth(UNTIL).supervision} for p in late)


def test_a_late_response_over_the_spring_festival_fires_at_24_00_of_the_last_day() -> None:
    # Yellow, detected Fri 13 Feb 2026: 3 WD are Sat 14 Feb (调休, worked), Tue 24 and Wed 25 Feb.
    f = finding(datetime(2026, 2, 13, 10, tzinfo=TZ))
    p = next(q for seed in range(200) if (q := plan(f, seed, CFG, CAL)) and q.behaviour == "late")
    assert p.overdue[0] == (RESPONSE_OVERDUE, datetime(2026, 2, 26, tzinfo=TZ))
    assert p.messages[0].at > datetime(2026, 2, 26, tzinfo=TZ)


def test_the_truth_file_round_trips(tmp_path: Path) -> None:
    rows = [p.truth(UNTIL) for f in findings(60) if (p := plan(f, 3, CFG, CAL)) is not None]
    write_loop_truth(tmp_path / "t.jsonl", rows)
    back = read_loop_truth(tmp_path / "t.jsonl")
    assert sorted(rows, key=lambda e: e.finding_id) == back and isinstance(back[0], LoopExpected)
