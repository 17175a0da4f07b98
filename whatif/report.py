"""The what-if report as one plain, deterministic structure (sorted, no run time in it): the same inputs give
byte-identical JSON."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from schemas.scoring import ScoringModel
from sinks.scoring import KINDS, Kind
from streams.rules.calendar import WorkCalendar
from whatif.diff import GROUPINGS, Changes, breakdown
from whatif.model import UNREPLAYABLE, FindingRow, Finished
from whatif.scores import Decisions, Score, late_cases, monthly

BINS = tuple(range(0, 110, 10))  # score bins [0, 10), … [90, 100), [100, ∞): the bonus can pass 100


@dataclass(frozen=True)
class Side:
    """One side of the comparison for scoring: its model and calendar, its rows of one region."""

    model: ScoringModel
    calendar: WorkCalendar
    findings: list[FindingRow]
    finished: list[Finished]
    late_findings: list[FindingRow]


def scenario_side(
    live: Side,
    model: ScoringModel,
    calendar: WorkCalendar,
    cases: set[str],
    findings: list[FindingRow],
    finished: list[Finished],
) -> Side:
    """The live rows with the window's cases replaced by the scenario's: their replayable findings and their
    finished facts (cases outside the window, and unreplayable rules, stay as they are)."""

    def kept(f: FindingRow) -> bool:
        return f.case_id not in cases or f.rule in UNREPLAYABLE

    return Side(
        model,
        calendar,
        [f for f in live.findings if kept(f)] + findings,
        [c for c in live.finished if c.case_id not in cases] + finished,
        [f for f in live.late_findings if kept(f)] + findings,
    )


def side_scores(
    side: Side, kind: Kind, region: str, months: list[date], decisions: Decisions
) -> dict[tuple[date, str], Score]:
    """Monthly scores and ranks of one side."""
    late = late_cases(side.model, side.late_findings, decisions)
    return monthly(side.model, side.calendar, kind, region, months, side.findings, side.finished, late, decisions)


def rank_changes(
    region: str, before: dict[tuple[date, str], Score], after: dict[tuple[date, str], Score]
) -> list[dict[str, Any]]:
    """Every (month, entity) whose score or rank moved, the largest moves first within a month."""
    out: list[dict[str, Any]] = []
    moves: dict[int, int] = {}  # position in out → |rank move| (an entity new or gone on one side sorts first)
    for key in sorted(before.keys() | after.keys()):
        b, a = before.get(key), after.get(key)
        if b is not None and a is not None and (b.score, b.rank) == (a.score, a.rank):
            continue
        some = a or b
        if some is None:  # a key comes from one of the two sides
            continue
        out.append(
            {
                "region": region,
                "month": key[0].isoformat(),
                "entity": key[1],
                "department_id": some.department_id,
                "score_before": b.score if b else None,
                "score_after": a.score if a else None,
                "rank_before": b.rank if b else None,
                "rank_after": a.rank if a else None,
                "rank_move": (b.rank - a.rank) if a and b else None,  # positive: moved up
            }
        )
        moves[len(out) - 1] = abs(b.rank - a.rank) if a and b else 10**6
    order = sorted(range(len(out)), key=lambda i: (out[i]["region"], out[i]["month"], -moves[i], out[i]["entity"]))
    return [out[i] for i in order]


def distribution(scores: Iterable[float]) -> dict[str, Any]:
    """Counts per 10-point bin and the summary figures of a list of scores."""
    values = sorted(scores)
    bins = {f"{lo}-{lo + 10}" if lo < 100 else "100+": 0 for lo in BINS}
    for v in values:
        lo = min(int(v // 10) * 10, 100)
        bins[f"{lo}-{lo + 10}" if lo < 100 else "100+"] += 1
    return {
        "n": len(values),
        "bins": bins,
        "min": values[0] if values else None,
        "median": statistics.median(values) if values else None,
        "mean": round(statistics.fmean(values), 4) if values else None,
        "max": values[-1] if values else None,
    }


def findings_section(changes: Changes, baseline: int, scenario: int) -> dict[str, Any]:
    """Counts, and the breakdowns per rule, department and staff, with examples."""
    return {
        "baseline": baseline,
        "scenario": scenario,
        "added": len(changes.added),
        "removed": len(changes.removed),
        "changed": len(changes.changed),
        **{f"by_{name}": breakdown(changes, key) for name, key in GROUPINGS.items()},
    }


def scores_section(
    regions: dict[str, tuple[Side, Side]], months: list[date], decisions: Decisions
) -> tuple[dict[str, Any], dict[str, dict[tuple[str, date, str], tuple[Score | None, Score | None]]]]:
    """Rank changes and score distributions per kind; also every (region, month, entity) score before/after."""
    section: dict[str, Any] = {}
    table: dict[str, dict[tuple[str, date, str], tuple[Score | None, Score | None]]] = {}
    for kind in KINDS:
        changes: list[dict[str, Any]] = []
        befores: list[float] = []
        afters: list[float] = []
        table[kind] = {}
        for region, (live, scen) in sorted(regions.items()):
            b = side_scores(live, kind, region, months, decisions)
            a = side_scores(scen, kind, region, months, decisions)
            changes += rank_changes(region, b, a)
            befores += [s.score for s in b.values()]
            afters += [s.score for s in a.values()]
            for key in b.keys() | a.keys():
                table[kind][(region, *key)] = (b.get(key), a.get(key))
        section[kind] = {
            "entities": len({k[2] for k in table[kind]}),
            "moved": len(changes),
            "rank_changes": changes,
            "distribution": {"before": distribution(befores), "after": distribution(afters)},
        }
    return section, table


def dumps(report: dict[str, Any]) -> str:
    """The report as JSON: keys sorted, UTF-8 text, one trailing newline (byte-identical for equal reports)."""
    return json.dumps(report, ensure_ascii=False, sort_keys=True, indent=1) + "\n"
