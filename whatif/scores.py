"""The monthly scores and ranks of sinks/scoring.py's views, computed in Python over given rows.

Why a second form: a scenario's findings are not in ClickHouse, and the views read the live tables. This is
the views' definition for one period kind (month) and one region, line for line (the integration test
tests/integration/test_whatif.py checks it equals `rankings_department` and `rankings_staff` on real data):
headings capped, notices by `every`, yellow and red points, the early-completion bonus by integer share,
the floor, rounding to 0.01, and ties broken by on-time rate (none lowest) and then by the smaller id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from schemas.scoring import ScoringModel
from sinks.scoring import Kind
from streams.rules.calendar import WorkCalendar
from whatif.model import FindingRow, Finished

Decisions = Mapping[str, str]  # finding id → its latest decision ('dismissed', 'confirmed', …); absent: pending


def counts(model: ScoringModel, finding_id: str, decisions: Decisions) -> bool:
    """Whether a finding costs points (sinks.decisions_sql.counted_findings_sql): never when dismissed."""
    decision = decisions.get(finding_id, "")
    return decision != "dismissed" and (model.pending_findings_count or decision != "")


def region_prefix(region: str) -> str:
    """The prefix of the 6-digit codes inside ``region`` (51 for 510000, 5117 for 511700, all six for a county)."""
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"{region!r} is not a 6-digit region code")
    if region.endswith("0000"):
        return region[:2]
    return region[:4] if region.endswith("00") else region


def month_of(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


@dataclass
class _Acc:
    departments: set[str] = field(default_factory=set)
    severities: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))  # (category, sev)
    finished: int = 0
    on_time: int = 0
    early: int = 0


@dataclass(frozen=True)
class Score:
    """One entity's score in one month and region, with the figures behind it and its rank."""

    month: date
    entity: str
    department_id: str
    score: float
    on_time_rate: float | None
    notices: int
    yellows: int
    reds: int
    cases_finished: int
    deduction: float
    bonus: float
    rank: int = 0


def _score(model: ScoringModel, month: date, entity: str, a: _Acc) -> Score:
    pts = model.severity_points
    deduction = 0.0
    for h in model.headings:
        cats = {c.value for c in h.categories}

        def n(sev: str, cats: set[str] = cats) -> int:
            return sum(v for (c, s), v in a.severities.items() if s == sev and c in cats)

        raw = (
            pts["yellow"] * n("yellow")
            + pts["red"] * n("red")
            + model.notices.points * (n("notice") // model.notices.every)
        )
        deduction += min(h.cap, raw) if h.cap is not None else raw
    b = model.early_bonus
    bonus = (
        0.0
        if a.finished == 0
        else min(b.max_points, b.points * ((100 * a.early) // (b.per_percent * max(a.finished, 1))))
    )
    return Score(
        month=month,
        entity=entity,
        department_id=min(a.departments),
        score=round(max(model.floor, model.base - deduction + bonus), 2),
        on_time_rate=None if a.finished == 0 else a.on_time / a.finished,
        notices=sum(v for (_, s), v in a.severities.items() if s == "notice"),
        yellows=sum(v for (_, s), v in a.severities.items() if s == "yellow"),
        reds=sum(v for (_, s), v in a.severities.items() if s == "red"),
        cases_finished=a.finished,
        deduction=deduction,
        bonus=bonus,
    )


def late_cases(model: ScoringModel, findings: Iterable[FindingRow], decisions: Decisions) -> set[str]:
    """Cases with a counted yellow or red card of the late category (case_facts_sql's `late`)."""
    late = model.late_category.value
    return {
        f.case_id
        for f in findings
        if f.category == late and f.severity in ("yellow", "red") and counts(model, f.finding_id, decisions)
    }


def monthly(
    model: ScoringModel,
    calendar: WorkCalendar,
    kind: Kind,
    region: str,
    months: Iterable[date],
    findings: Iterable[FindingRow],
    finished: Iterable[Finished],
    late: set[str],
    decisions: Decisions,
) -> dict[tuple[date, str], Score]:
    """Every entity's score and rank per month of ``months`` inside ``region`` (the views' `month` rows at the
    region's level). ``findings``: every finding (counted ones are picked here); ``late``: see late_cases."""
    wanted = set(months)
    prefix = region_prefix(region)
    acc: dict[tuple[date, str], _Acc] = defaultdict(_Acc)

    def who(staff: str, dept: str) -> str:
        return staff if kind == "staff" else dept

    for f in findings:
        month = month_of(f.day)
        if month not in wanted or not f.region_code.startswith(prefix) or not counts(model, f.finding_id, decisions):
            continue
        a = acc[(month, who(f.staff_id, f.department_id))]
        a.departments.add(f.department_id)
        a.severities[(f.category, f.severity)] += 1
    min_left = model.early_bonus.min_working_days_left
    for c in finished:
        month = month_of(c.day)
        if month not in wanted or not c.region_code.startswith(prefix):
            continue
        a = acc[(month, who(c.staff_id, c.department_id))]
        a.departments.add(c.department_id)
        a.finished += 1
        is_late = c.case_id in late
        a.on_time += not is_late
        a.early += not is_late and calendar.workdays_between(c.day, c.deadline_day) >= min_left
    scores = {key: _score(model, key[0], key[1], a) for key, a in acc.items()}
    return _ranked(scores)


def _ranked(scores: dict[tuple[date, str], Score]) -> dict[tuple[date, str], Score]:
    by_month: dict[date, list[Score]] = defaultdict(list)
    for s in scores.values():
        by_month[s.month].append(s)
    out: dict[tuple[date, str], Score] = {}
    for month, rows in by_month.items():
        rows.sort(key=lambda s: (-s.score, -(s.on_time_rate if s.on_time_rate is not None else -1.0), s.entity))
        for pos, s in enumerate(rows, start=1):
            out[(month, s.entity)] = Score(**{**s.__dict__, "rank": pos})
    return out
