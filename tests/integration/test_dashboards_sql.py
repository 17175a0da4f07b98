"""Every panel and variable query of the committed dashboards, expanded as Grafana would, runs on the real
ClickHouse over the rules engine's output for examples/ and returns the columns its panel expects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dashboards.build import BOARDS, OUT_DIR, Board
from dashboards.panels import PanelSpec
from esup.cli.evaluate import read_events
from esup.stack.servers import Provided
from schemas.catalog import load_catalog
from schemas.config import RuleConfig
from sinks import departments
from sinks.departments import Department, names_sql
from sinks.rows import Kind, Record, convert
from sinks.writer import ClickHouseSink
from streams.rules import Context, WorkCalendar, evaluate
from streams.rules.snapshot import snapshot
from tests.integration.analytics_db import fresh_database, refresh_board
from tests.integration.grafana_sql import expand

pytestmark = pytest.mark.integration

DB = "esup_test_dashboards"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Scenario:
    """What a user picked: variables and the dashboard's time range."""

    name: str
    variables: dict[str, str]
    start: datetime
    end: datetime


SCENARIOS = [
    Scenario(
        "province-month",
        {
            "region_level": "province",
            "region": "510000",
            "period": "month",
            "department": "DZ-SCJG",
            "case_id": "DZ2026-0003",
            "scenario": "examples-unchanged",
        },
        datetime(2026, 1, 1, tzinfo=TZ),
        datetime(2026, 5, 20, 12, tzinfo=TZ),
    ),
    Scenario(
        "city-week",
        {
            "region_level": "city",
            "region": "511700",
            "period": "week",
            "department": "DZ-ZRZY",
            "case_id": "DZ2026-0005",
            "scenario": "examples-unchanged",
        },
        datetime(2026, 4, 1, tzinfo=TZ),
        datetime(2026, 5, 8, 18, tzinfo=TZ),
    ),
    Scenario(
        "county-day",
        {
            "region_level": "county",
            "region": "511722",
            "period": "day",
            "department": "DZ-WJW",
            "case_id": "DZ2026-0016",
            "scenario": "examples-unchanged",
        },
        datetime(2026, 6, 1, tzinfo=TZ),
        datetime(2026, 6, 30, 17, tzinfo=TZ),
    ),
]

# Panels that must show something in the first scenario: the fixture data has rows for them.
NON_EMPTY = {
    "部门排名 Department ranking",
    "预警与红黄牌趋势 Findings over time",
    "按市办结及时率 On-time rate by city",
    "人员排名 Staff ranking",
    "收费与程序问题 Fee and procedure findings",
    "办件状态 Case",
    "时间线 Timeline",
    "问题与证据 Findings and their evidence",
    "临近时限的在办件 Open cases nearest their deadline",
    "情景与现行排名 Scenario beside the live ranking",
    "情景记录 Scenario runs",
}


def _records(kind: Kind, payloads: list[tuple[bytes, bytes]]) -> list[Any]:
    out = []
    for offset, (key, value) in enumerate(payloads):
        converted = convert(kind, Record("t", 0, offset, 1_780_000_000_000, key, value))
        assert converted.row is not None, converted.invalid
        out.append((converted.table, converted.row))
    return out


def example_rows() -> list[tuple[str, Any]]:
    """(table, row) for the sample events, their findings and final snapshots from the real rules engine."""
    ctx = Context.build(WorkCalendar(), load_catalog(EXAMPLES / "catalog.yaml"), RuleConfig())
    events, rejected = read_events(EXAMPLES / "events.jsonl")
    assert not rejected
    result = evaluate(events, ctx)
    assert result.at is not None
    rows = _records("events", [(e.case_id.encode(), e.model_dump_json().encode()) for e in events])
    rows += _records("findings", [(f.case_id.encode(), f.model_dump_json().encode()) for f in result.findings])
    rows += _records(
        "snapshots",
        [(s.case_id.encode(), snapshot(s, result.at, ctx).model_dump_json().encode()) for s in result.states.values()],
    )
    return rows


def store_scenario(c: Any) -> None:
    """A what-if of the sample (its configuration unchanged) over 2026, stored as `examples-unchanged`."""
    from schemas.scoring import load_scoring
    from whatif.run import Configuration, whatif
    from whatif.source import Window
    from whatif.store import store

    same = Configuration(load_catalog(EXAMPLES / "catalog.yaml"), RuleConfig(), WorkCalendar(), load_scoring())
    result = whatif(c, Window(date(2026, 1, 1), date(2026, 12, 31)), same, same)
    assert result.report["check"]["ok"], result.report["check"]
    store(c, "examples-unchanged", result, datetime(2026, 12, 1, tzinfo=TZ))


@pytest.fixture(scope="module")
def client(clickhouse_server: Provided) -> Iterator[Any]:
    """The sample events, their findings and final snapshots from the real rules engine, through sinks.rows."""
    c = fresh_database(clickhouse_server.address, DB)
    sink = ClickHouseSink(c)
    for table, row in example_rows():
        sink.add(table, [row])
    sink.flush()
    # Two of the sample's departments have names in the directory; the others show their ids.
    named = [
        Department("DZ-SCJG", "达州市市场监督管理局", "511700"),
        Department("DZ-WJW", "达州市卫生健康委员会", "511700"),
    ]
    departments.upsert(c, named, source="test", at=datetime(2026, 1, 1, tzinfo=TZ))
    refresh_board(c)  # the ranking panels read the scoreboard
    store_scenario(c)  # the what-if dashboard shows a stored scenario
    yield c
    c.disconnect()


def _committed(board: Board) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((OUT_DIR / board.filename).read_text(encoding="utf-8"))
    return data


PANELS = [(board, spec) for board in BOARDS for spec in board.specs()]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
@pytest.mark.parametrize(("board", "spec"), PANELS, ids=[f"{b.name}:{s.title.split()[-1]}" for b, s in PANELS])
def test_panel_query_returns_its_columns(client: Any, board: Board, spec: PanelSpec, scenario: Scenario) -> None:
    panel = next(p for p in _committed(board)["panels"] if p["title"] == spec.title)
    (target,) = panel["targets"]
    assert target["rawSql"] == spec.sql
    sql = expand(target["rawSql"], scenario.variables, scenario.start, scenario.end)
    rows, columns = client.execute(sql, with_column_types=True)
    assert tuple(name for name, _ in columns) == spec.columns
    if scenario is SCENARIOS[0] and spec.title in NON_EMPTY:
        assert rows, f"{spec.title}: no rows for {scenario.name}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
@pytest.mark.parametrize("board", BOARDS, ids=[b.name for b in BOARDS])
def test_variable_queries_return_choices(client: Any, board: Board, scenario: Scenario) -> None:
    """One column (value shown as is), or two (the value, then the label the drop-down shows)."""
    for var in _committed(board)["templating"]["list"]:
        if var["type"] != "query":
            continue
        sql = expand(var["query"], scenario.variables, scenario.start, scenario.end)
        rows, columns = client.execute(sql, with_column_types=True)
        assert len(columns) in (1, 2), var["name"]
        assert rows, f"{var['name']}: no choices"
        if var["name"] in scenario.variables and var["name"] != "case_id":
            assert scenario.variables[var["name"]] in [r[0] for r in rows], var["name"]


def test_department_choices_are_labelled_with_directory_names(client: Any) -> None:
    """The department drop-down shows the directory's name beside each id, not the id alone."""
    var = next(v for v in _committed(BOARDS[1])["templating"]["list"] if v["name"] == "department")
    s = SCENARIOS[0]
    rows = client.execute(expand(var["query"], s.variables, s.start, s.end))
    names = dict(client.execute(names_sql()))
    assert {"DZ-SCJG", "DZ-WJW"} <= {value for value, _ in rows}
    for value, label in rows:
        assert label == (f"{names[value]} ({value})" if names.get(value) else value), value


def test_live_ranking_shows_the_sample_departments(client: Any) -> None:
    """The overview's ranking for May 2026 (province): figures as the views compute them from the rules."""
    spec = next(s for s in BOARDS[0].specs() if s.title.startswith("部门排名"))
    s = SCENARIOS[0]
    rows = client.execute(expand(spec.sql, s.variables, s.start, s.end))
    assert [(r[0], r[1]) for r in rows] == [(1, "DZ-ZJ"), (2, "DZ-ZRZY"), (3, "DZ-FGW"), (4, "DZ-SCJG")]


def test_a_stored_scenario_shows_beside_the_live_ranking(client: Any) -> None:
    """The what-if dashboard: an unchanged scenario's ranks equal the live scoreboard's, month by month."""
    spec = next(s for s in BOARDS[3].specs() if s.title.startswith("情景与现行排名"))
    s = SCENARIOS[0]
    rows = client.execute(expand(spec.sql, s.variables, s.start, s.end))
    assert rows
    for r in rows:
        live_rank, rank_before, rank_after, move = r[2], r[4], r[5], r[8]
        assert live_rank == rank_before == rank_after and move == 0, r
