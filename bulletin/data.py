"""What a month's bulletin says, read from the scoreboard (the score views materialised), findings and decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from schemas.scoring import ScoringModel
from sinks.decisions_sql import DECISIONS_VIEW, MEASURES_VIEW
from sinks.fair_reader import FairEntry, fair_entries
from sinks.rankings import RankRow, fetch, with_names
from sinks.scoreboard import board_table
from sinks.scoring import level_of

TREND_MONTHS = 6  # the trend chart shows this month and the five before it
WORST_CASES = 10


@dataclass(frozen=True)
class WorstCase:
    """A red-card (红牌) finding of the month, not dismissed: its case, department, staff and loop status."""

    finding_id: str
    case_id: str
    rule: str
    title: str
    severity: str
    department: str  # name where known, else id
    staff: str
    detected_at: datetime
    status: str  # pending, confirmed, dismissed… (the loop's latest decision)


@dataclass(frozen=True)
class Measure:
    """An accountability measure (责任追究) decided in the month: what, on whom, for which case and rule, by whom."""

    measure: str
    target: str  # the person or department it names (name where known)
    rule: str
    case_id: str
    decided_by: str
    decided_at: datetime
    reason: str


@dataclass
class Bulletin:
    """Everything one month's bulletin shows: rankings, deductions by heading, the trend, worst cases, measures."""

    month: date  # its first day
    region: str | None  # None: the whole province set (every province ranked)
    scoring_version: str
    headings: list[tuple[str, str]]  # (name, label) in the model's order
    departments: list[RankRow]
    staff: list[RankRow]
    deductions: dict[str, dict[str, float]]  # department id -> heading name -> points deducted
    trend: dict[date, dict[str, float]]  # month -> department id -> score
    worst: list[WorstCase] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    # The fair comparison beside the official ranking (README "Fair rankings"); None when it could not be read.
    fair: list[FairEntry] | None = field(default_factory=list)

    @property
    def title(self) -> str:
        """The bulletin's Chinese title: year, month and, when given, the region."""
        where = f"（区划 {self.region}）" if self.region else ""
        return f"{self.month.year} 年 {self.month.month} 月行政许可电子监察考评结果通报{where}"


def month_start(text: str) -> date:
    """'2026-11' → 2026-11-01; a clear error otherwise."""
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise ValueError(f"month {text!r}: expected YYYY-MM, e.g. 2026-11") from None


def months_back(start: date, n: int) -> list[date]:
    """The n months ending with `start`, oldest first."""
    out = [start]
    while len(out) < n:
        d = out[-1]
        out.append(date(d.year - 1, 12, 1) if d.month == 1 else date(d.year, d.month - 1, 1))
    return out[::-1]


def _region_filter(region: str | None) -> tuple[str, dict[str, Any]]:
    if not region:
        return "1", {}
    prefix = {"province": region[:2], "city": region[:4], "county": region}[level_of(region)]
    return "startsWith(region_code, %(prefix)s)", {"prefix": prefix}


def collect(
    client: Any,
    model: ScoringModel,
    month: date,
    region: str | None,
    names: tuple[dict[str, str], dict[str, str]] = ({}, {}),
) -> Bulletin:
    """Everything the bulletin shows for one month (and region); names from the organisation directory."""
    depts, people = names
    level = level_of(region) if region else "province"
    ranked = with_names(fetch(client, "department", "month", month, region), depts, people, "department")
    staff = with_names(fetch(client, "staff", "month", month, region), depts, people, "staff")
    heads = [h.name for h in model.headings]
    cols = ", ".join(f"deduction_{h}" for h in heads)
    where = "period = 'month' AND period_start = %(start)s AND level = %(level)s"
    params: dict[str, Any] = {"start": month, "level": level, "region": region or ""}
    if region:
        where += " AND region = %(region)s"
    deductions = {
        str(r[0]): {h: float(v) for h, v in zip(heads, r[1:], strict=True)}
        for r in client.execute(f"SELECT department_id, {cols} FROM {board_table('department')} WHERE {where}", params)
    }
    trend: dict[date, dict[str, float]] = {m: {} for m in months_back(month, TREND_MONTHS)}
    for m in trend:
        trend[m] = {r.id: r.score for r in fetch(client, "department", "month", m, region)}
    rf, rp = _region_filter(region)
    rows = client.execute(
        f"SELECT finding_id, case_id, rule, severity, department_id, staff_id, detected_at, status "
        f"FROM {DECISIONS_VIEW} WHERE severity = 'red' AND status != 'dismissed' "
        f"AND toStartOfMonth(detected_at) = %(start)s AND {rf} ORDER BY detected_at, finding_id LIMIT {WORST_CASES}",
        {"start": month, **rp},
    )
    titles = _titles(client, [str(r[0]) for r in rows])
    worst = [
        WorstCase(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            titles.get(str(r[0]), ""),
            str(r[3]),
            depts.get(str(r[4]), str(r[4])),
            people.get(str(r[5]), str(r[5])),
            r[6],
            str(r[7]),
        )
        for r in rows
    ]
    measures = [
        Measure(
            str(r[0]),
            people.get(str(r[1]), depts.get(str(r[1]), str(r[1]))),
            str(r[2]),
            str(r[3]),
            str(r[4]),
            r[5],
            str(r[6]),
        )
        for r in client.execute(
            f"SELECT measure, target_id, rule, case_id, decided_by, decided_at, reason FROM {MEASURES_VIEW} "
            f"WHERE toStartOfMonth(decided_at) = %(start)s AND {rf} ORDER BY decided_at, decision_id",
            {"start": month, **rp},
        )
    ]
    return Bulletin(
        month,
        region,
        model.version,
        [(h.name, h.label or h.name) for h in model.headings],
        ranked,
        staff,
        deductions,
        trend,
        worst,
        measures,
        fair_entries(client, "department", "month", month, region, ranked, pending_counts=model.pending_findings_count),
    )


def _titles(client: Any, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {
        str(i): str(t)
        for i, t in client.execute(
            "SELECT finding_id, title FROM findings FINAL WHERE finding_id IN %(ids)s", {"ids": tuple(ids)}
        )
    }


def staff_extremes(b: Bulletin, n: int = 10) -> list[RankRow]:
    """The staff table: the n best and the n lowest (a province has thousands; the bulletin names both ends)."""
    if len(b.staff) <= 2 * n:
        return b.staff
    return b.staff[:n] + b.staff[-n:]
