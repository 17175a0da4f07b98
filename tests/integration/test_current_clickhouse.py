"""Every migration, view and dashboard query also runs on a current ClickHouse (chdb, 26.x, in-process), with
the same results as Debian's 18.16 server; docs/clickhouse-versions.md says what differs between the two."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from dashboards.build import BOARDS
from esup.stack.servers import Provided
from schemas.scoring import load_scoring
from sinks.case_view import load
from sinks.clickhouse import connect_url
from sinks.departments import Department, upsert
from sinks.fair_reader import read as read_fair
from sinks.migrate import load_migrations, migrate, tables
from sinks.rankings import fetch
from sinks.scoreboard import board_table, refresh
from sinks.scoring import CASE_FACTS, KINDS, Kind, create_views, rankings_view, scores_view
from sinks.writer import ClickHouseSink
from streams.rules import WorkCalendar
from tests.chdb_client import ChdbClient, rows_of, version
from tests.integration import test_dashboards_sql as dash
from tests.integration import test_fair_rankings as fair
from tests.integration import test_rankings as rank
from tests.integration.analytics_db import fresh_database, insert, refresh_board
from tests.integration.grafana_sql import expand

pytestmark = pytest.mark.integration

VIEWS = [CASE_FACTS, *(scores_view(k) for k in KINDS), *(rankings_view(k) for k in KINDS)]
NAMES = [Department("DZ-1", "达州市通川区公安局", "511702"), Department("CD-2", "成都市青羊区公安局", "510105")]


def current(database: str) -> ChdbClient:
    """A fresh, migrated database with the views on the in-process engine."""
    root = ChdbClient()
    root.execute(f"DROP DATABASE IF EXISTS {database}")
    migrate(ChdbClient, database)
    client = ChdbClient(database)
    create_views(client, load_scoring(), WorkCalendar())
    return client


def test_the_engine_is_a_current_release() -> None:
    assert int(version().split(".")[0]) >= 25


def test_every_migration_applies_once_on_the_current_engine() -> None:
    root = ChdbClient()
    root.execute("DROP DATABASE IF EXISTS esup_chdb_migrations")
    applied = migrate(ChdbClient, "esup_chdb_migrations")
    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    assert migrate(ChdbClient, "esup_chdb_migrations") == []  # the ledger works there too
    shown = tables(root, "esup_chdb_migrations")
    assert {"case_events", "findings", "case_snapshots", "dead_letters", "departments"} <= set(shown)


@pytest.fixture(scope="module")
def ranking_pair(clickhouse_server: Provided) -> Iterator[tuple[Any, ChdbClient]]:
    """The ranking fixture of test_rankings (worked out by hand) on both engines, with two department names."""
    old = fresh_database(clickhouse_server.address, "esup_test_versions_rank")
    new = current("esup_chdb_rank")
    for client in (old, new):
        for table, rows in rank.fixture_rows().items():
            insert(client, table, rows)
        upsert(client, NAMES, source="test", at=datetime(2026, 6, 1, tzinfo=UTC))
        refresh_board(client)
    yield old, new
    old.disconnect()


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_gives_the_same_rows_on_both_engines(ranking_pair: tuple[Any, ChdbClient], view: str) -> None:
    old, new = ranking_pair
    expected = rows_of(old.execute(f"SELECT * FROM {view}"))
    assert expected, f"{view}: the fixture gives it rows"
    assert rows_of(new.execute(f"SELECT * FROM {view}")) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_the_scoreboard_is_the_rankings_view_on_both_engines(ranking_pair: tuple[Any, ChdbClient], kind: Kind) -> None:
    """The materialised board (built by CREATE … AS SELECT, swapped by RENAME on 18.16 and by EXCHANGE on the
    current engine's Atomic database) holds exactly the view's rows, on each engine, and the same on both."""
    old, new = ranking_pair
    expected = rows_of(old.execute(f"SELECT * FROM {rankings_view(kind)}"))
    assert expected
    for client in (old, new):
        refresh(client, force=True)  # a second build: the swap path with a board already in place
        assert rows_of(client.execute(f"SELECT * FROM {board_table(kind)}")) == expected
        assert not client.execute(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND name LIKE 'scoreboard_%' AND name NOT IN ('scoreboard_department', "
            "'scoreboard_staff', 'scoreboard_refreshes')"
        )  # no copy left behind
    assert refresh(new) is None  # nothing changed since: nothing rebuilt


def test_the_hand_worked_ranking_holds_on_the_current_engine(ranking_pair: tuple[Any, ChdbClient]) -> None:
    _, new = ranking_pair
    assert [
        tuple(r)
        for r in new.execute(
            f"SELECT {rank.RANK_COLUMNS} FROM rankings_department WHERE period = 'month' AND period_start = %(s)s "
            "AND level = 'province' AND region = '510000' ORDER BY rank",
            {"s": rank.JUNE},
        )
    ] == [
        (1, "DZ-1", 89, None, 6, 1, 0, 0, 0),
        (2, "DZ-2", 89, None, 4, 2, 0, 0, 0),
        (3, "CD-2", 87, 1, 0, 2, 1, 0, 3),
        (4, "CD-1", 87, 0.5, 0, 3, 0, 1, 2),
    ]


def test_esup_rankings_query_with_names_is_the_same(ranking_pair: tuple[Any, ChdbClient]) -> None:
    old, new = ranking_pair
    for kind in KINDS:
        for period, start in (("month", rank.JUNE), ("week", date(2026, 6, 1)), ("day", date(2026, 6, 2))):
            for region in (None, "510000", "511700", "510105"):
                expected = fetch(old, kind, period, start, region)
                assert fetch(new, kind, period, start, region) == expected, (kind, period, region)
    names = {r.id: r.department_name for r in fetch(new, "department", "month", rank.JUNE)}
    assert names == {"DZ-1": "达州市通川区公安局", "DZ-2": "", "CD-1": "", "CD-2": "成都市青羊区公安局"}


@pytest.fixture(scope="module")
def fair_pair(clickhouse_server: Provided) -> Iterator[tuple[Any, ChdbClient]]:
    """The fair rankings' province (test_fair_rankings: procedures, dismissed and complaint cards) on both engines."""
    old = fresh_database(clickhouse_server.address, "esup_test_versions_fair")
    new = current("esup_chdb_fair")
    province = fair.province_rows()
    for client in (old, new):
        fair.fill(client, *province)
    yield old, new
    old.disconnect()


@pytest.mark.parametrize("kind", KINDS)
def test_the_fair_reader_gives_the_same_cells_on_both_engines(fair_pair: tuple[Any, ChdbClient], kind: Kind) -> None:
    old, new = fair_pair
    for history in (1, 2):
        expected = read_fair(old, kind, "month", fair.JUNE, history=history)
        assert expected.period and any(c.procedure for c in expected.period)
        assert read_fair(new, kind, "month", fair.JUNE, history=history) == expected, history


@pytest.fixture(scope="module")
def dashboard_pair(clickhouse_server: Provided) -> Iterator[tuple[Any, ChdbClient]]:
    """The dashboards' fixture (examples/ through the rules engine) on both engines."""
    old = fresh_database(clickhouse_server.address, "esup_test_versions_dash")
    new = current("esup_chdb_dash")
    rows = dash.example_rows()
    for client in (old, new):
        sink = ClickHouseSink(client)
        for table, row in rows:
            sink.add(table, [row])
        sink.flush()
        refresh_board(client)
    yield old, new
    old.disconnect()


QUERIES = [(board.name, spec.title, spec.sql) for board in BOARDS for spec in board.specs()]


@pytest.mark.parametrize("scenario", dash.SCENARIOS, ids=[s.name for s in dash.SCENARIOS])
def test_every_panel_gives_the_same_rows_on_both_engines(
    dashboard_pair: tuple[Any, ChdbClient], scenario: dash.Scenario
) -> None:
    old, new = dashboard_pair
    nonempty = 0
    for board, title, sql in QUERIES:
        query = expand(sql, scenario.variables, scenario.start, scenario.end)
        expected, old_columns = old.execute(query, with_column_types=True)
        got, new_columns = new.execute(query, with_column_types=True)
        assert [c for c, _ in new_columns] == [c for c, _ in old_columns], (board, title)
        assert rows_of(got) == rows_of(expected), (board, title)
        nonempty += bool(expected)
    assert nonempty >= 5  # the comparison is not between empty results


def test_every_variable_query_gives_the_same_choices(dashboard_pair: tuple[Any, ChdbClient]) -> None:
    old, new = dashboard_pair
    s = dash.SCENARIOS[0]
    for board in BOARDS:
        for var in dash._committed(board)["templating"]["list"]:
            if var["type"] == "query":
                query = expand(var["query"], s.variables, s.start, s.end)
                assert rows_of(new.execute(query)) == rows_of(old.execute(query)), (board.name, var["name"])


def test_a_clickhouse_url_for_the_old_server_still_works(clickhouse_server: Provided) -> None:
    # The comparisons above are only meaningful if `old` is the 18.16 server, not the current engine.
    server = connect_url(clickhouse_server.address, "default").execute("SELECT version()")[0][0]
    assert server != version()


def test_esup_case_reads_the_same_case_on_both_engines(dashboard_pair: tuple[Any, ChdbClient]) -> None:
    """DZ2026-0007 of the examples: a suspension and two extension requests, and findings with evidence."""
    old, new = dashboard_pair
    case, again = load(old, "DZ2026-0007"), load(new, "DZ2026-0007")
    assert case is not None and again is not None
    # chdb hands times back as text: compare what does not depend on the driver's types.
    assert again.clocks == case.clocks and again.state["stage"] == case.state["stage"]
    assert [(e.event_id, e.kind, e.payload) for e in again.events] == [
        (e.event_id, e.kind, e.payload) for e in case.events
    ]
    assert [(f.finding_id, f.evidence) for f in again.findings] == [(f.finding_id, f.evidence) for f in case.findings]
    assert [e.kind for e in case.pauses] == ["suspend", "extend", "extend"]
    decision = next(c for c in case.clocks if c.name == "decision")
    assert decision.remaining_wd == decision.limit_wd + decision.extension_wd - decision.used_wd
    assert case.findings and all(case.event(e) for f in case.findings for e in f.evidence)
    assert load(old, "NO-SUCH-CASE") is None


def test_esup_case_command_on_the_server(dashboard_pair: tuple[Any, ChdbClient], clickhouse_server: Provided) -> None:
    from urllib.parse import urlsplit

    from click.testing import CliRunner

    from esup.cli import main

    url = urlsplit(clickhouse_server.address)
    env = {
        "ESUP_CLICKHOUSE_HOST": url.hostname or "127.0.0.1",
        "ESUP_CLICKHOUSE_PORT": str(url.port or 9000),
        "ESUP_CLICKHOUSE_USER": url.username or "default",
        "ESUP_CLICKHOUSE_PASSWORD": url.password or "",
    }
    run = CliRunner().invoke(
        main, ["case", "DZ2026-0007", "--database", "esup_test_versions_dash", "--width", "200"], env=env
    )
    assert run.exit_code == 0, run.output
    for heading in ("Case DZ2026-0007", "Clocks", "Suspensions and extensions", "Timeline", "Findings and their"):
        assert heading in run.output
    missing = CliRunner().invoke(main, ["case", "NOPE", "--database", "esup_test_versions_dash"], env=env)
    assert missing.exit_code == 1 and "no case 'NOPE'" in missing.output
