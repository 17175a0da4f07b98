"""Scores and rankings as ClickHouse views, generated from the scoring model (esup/config/scoring.yaml).

Design: docs/architecture.md#scores-and-rankings-views.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from schemas.findings import Category
from schemas.scoring import Heading, ScoringModel
from sinks.decisions_sql import (
    DECISIONS_VIEW,
    MEASURES_VIEW,
    counted_findings_sql,
    decisions_view_sql,
    measures_view_sql,
)
from sinks.workdays_sql import workdays_between_sql
from streams.rules.calendar import WorkCalendar

Kind = Literal["department", "staff"]
KINDS: tuple[Kind, ...] = ("department", "staff")
PERIODS = ("day", "week", "month")
LEVELS = ("province", "city", "county")
CASE_FACTS = "score_case_facts"

# The stages whose working days are averaged: (name, events that start it, events that end it). They are
# the engine's clocks (accept art. 32, review art. 43, decision art. 42, delivery art. 44), measured from
# the events, because a snapshot keeps counting a stopped clock's working days up to its as_of.
STAGES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("accept", ("apply",), ("accept", "refuse_accept")),
    ("review", ("accept",), ("review",)),
    ("decision", ("accept",), ("approve", "refuse_license")),
    ("delivery", ("approve",), ("certificate_delivered",)),
)


def scores_view(kind: Kind) -> str:
    """The view that scores every department or staff member (``kind``) per period and region."""
    return f"scores_{kind}"


def rankings_view(kind: Kind) -> str:
    """The view that ranks the rows of ``scores_view(kind)`` within each period and region."""
    return f"rankings_{kind}"


def entity_column(kind: Kind) -> str:
    """The column that identifies an entity of ``kind``: department_id or staff_id."""
    return "department_id" if kind == "department" else "staff_id"


def region_of(level: str, code: str) -> str:
    """SQL: the region code at `level` (an SQL string expression) of the 6-digit code expression `code`."""
    return (
        f"multiIf({level} = 'province', concat(substring({code}, 1, 2), '0000'), "
        f"{level} = 'city', concat(substring({code}, 1, 4), '00'), {code})"
    )


def level_of(region: str) -> str:
    """The level a GB/T 2260 code names: 510000 a province, 511700 a city, 511702 a county."""
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"{region!r} is not a 6-digit region code")
    if region.endswith("0000"):
        return "province"
    return "city" if region.endswith("00") else "county"


def _num(x: float) -> str:
    # Float literals keep every score expression Float64 on both server generations.
    return repr(float(x))


def _strings(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


def _keys(time: str, code: str) -> str:
    """One (period, period start, level, region) tuple per period and region level of a row."""
    starts = {"day": f"toDate({time})", "week": f"toMonday({time})", "month": f"toStartOfMonth({time})"}
    regions = {
        "province": f"concat(substring({code}, 1, 2), '0000')",
        "city": f"concat(substring({code}, 1, 4), '00')",
        "county": code,
    }
    return "[" + ", ".join(f"('{p}', {starts[p]}, '{lv}', {regions[lv]})" for p in PERIODS for lv in LEVELS) + "]"


def case_facts_sql(model: ScoringModel, calendar: WorkCalendar) -> str:
    """One row per finished case: who and where, when it finished, late/early, working days per stage."""
    min_left = model.early_bonus.min_working_days_left

    def wd(a: str, b: str) -> str:
        return workdays_between_sql(a, b, calendar, model.calendar_years)

    firsts = ",\n        ".join(
        f"minIf(occurred_at, kind IN ({_strings(s)})) AS t_{name}_from, "
        f"minIf(occurred_at, kind IN ({_strings(e)})) AS t_{name}_to"
        for name, s, e in STAGES
    )
    stages = ",\n    ".join(
        f"toUInt8(toUInt32(t_{n}_from) > 0 AND toUInt32(t_{n}_to) >= toUInt32(t_{n}_from)) AS has_{n}, "
        f"if(has_{n} = 1, {wd(f'toDate(t_{n}_from)', f'toDate(t_{n}_to)')}, 0) AS wd_{n}"
        for n, _, _ in STAGES
    )
    return f"""SELECT
    case_id, department_id, staff_id, region_code, finished_at, late,
    toUInt8(late = 0 AND {wd("toDate(finished_at)", "deadline_day")} >= {min_left}) AS early,
    {stages}
FROM
(
    SELECT case_id, department_id, staff_id, region_code, finished_at, deadline_day, late
    FROM
    (
        SELECT case_id, department_id, responsible_staff AS staff_id, region_code,
            assumeNotNull(last_event_at) AS finished_at, toDate(assumeNotNull(decision_deadline)) AS deadline_day
        FROM case_snapshots FINAL
        WHERE open = 0 AND isNotNull(decision_deadline) AND isNotNull(last_event_at)
            AND outcome IN ({_strings(model.finished_outcomes)})
    ) AS s
    ANY LEFT JOIN
    (
        SELECT case_id, toUInt8(max(category = '{model.late_category.value}' AND severity IN ('yellow', 'red'))) AS late
        FROM {counted_findings_sql(model.pending_findings_count)}
        GROUP BY case_id
    ) AS f USING case_id
) AS sf
ANY LEFT JOIN
(
    SELECT case_id,
        {firsts}
    FROM case_events FINAL
    GROUP BY case_id
) AS e USING case_id"""


@dataclass(frozen=True)
class Column:
    """One output column of the scores query: its alias and its SQL."""

    name: str
    sql: str  # the aggregate over the unified rows, or an expression of other columns' aliases


def _heading_deduction(model: ScoringModel, h: Heading) -> str:
    cats = _strings(c.value for c in h.categories)
    pts = model.severity_points
    raw = (
        f"{_num(pts['yellow'])} * countIf(f_severity = 'yellow' AND f_category IN ({cats}))"
        f" + {_num(pts['red'])} * countIf(f_severity = 'red' AND f_category IN ({cats}))"
        f" + {_num(model.notices.points)} * intDiv(countIf(f_severity = 'notice' AND f_category IN ({cats})),"
        f" {model.notices.every})"
    )
    return f"least({_num(h.cap)}, {raw})" if h.cap is not None else f"({raw})"


def score_columns(model: ScoringModel) -> list[Column]:
    """The measures of a scores view, in order (the key and entity columns come before them)."""
    b = model.early_bonus
    # ClickHouse evaluates both branches of if(): an integer divisor must never be 0, even where unused.
    cols = [
        Column("score", f"round(greatest({_num(model.floor)}, {_num(model.base)} - deduction + bonus), 2)"),
        Column("on_time_rate", "if(cases_finished = 0, NULL, cases_on_time / cases_finished)"),
        Column("notices", "countIf(f_severity = 'notice')"),
        Column("yellows", "countIf(f_severity = 'yellow')"),
        Column("reds", "countIf(f_severity = 'red')"),
        Column("deemed_approvals", f"countIf(f_rule = '{model.deemed_approval_rule}')"),
        Column("cases_finished", "sum(finished)"),
        Column("cases_on_time", "sum(on_time)"),
        Column("cases_early", "sum(early)"),
    ]
    cols += [Column(f"cat_{c.value}", f"countIf(f_category = '{c.value}')") for c in Category]
    cols += [Column(f"avg_wd_{n}", f"if(sum(has_{n}) = 0, NULL, sum(wd_{n}) / sum(has_{n}))") for n, _, _ in STAGES]
    cols += [Column(f"deduction_{h.name}", _heading_deduction(model, h)) for h in model.headings]
    cols += [
        Column("deduction", " + ".join(f"deduction_{h.name}" for h in model.headings)),
        Column(
            "bonus",
            f"if(cases_finished = 0, 0., least({_num(b.max_points)}, {_num(b.points)}"
            f" * intDiv(100 * cases_early, {b.per_percent} * greatest(cases_finished, 1))))",
        ),
    ]
    return cols


def _unified_rows(model: ScoringModel, kind: Kind) -> str:
    """Findings and finished cases as rows of one shape, each repeated for its 9 (period, region) keys.

    Only the findings that count: a dismissed one costs nothing (docs/loop.md)."""
    who = "staff_id" if kind == "staff" else "department_id"
    zeros = ", ".join(f"toUInt8(0) AS has_{n}, toInt64(0) AS wd_{n}" for n, _, _ in STAGES)
    stages = ", ".join(f"has_{n}, toInt64(wd_{n}) AS wd_{n}" for n, _, _ in STAGES)
    return f"""    SELECT k, {who} AS entity, department_id AS entity_dept, severity AS f_severity,
        category AS f_category, rule AS f_rule, toUInt8(0) AS finished, toUInt8(0) AS on_time,
        toUInt8(0) AS early, {zeros}
    FROM {counted_findings_sql(model.pending_findings_count)}
    ARRAY JOIN {_keys("detected_at", "region_code")} AS k
    UNION ALL
    SELECT k, {who} AS entity, department_id AS entity_dept, '' AS f_severity, '' AS f_category,
        '' AS f_rule, toUInt8(1) AS finished, toUInt8(1 - late) AS on_time, early, {stages}
    FROM {CASE_FACTS}
    ARRAY JOIN {_keys("finished_at", "region_code")} AS k"""


def scores_sql(model: ScoringModel, kind: Kind) -> str:
    """SQL: the scores of every entity of ``kind`` per (period, period start, level, region), under ``model``."""
    dept = ", min(entity_dept) AS department_id" if kind == "staff" else ""
    measures = ",\n    ".join(f"{c.sql} AS {c.name}" for c in score_columns(model))
    return f"""SELECT
    tupleElement(k, 1) AS period, tupleElement(k, 2) AS period_start, tupleElement(k, 3) AS level,
    tupleElement(k, 4) AS region, entity AS {entity_column(kind)}{dept},
    {measures}
FROM
(
{_unified_rows(model, kind)}
)
GROUP BY period, period_start, level, region, entity"""


def ranked_columns(model: ScoringModel, kind: Kind) -> list[str]:
    """The columns of a rankings view after its keys and rank: the entity (and department), then the measures."""
    ids = [entity_column(kind)] + (["department_id"] if kind == "staff" else [])
    return ids + [c.name for c in score_columns(model)]


def rankings_sql(model: ScoringModel, kind: Kind) -> str:
    """Ranks without window functions: each group's rows as tuples, sorted, numbered by ARRAY JOIN.

    Ties are broken deterministically: higher score, then higher on-time rate (none counts lowest), then the
    smaller id.
    """
    cols = ranked_columns(model, kind)
    tuple_sql = ", ".join(["score", "ifNull(on_time_rate, -1.)", entity_column(kind), *cols])
    picks = ", ".join(f"tupleElement(r, {i + 4}) AS {name}" for i, name in enumerate(cols))
    return f"""SELECT period, period_start, level, region, toUInt32(pos) AS rank, {picks}
FROM
(
    SELECT period, period_start, level, region,
        arraySort(x -> (-tupleElement(x, 1), -tupleElement(x, 2), tupleElement(x, 3)),
                  groupArray(tuple({tuple_sql}))) AS ranked
    FROM {scores_view(kind)}
    GROUP BY period, period_start, level, region
)
ARRAY JOIN ranked AS r, arrayEnumerate(ranked) AS pos"""


def view_statements(model: ScoringModel, calendar: WorkCalendar) -> list[str]:
    """DROP and CREATE statements, dependants dropped first, created in dependency order."""
    creates = [(CASE_FACTS, case_facts_sql(model, calendar))]
    creates += [(scores_view(k), scores_sql(model, k)) for k in KINDS]
    creates += [(rankings_view(k), rankings_sql(model, k)) for k in KINDS]
    drops = [f"DROP TABLE IF EXISTS {name}" for name, _ in reversed(creates)]
    return drops + [f"CREATE VIEW {name} AS\n{sql}" for name, sql in creates]


def decision_view_statements() -> list[str]:
    """The loop's views (they depend on no YAML model): DROP then CREATE."""
    creates = [(DECISIONS_VIEW, decisions_view_sql()), (MEASURES_VIEW, measures_view_sql())]
    return [f"DROP TABLE IF EXISTS {n}" for n, _ in creates] + [f"CREATE VIEW {n} AS\n{q}" for n, q in creates]


def create_views(client: Any, model: ScoringModel, calendar: WorkCalendar) -> list[str]:
    """(Re)create every view on the client's database (a clickhouse-driver Client); returns their names."""
    for statement in view_statements(model, calendar) + decision_view_statements():
        client.execute(statement)
    return [
        CASE_FACTS,
        *(scores_view(k) for k in KINDS),
        *(rankings_view(k) for k in KINDS),
        DECISIONS_VIEW,
        MEASURES_VIEW,
    ]
