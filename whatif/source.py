"""What a what-if reads from ClickHouse (read-only): the window's cases and their events, their live findings,
and the rows the month's scores are made of.

The window's cases are those whose first recorded event falls on a day from ``start`` to ``end`` (Beijing),
inside the region if one is given (the region of the case's first event); every event of those cases is
read, also the ones after the window, so a case is judged whole, as the workers judged it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from schemas.scoring import ScoringModel
from sinks.decisions_sql import latest_decisions_sql
from streams.rules.registry import RULES
from whatif.model import BEIJING, UNREPLAYABLE, FindingRow, Finished, epoch_text
from whatif.scores import region_prefix

_FINDING_COLUMNS = (
    "finding_id, case_id, rule, category, severity, staff_id, department_id, region_code, toUInt32(detected_at), "
    "if(isNull(deadline), toUInt32(0), toUInt32(assumeNotNull(deadline)))"
)


@dataclass(frozen=True)
class Window:
    """The days whose new cases are re-evaluated (both included, Beijing) and the region, if any."""

    start: date
    end: date
    region: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"--to {self.end} is before --from {self.start}")
        if self.region is not None:
            region_prefix(self.region)  # validates

    def bounds(self) -> tuple[int, int]:
        """[first second, first second after) of the window, as epoch seconds."""
        lo = datetime.combine(self.start, time(0), BEIJING)
        hi = datetime.combine(self.end + timedelta(days=1), time(0), BEIJING)
        return int(lo.timestamp()), int(hi.timestamp())

    def months(self) -> list[date]:
        """The first day of every month the window touches."""
        out, m = [], self.start.replace(day=1)
        while m <= self.end:
            out.append(m)
            m = (m + timedelta(days=32)).replace(day=1)
        return out

    def month_bounds(self) -> tuple[int, int]:
        """[first second of the first month, first second after the last month), as epoch seconds."""
        months = self.months()
        after = (months[-1] + timedelta(days=32)).replace(day=1)
        lo = datetime.combine(months[0], time(0), BEIJING)
        return int(lo.timestamp()), int(datetime.combine(after, time(0), BEIJING).timestamp())


def _strings(values: Any) -> str:
    return ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


def cases_sql(w: Window) -> str:
    """SQL: the case ids of the window (first event inside it, and inside the region)."""
    lo, hi = w.bounds()
    region = ""
    if w.region is not None:
        p = region_prefix(w.region)
        region = f" AND substring(argMin(region_code, occurred_at), 1, {len(p)}) = '{p}'"
    return (
        "SELECT case_id FROM case_events FINAL GROUP BY case_id "
        f"HAVING toUInt32(min(occurred_at)) >= {lo} AND toUInt32(min(occurred_at)) < {hi}{region}"
    )


def latest_event_at(client: Any) -> datetime | None:
    """The latest event time recorded (the event clock as the events tell it): where the timers ran to."""
    ((n, latest),) = client.execute("SELECT count(), toUInt32(max(occurred_at)) FROM case_events")
    return datetime.fromtimestamp(latest, BEIJING) if n else None


def write_events(client: Any, w: Window, out: Path) -> tuple[int, set[str]]:
    """The window's events as JSON Lines (the event contract, as `esup evaluate` reads it), ordered by case,
    time and id; returns (events, case ids)."""
    rows = client.execute_iter(
        "SELECT event_id, case_id, kind, schema_version, item_code, department_id, region_code, staff_id, "
        "toUInt32(occurred_at), toUInt32(recorded_at), payload FROM case_events FINAL "
        f"WHERE case_id IN ({cases_sql(w)}) ORDER BY case_id, occurred_at, event_id"
    )
    n, cases = 0, set()
    with out.open("w", encoding="utf-8") as fh:
        for event_id, case_id, kind, version, item, dept, region, staff, occurred, recorded, payload in rows:
            event = {
                "schema_version": version,
                "event_id": event_id,
                "case_id": case_id,
                "item_code": item,
                "department_id": dept,
                "region_code": region,
                "staff_id": staff,
                "kind": kind,
                "occurred_at": datetime.fromtimestamp(occurred, BEIJING).isoformat(),
                "recorded_at": datetime.fromtimestamp(recorded, BEIJING).isoformat(),
                "payload": json.loads(payload),
            }
            fh.write(json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
            cases.add(case_id)
    return n, cases


def _row(r: tuple[Any, ...]) -> FindingRow:
    fid, case, rule, category, severity, staff, dept, region, detected, deadline = r
    deadline_text = epoch_text(deadline) if deadline else ""
    return FindingRow(fid, case, rule, category, severity, staff, dept, region, epoch_text(detected), deadline_text)


def live_findings(client: Any, w: Window) -> list[FindingRow]:
    """The live findings of the window's cases by the rules the replay judges (FINAL: one row per id)."""
    rules = _strings(sorted(set(RULES) - UNREPLAYABLE))
    rows = client.execute(
        f"SELECT {_FINDING_COLUMNS} FROM findings FINAL WHERE case_id IN ({cases_sql(w)}) AND rule IN ({rules})"
    )
    return sorted(_row(r) for r in rows)


@dataclass
class ScoreInputs:
    """The live rows the window's monthly scores are made of (region-wide, every case, not only the window's)."""

    findings: list[FindingRow]  # detected in the window's months
    finished: list[Finished]  # finished in the window's months
    late_findings: list[FindingRow]  # the finished cases' late-category yellow and red cards, whenever detected
    decisions: dict[str, str]  # finding id → latest decision


def score_inputs(client: Any, w: Window, model: ScoringModel, region: str) -> ScoreInputs:
    """Read the live findings, finished cases and decisions of ``region`` over the window's months."""
    lo, hi = w.month_bounds()
    p = region_prefix(region)
    where_region = f"substring(region_code, 1, {len(p)}) = '{p}'"
    findings = client.execute(
        f"SELECT {_FINDING_COLUMNS} FROM findings FINAL "
        f"WHERE toUInt32(detected_at) >= {lo} AND toUInt32(detected_at) < {hi} AND {where_region}"
    )
    finished_sql = (
        "SELECT case_id, department_id, responsible_staff, region_code, toUInt32(assumeNotNull(last_event_at)), "
        "toString(toDate(assumeNotNull(decision_deadline))) FROM case_snapshots FINAL "
        "WHERE open = 0 AND isNotNull(decision_deadline) AND isNotNull(last_event_at) "
        f"AND outcome IN ({_strings(model.finished_outcomes)}) "
        f"AND toUInt32(assumeNotNull(last_event_at)) >= {lo} AND toUInt32(assumeNotNull(last_event_at)) < {hi} "
        f"AND {where_region}"
    )
    finished = [
        Finished(c, d, s, r, epoch_text(t), date.fromisoformat(dl))
        for c, d, s, r, t, dl in client.execute(finished_sql)
    ]
    late = client.execute(
        f"SELECT {_FINDING_COLUMNS} FROM findings FINAL WHERE category = '{model.late_category.value}' "
        f"AND severity IN ('yellow', 'red') AND case_id IN (SELECT case_id FROM ({finished_sql}))"
    )
    decisions = dict(client.execute(f"SELECT finding_id, decision FROM ({latest_decisions_sql()})"))
    return ScoreInputs(sorted(_row(r) for r in findings), sorted(finished), sorted(_row(r) for r in late), decisions)


def regions_of(client: Any, w: Window) -> list[str]:
    """The regions to rank in: the one given, else every province the window's cases are in."""
    if w.region is not None:
        return [w.region]
    rows = client.execute(
        "SELECT DISTINCT concat(substring(region_code, 1, 2), '0000') FROM case_events "
        f"WHERE case_id IN ({cases_sql(w)})"
    )
    return sorted(r for (r,) in rows)
