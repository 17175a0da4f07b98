"""The dossier walks the period the finding's rule used (promised, statutory, step, follow-up), and its last day is
the finding's deadline, for every timer rule over periods across the 2026 Spring Festival and National Day."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from loop.basis import of_files
from loop.config import LoopConfig
from loop.dossier import warnings
from loop.period import TIMER_RULES, computation, deadline_day
from loop.rules import RECOMMENDATION_RULE, RESPONSE_RULE, Recommendation, Watch, pending
from schemas.catalog import parse_catalog
from schemas.config import RuleConfig
from schemas.events import CaseEvent, parse_event
from schemas.findings import Finding, Severity
from streams.rules import Context, evaluate
from streams.rules.calendar import TZ, WorkCalendar, YearOverride, end_of_day

CAL = WorkCalendar()
_BASE = {"department_id": "D1"}
ITEMS: list[dict[str, Any]] = [
    # every limit promised below the law's, steps, a preliminary review
    {
        "code": "PROM",
        "name": "承诺事项",
        "limits": {
            "accept": {"statutory": 5, "promised": 3},
            "decision": {"statutory": 20, "promised": 10},
            "delivery": {"statutory": 10, "promised": 5},
            "review": {"statutory": 20, "promised": 8},
        },
        "steps": {"review": 8, "decision": 6},
    },
    # the law's limits only, with deemed approval (超时默认)
    {"code": "LAW", "name": "法定事项", "deemed_approval": {"basis": "某市政府规章第12条"}},
    # joint handling: 45 + 15 working days
    {
        "code": "JOINT",
        "name": "联合办理",
        "joint_handling": True,
        "limits": {"decision": {"statutory": 45, "promised": 30}},
    },
]
CATALOG = parse_catalog({"items": [{**_BASE, **i} for i in ITEMS]})
CTX = Context.build(CAL, CATALOG, RuleConfig())
_ids = itertools.count(1)


def ev(case: str, item: str, kind: str, when: datetime, staff: str = "s1", **payload: Any) -> CaseEvent:
    return parse_event(
        {
            "event_id": f"e{next(_ids)}",
            "case_id": case,
            "item_code": item,
            "department_id": "D1",
            "region_code": "511702",
            "staff_id": staff,
            "kind": kind,
            "occurred_at": when.isoformat(),
            "recorded_at": (when + timedelta(minutes=1)).isoformat(),
            "payload": payload,
        }
    )


def histories(start: date) -> list[list[CaseEvent]]:
    """Cases starting on ``start`` that leave every kind of clock running into its milestones."""
    t = datetime(start.year, start.month, start.day, 9, 0, tzinfo=TZ)
    out = []
    for item in ("PROM", "LAW", "JOINT"):
        c = f"{item}-{start}"
        out.append([ev(c + "-a", item, "apply", t)])  # never accepted: acceptance, then deemed acceptance
        out.append(  # accepted, suspended a while, extended lawfully, never decided
            [
                ev(c + "-s", item, "apply", t),
                ev(c + "-s", item, "accept", t + timedelta(hours=1)),
                ev(c + "-s", item, "suspend", t + timedelta(days=3), procedure="expert_review", reason="专家评审"),
                ev(c + "-s", item, "resume", t + timedelta(days=9)),
                ev(c + "-s", item, "extend", t + timedelta(days=12), days=5, approver_id="head"),
            ]
        )
        out.append(  # reviewed late, approved, never delivered
            [
                ev(c + "-d", item, "apply", t),
                ev(c + "-d", item, "accept", t + timedelta(hours=1)),
                ev(c + "-d", item, "review", t + timedelta(days=6), conditions_met=[]),
                ev(c + "-d", item, "approve", t + timedelta(days=20), staff="s2"),
            ]
        )
    return out


def starts() -> list[date]:
    spring = [date(2026, 1, 20) + timedelta(days=i) for i in range(36)]  # holiday 15-23 Feb, 调休 14 and 28 Feb
    national = [date(2026, 9, 10) + timedelta(days=i) for i in range(30)]  # holiday 1-8 Oct, 调休 20 Sep, 10 Oct
    return spring + national


def _findings() -> tuple[list[Finding], dict[str, list[CaseEvent]]]:
    events = [e for s in starts() for h in histories(s) for e in h]
    by_case: dict[str, list[CaseEvent]] = {}
    for e in events:
        by_case.setdefault(e.case_id, []).append(e)
    found = evaluate(events, CTX, datetime(2027, 1, 31, tzinfo=TZ)).findings
    return [f for f in found if f.rule in TIMER_RULES], by_case


TIMERS, EVENTS = _findings()


def test_every_timer_rule_ends_on_the_findings_deadline() -> None:
    seen: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for f in TIMERS:
        comp = computation(f, EVENTS[f.case_id], CTX)
        assert comp["warnings"] == [], (f.rule, f.case_id, comp["warnings"])
        assert comp["last_day"] == deadline_day(f).isoformat(), (f.rule, f.case_id, comp["why"])  # type: ignore[union-attr]
        assert comp["deadline_at"] == f.deadline.isoformat() and comp["agrees_with_finding"]  # type: ignore[union-attr]
        counted = [d for d in comp["days"] if d["counted"]]
        assert counted[comp["working_days"] - 1]["day"] == comp["last_day"]
        assert "last day of the period" in counted[comp["working_days"] - 1]["note"]
        # The moment the finding was raised is the milestone day's 24:00 (a notice an extension made late: at once).
        fired = end_of_day(date.fromisoformat(comp["milestone_day"]))
        assert fired == f.detected_at or (comp["milestone"] == "notice" and fired < f.detected_at), f
        seen[f.rule] += 1
        sources[comp["limit_source"]] += 1
    assert set(seen) == TIMER_RULES, TIMER_RULES - set(seen)
    assert sources.keys() == {"promised", "statutory", "step_promise"}
    # The periods cross both holidays, and some are suspended or extended.
    lasts = {deadline_day(f) for f in TIMERS}
    assert any(date(2026, 2, 24) <= d <= date(2026, 3, 10) for d in lasts if d)
    assert any(date(2026, 10, 9) <= d <= date(2026, 10, 20) for d in lasts if d)
    with_both = [f for f in TIMERS if f.details.get("extension_wd") and f.details.get("suspended_wd")]
    assert with_both


def test_a_promise_is_walked_as_the_promise_not_the_statutory_period() -> None:
    # The example: 10 working days promised from Mon 9 Feb 2026 end on Sat 28 Feb (调休), not 13 Mar.
    t = datetime(2026, 2, 9, 10, tzinfo=TZ)
    events = [ev("X", "PROM", "apply", t), ev("X", "PROM", "accept", t + timedelta(minutes=5))]
    found = evaluate(events, CTX, datetime(2026, 4, 30, tzinfo=TZ)).findings
    f = next(x for x in found if x.rule == "TIME_DECISION_PROMISE_BREACHED")
    comp = computation(f, events, CTX)
    assert comp["last_day"] == "2026-02-28" == deadline_day(f).isoformat()  # type: ignore[union-attr]
    assert comp["limit_source"] == "promised" and comp["working_days"] == 10
    assert "promised limit" in comp["why"]


def test_the_loops_periods_end_on_the_supervision_findings_deadline() -> None:
    cfg = LoopConfig()
    seen: Counter[str] = Counter()
    for f in TIMERS:
        if f.severity == Severity.notice:
            continue
        w = Watch(f.finding_id, finding=f)
        w.recommendations.append(Recommendation("rec-" + f.finding_id, f.detected_at + timedelta(hours=30), 7))
        for _, sf in pending(w, cfg, CAL):
            comp = computation(sf, [], CTX)
            assert comp["last_day"] == deadline_day(sf).isoformat() and comp["agrees_with_finding"]  # type: ignore[union-attr]
            seen[sf.rule] += 1
    assert set(seen) == {RESPONSE_RULE, RECOMMENDATION_RULE}


def test_a_changed_catalog_or_another_calendar_is_said_not_walked() -> None:
    f = next(x for x in TIMERS if x.rule == "TIME_DECISION_PROMISE_BREACHED" and x.item_code == "PROM")
    changed = parse_catalog(
        {"items": [{**_BASE, **i} for i in ITEMS[1:]] + [{**_BASE, "code": "PROM", "name": "承诺事项"}]}
    )
    comp = computation(f, EVENTS[f.case_id], Context.build(CAL, changed, RuleConfig()))
    assert comp["last_day"] == deadline_day(f).isoformat()  # type: ignore[union-attr]  # the finding's own numbers
    assert any(w.startswith("limit_source: the finding used promised") for w in comp["warnings"])
    other = WorkCalendar(overrides={2026: YearOverride(holidays=frozenset({date(2026, 3, 2)}))})
    said = warnings(f, of_files(CATALOG, other, "test"), comp)
    assert any(w.startswith("calendar mismatch") and f.calendar_version in w for w in said)
    assert not [w for w in warnings(f, of_files(CATALOG, CAL, "test"), {}) if "calendar" in w]
