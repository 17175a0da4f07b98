"""The SQL the scoring model generates: view order, columns, caps, the rank tie-break, no window functions."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.scoring import ScoringModel, load_scoring
from sinks.scoring import (
    CASE_FACTS,
    level_of,
    ranked_columns,
    rankings_sql,
    region_of,
    score_columns,
    scores_sql,
    view_statements,
)
from sinks.workdays_sql import exceptions
from streams.rules import WorkCalendar


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar()


def test_views_are_dropped_dependants_first_and_created_in_dependency_order(calendar: WorkCalendar) -> None:
    statements = view_statements(load_scoring(), calendar)
    drops = [s.split()[-1] for s in statements if s.startswith("DROP")]
    creates = [s.split()[2] for s in statements if s.startswith("CREATE VIEW")]
    assert creates == [CASE_FACTS, "scores_department", "scores_staff", "rankings_department", "rankings_staff"]
    assert drops == list(reversed(creates))
    assert statements.index(f"DROP TABLE IF EXISTS {CASE_FACTS}") < len(drops)


def test_sql_stays_in_what_clickhouse_18_16_accepts(calendar: WorkCalendar) -> None:
    text = "\n".join(view_statements(load_scoring(), calendar)).upper()
    for forbidden in (" OVER ", "OVER(", "JSONEXTRACT", "DATETIME64", "LOWCARDINALITY", "ROW_NUMBER", "QUALIFY", "%"):
        assert forbidden not in text, forbidden
    assert "FINDINGS FINAL" in text and "CASE_SNAPSHOTS FINAL" in text and "CASE_EVENTS FINAL" in text


def test_score_columns_follow_the_model() -> None:
    m = load_scoring()
    names = [c.name for c in score_columns(m)]
    assert names[:2] == ["score", "on_time_rate"]
    assert {
        "deduction_time_limits",
        "deduction_fees",
        "cat_first_inquiry",
        "avg_wd_decision",
        "bonus",
        "deemed_approvals",
    } <= set(names)
    cols = {c.name: c.sql for c in score_columns(m)}
    fees = "least(8.0, 5.0 * countIf(f_severity = 'yellow' AND f_category IN ('fee'))"
    assert cols["deduction_fees"].startswith(fees)
    assert "intDiv(countIf(f_severity = 'notice' AND f_category IN ('time')), 3)" in cols["deduction_time_limits"]
    assert "TIME_DEEMED_APPROVAL" in cols["deemed_approvals"]


def test_uncapped_heading_has_no_least() -> None:
    data = load_scoring().model_dump()
    data["headings"][1]["cap"] = None
    m = ScoringModel.model_validate(data)
    cols = {c.name: c.sql for c in score_columns(m)}
    assert not cols["deduction_procedure"].startswith("least(")


def test_rank_tie_break_is_score_then_on_time_then_id() -> None:
    sql = rankings_sql(load_scoring(), "staff")
    assert "arraySort(x -> (-tupleElement(x, 1), -tupleElement(x, 2), tupleElement(x, 3))" in sql
    assert "groupArray(tuple(score, ifNull(on_time_rate, -1.), staff_id, staff_id, department_id, score," in sql
    assert ranked_columns(load_scoring(), "staff")[:3] == ["staff_id", "department_id", "score"]
    assert "min(entity_dept) AS department_id" in scores_sql(load_scoring(), "staff")


def test_region_levels_from_the_code() -> None:
    assert [level_of(c) for c in ("510000", "511700", "511702")] == ["province", "city", "county"]
    with pytest.raises(ValueError):
        level_of("5117")
    assert region_of("'city'", "region_code").startswith("multiIf('city' = 'province'")


def test_holiday_exceptions_come_from_the_engine_calendar(calendar: WorkCalendar) -> None:
    holidays, workdays = exceptions(calendar, 2026, 2026)
    day = lambda d: (d - date(1970, 1, 1)).days  # noqa: E731
    assert day(date(2026, 10, 1)) in holidays  # National Day, a Thursday
    assert day(date(2026, 10, 3)) not in holidays  # a Saturday: already not a working day
    assert all(not calendar.is_workday(date.fromordinal(date(1970, 1, 1).toordinal() + d)) for d in holidays)
    assert all(calendar.is_workday(date.fromordinal(date(1970, 1, 1).toordinal() + d)) for d in workdays)
    assert workdays, "2026 has adjusted working weekends (调休)"
