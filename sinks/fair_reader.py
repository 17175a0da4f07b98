"""Fair rankings from ClickHouse: each entity's cases and cards per case-mix stratum, beside the raw ranking.

What counts (README "Fair rankings"):

* a **card** is a yellow or red finding that counts toward the raw score (sinks/decisions_sql.py: a
  dismissed one never does; an undecided one does when the model says so), detected in the period, on a
  licensing case. Notices are warnings, not cards. Complaint cards filed on a complaint without a licensing
  case have no case mix to adjust for: they stay in the raw score and out of the fair one.
* a **case** counts for an entity in a period when it was open at some moment of the period with the entity
  responsible (its first event before the period's end; still open, or its last event on or after the
  period's start), or when it drew one of the entity's cards in the period.
* its **stratum** is its catalog item and the first special procedure (art. 45: hearing, expert review…)
  its events name ('' when none).

The procedure is read with a regular expression (extract), not visitParamExtractString, which finds
nothing once a writer puts a space after the colon; 18.16 has no JSONExtract.
`ANY LEFT JOIN` and a flag, not `ANY INNER JOIN`: current releases keep one row per key on *both* sides
of an ANY INNER JOIN, where 18.16 kept every left row.

SQL that ClickHouse 18.16 and current releases both accept: no CTEs or window functions, one JOIN per
SELECT, explicit types in every UNION ALL branch, the periods as a literal array of tuples.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sinks.decisions_sql import counted_findings_sql
from sinks.fair import Cell, FairRow, fair_rankings
from sinks.rankings import RankRow, period_start
from sinks.scoring import Kind, level_of

CARD_SEVERITIES = ("yellow", "red")
HISTORY = 6  # periods whose province rates set the expected cards by default: the ranked one and five before


def fair_entries(
    client: Any,
    kind: Kind,
    period: str,
    start: date,
    region: str | None,
    raw: list[RankRow],
    *,
    history: int = HISTORY,
    pending_counts: bool = True,
) -> list[FairEntry]:
    """The fair comparison of one period and region beside its raw rows (what the CLI, console and bulletin show)."""
    province = region[:2] if region else ""
    inputs = read(client, kind, period, start, province=province, history=history, pending_counts=pending_counts)
    return combine(inputs, raw, region)


def next_start(period: str, start: date) -> date:
    """The first day of the period after the one that starts on `start`."""
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def windows(period: str, start: date, history: int) -> list[tuple[date, date]]:
    """(start, end) of the `history` periods that end with the one starting on `start`, oldest first."""
    if history < 1:
        raise ValueError(f"history must be at least 1 period, not {history}")
    out = [(start, next_start(period, start))]
    while len(out) < history:
        prev = period_start(period, out[-1][0] - timedelta(days=1))
        out.append((prev, out[-1][0]))
    return out[::-1]


def _windows_sql(spans: list[tuple[date, date]]) -> str:
    return "[" + ", ".join(f"(toDate('{a.isoformat()}'), toDate('{b.isoformat()}'))" for a, b in spans) + "]"


def _cases_sql(province_filter: str) -> str:
    """One row per licensing case of the province: who, where, its stratum, when it began and last moved."""
    return f"""SELECT case_id, item_code, department_id, responsible_staff, region_code, open,
        toDate(ifNull(last_event_at, updated_at)) AS last_day,
        if(first_event = toDate('1970-01-01'), last_day, first_event) AS first_day, procedure
    FROM
    (
        SELECT case_id, item_code, department_id, responsible_staff, region_code, open, last_event_at, updated_at
        FROM case_snapshots FINAL
        WHERE {province_filter}
    ) AS s
    ANY LEFT JOIN
    (
        SELECT case_id, toDate(min(occurred_at)) AS first_event,
            argMinIf(extract(payload, '"procedure": *"([a-z_]+)"'), occurred_at, kind = 'suspend') AS procedure
        FROM case_events FINAL
        GROUP BY case_id
    ) AS e USING case_id"""


def cells_sql(kind: Kind, spans: list[tuple[date, date]], pending_counts: bool = True) -> str:
    """SQL: (period start, entity, item, procedure, cases, cards, region, department) for every period of
    `spans`; binds %(province)s (two digits, or '' for every province)."""
    province = "(%(province)s = '' OR substring(region_code, 1, 2) = %(province)s)"
    case_who = "department_id" if kind == "department" else "responsible_staff"
    card_who = "department_id" if kind == "department" else "staff_id"
    spans_sql = _windows_sql(spans)
    severities = ", ".join(f"'{s}'" for s in CARD_SEVERITIES)
    return f"""SELECT p, entity, item_code, procedure, count() AS cases, sum(cards) AS cards,
    min(region) AS region, min(dept) AS dept
FROM
(
    SELECT p, entity, case_id, sum(cards) AS cards, min(region) AS region, min(dept) AS dept
    FROM
    (
        SELECT tupleElement(w, 1) AS p, {case_who} AS entity, case_id, toUInt64(0) AS cards,
            region_code AS region, department_id AS dept
        FROM ({_cases_sql(province)}) AS active
        ARRAY JOIN {spans_sql} AS w
        WHERE first_day < tupleElement(w, 2) AND (open = 1 OR last_day >= tupleElement(w, 1))
        UNION ALL
        SELECT tupleElement(w, 1) AS p, {card_who} AS entity, case_id, toUInt64(1) AS cards,
            region_code AS region, department_id AS dept
        FROM
        (
            SELECT case_id, staff_id, department_id, region_code, detected_at
            FROM {counted_findings_sql(pending_counts)} AS f
            WHERE severity IN ({severities}) AND {province}
        ) AS carded
        ARRAY JOIN {spans_sql} AS w
        WHERE toDate(detected_at) >= tupleElement(w, 1) AND toDate(detected_at) < tupleElement(w, 2)
    ) AS u
    WHERE entity != ''
    GROUP BY p, entity, case_id
) AS pc
ANY LEFT JOIN
(
    SELECT case_id, item_code, procedure, toUInt8(1) AS licensing FROM ({_cases_sql(province)}) AS mix
) AS c USING case_id
WHERE licensing = 1
GROUP BY p, entity, item_code, procedure
ORDER BY p, entity, item_code, procedure"""


@dataclass(frozen=True)
class Inputs:
    """What the fair ranking of one period needs: its cells, the reference window's, each entity's place."""

    period: list[Cell]
    reference: list[Cell]  # every period of the window, the ranked one included
    regions: dict[str, str]  # entity -> its region code (the smallest of its cases')
    departments: dict[str, str]  # entity -> department (itself for a department)


def read(
    client: Any,
    kind: Kind,
    period: str,
    start: date,
    *,
    province: str = "",
    history: int = 1,
    pending_counts: bool = True,
) -> Inputs:
    """The cells of the period starting on `start` and of its reference window (`history` periods)."""
    spans = windows(period, start, history)
    rows = client.execute(cells_sql(kind, spans, pending_counts), {"province": province})
    now, ref = [], []
    regions: dict[str, str] = {}
    departments: dict[str, str] = {}
    for p, entity, item, proc, cases, cards, region, dept in rows:
        cell = Cell(str(entity), str(item), str(proc), int(cases), int(cards))
        ref.append(cell)
        if str(p)[:10] == start.isoformat():  # a date from clickhouse-driver, a string from chdb
            now.append(cell)
        regions[cell.entity] = min(regions.get(cell.entity, str(region)), str(region))
        departments[cell.entity] = min(departments.get(cell.entity, str(dept)), str(dept))
    return Inputs(now, ref, regions, departments)


@dataclass(frozen=True)
class FairEntry:
    """One line of the fair table: the entity, its raw rank and score (official), and its fair comparison."""

    id: str
    department_id: str
    province: str
    raw_rank: int | None  # None: no raw row this period (no finding and no finished case)
    raw_score: float | None
    fair: FairRow | None  # None: no licensing case to compare

    def as_json(self) -> dict[str, Any]:
        """The entry as a JSON-ready dict (the fair fields flat beside the raw ones)."""
        fair = asdict(self.fair) if self.fair else dict.fromkeys(FairRow.__dataclass_fields__)
        fair.pop("entity")
        return {
            "id": self.id,
            "department_id": self.department_id,
            "province": self.province,
            "raw_rank": self.raw_rank,
            "raw_score": self.raw_score,
            **fair,
        }


def _in_region(code: str, region: str | None) -> bool:
    if not region:
        return True
    keep = {"province": 2, "city": 4, "county": 6}[level_of(region)]
    return code[:keep] == region[:keep]


def combine(inputs: Inputs, raw: list[RankRow], region: str | None, seed: int | None = None) -> list[FairEntry]:
    """Fair rows per province (each province is its own reference), those of `region` ranked, beside `raw`."""
    by_province: dict[str, list[Cell]] = defaultdict(list)
    refs: dict[str, list[Cell]] = defaultdict(list)
    for c in inputs.period:
        by_province[inputs.regions[c.entity][:2]].append(c)
    for c in inputs.reference:
        refs[inputs.regions[c.entity][:2]].append(c)
    raw_by_id = {r.id: r for r in raw}
    out: list[FairEntry] = []
    for prov in sorted(by_province):
        ranked = [e for e in {c.entity for c in by_province[prov]} if _in_region(inputs.regions[e], region)]
        extra = {"seed": seed} if seed is not None else {}
        rows = fair_rankings(by_province[prov], refs[prov], ranked=ranked, **extra)
        for f in rows:
            r = raw_by_id.pop(f.entity, None)
            out.append(
                FairEntry(
                    f.entity,
                    inputs.departments.get(f.entity, ""),
                    prov + "0000",
                    r.rank if r else None,
                    r.score if r else None,
                    f,
                )
            )
    # Ranked by the raw rule but with no licensing case to compare (e.g. complaint cards only): shown last.
    for r in sorted(raw_by_id.values(), key=lambda r: (r.region, r.rank)):
        out.append(FairEntry(r.id, r.department_id, r.region[:2] + "0000", r.rank, r.score, None))
    return out
