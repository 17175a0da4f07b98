"""The scoreboard on the real ClickHouse (18.16): the boards equal the views; a dismissal reaches them on refresh."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from esup.stack.servers import Provided
from sinks.scoreboard import REFRESHES, Refresh, as_of, board_table, fingerprint, refresh, run
from sinks.scoring import KINDS, Kind, create_views, ranked_columns, rankings_view, scores_view
from streams.rules import WorkCalendar
from tests.integration import test_loop_rankings as loop
from tests.integration import test_rankings as rank
from tests.integration.analytics_db import cli_env, fresh_database, insert

pytestmark = pytest.mark.integration

DB, LOOP_DB = "esup_test_scoreboard", "esup_test_scoreboard_loop"


@pytest.fixture(scope="module")
def ranked(clickhouse_server: Provided) -> Iterator[Any]:
    """The hand-worked ranking fixture of test_rankings, its scoreboard built once."""
    c = fresh_database(clickhouse_server.address, DB)
    for table, rows in rank.fixture_rows().items():
        insert(c, table, rows)
    assert refresh(c) is not None  # never refreshed: built even without force
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")


def everything(client: Any, table: str, columns: str = "*") -> list[tuple[Any, ...]]:
    return sorted((tuple(r) for r in client.execute(f"SELECT {columns} FROM {table}")), key=repr)


@pytest.mark.parametrize("kind", KINDS)
def test_the_board_holds_the_rankings_view_and_the_scores_view(ranked: Any, kind: Kind) -> None:
    board = everything(ranked, board_table(kind))
    assert board and board == everything(ranked, rankings_view(kind))
    # Without the rank it is the scores view, row for row.
    keys = "period, period_start, level, region, " + ", ".join(ranked_columns(rank_model(), kind))
    assert everything(ranked, board_table(kind), keys) == everything(ranked, scores_view(kind), keys)
    assert ranked.execute(
        f"SELECT {rank.RANK_COLUMNS} FROM {board_table('department')} WHERE period = 'month' "
        "AND period_start = %(s)s AND level = 'province' AND region = '510000' ORDER BY rank",
        {"s": rank.JUNE},
    ) == rank.ranking(ranked, "province", "510000")


def rank_model() -> Any:
    from schemas.scoring import load_scoring

    return load_scoring()


def test_unchanged_inputs_are_not_rebuilt_and_an_insert_is(ranked: Any) -> None:
    before = fingerprint(ranked)
    assert refresh(ranked) is None
    insert(ranked, "findings", [loop.finding("EXTRA", "CD-1", "cd1-a")])
    assert fingerprint(ranked) != before
    done = refresh(ranked)
    assert done is not None and done.rows["department"] > 0
    assert everything(ranked, board_table("department")) == everything(ranked, rankings_view("department"))
    # `esup db views` again (another model, a new holiday calendar): the views' new definition is rebuilt too.
    time.sleep(1.1)  # the views' creation time has whole seconds
    create_views(ranked, rank_model(), WorkCalendar())
    assert refresh(ranked) is not None


@pytest.fixture
def decided(clickhouse_server: Provided) -> Iterator[Any]:
    """test_loop_rankings' findings (DZ-1 one yellow, DZ-2 two), the board built."""
    c = fresh_database(clickhouse_server.address, LOOP_DB)
    insert(
        c,
        "findings",
        [
            loop.finding("A", "DZ-1", "s1"),
            loop.finding("B1", "DZ-2", "s2"),
            loop.finding("B2", "DZ-2", "s2", "procedure"),
        ],
    )
    refresh(c, force=True)
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {LOOP_DB}")


def board_ranking(client: Any) -> list[tuple[str, float]]:
    return [
        (d, s)
        for d, s in client.execute(
            f"SELECT department_id, score FROM {board_table('department')} WHERE period = 'month' AND level = 'county' "
            "AND region = '511702' ORDER BY rank"
        )
    ]


def test_a_dismissal_changes_the_board_once_refreshed(decided: Any) -> None:
    assert board_ranking(decided) == loop.ranking(decided) == [("DZ-1", 95.0), ("DZ-2", 90.0)]
    first = as_of(decided)
    assert first is not None
    loop.add_decisions(decided, [loop.decision("B1", "dismissed", 5), loop.decision("B2", "dismissed", 6)])
    assert loop.ranking(decided) == [("DZ-1", 95.0)]  # the view at once
    assert board_ranking(decided) == [("DZ-1", 95.0), ("DZ-2", 90.0)]  # the board: as of its last refresh
    time.sleep(1.1)  # as_of has whole seconds
    done = refresh(decided)
    assert done is not None
    assert board_ranking(decided) == [("DZ-1", 95.0)]
    now = as_of(decided)
    assert now is not None and now > first and now == done.as_of
    assert decided.execute(f"SELECT count() FROM {REFRESHES} FINAL") == [(1,)]  # one row: the latest


def test_the_refresher_brings_a_dismissal_in_within_its_bound(decided: Any, clickhouse_server: Provided) -> None:
    """`run` as `esup scores refresh --every` runs it: the dismissal is in the board within every + 2 × a rebuild."""
    from sinks.clickhouse import connect_url

    every, builds = 0.5, []
    stop = threading.Event()
    worker = threading.Thread(
        target=run,
        args=(lambda: connect_url(clickhouse_server.address, LOOP_DB), stop),
        kwargs={"every": every, "report": lambda r: builds.append(r)},
        daemon=True,
    )
    worker.start()
    try:
        time.sleep(1.5)
        assert builds == []  # the fixture built it: nothing changed since, nothing rebuilt
        decided_at = time.monotonic()
        loop.add_decisions(decided, [loop.decision("B1", "dismissed", 5), loop.decision("B2", "dismissed", 6)])
        while board_ranking(decided) != [("DZ-1", 95.0)]:
            assert time.monotonic() - decided_at < 30, "the dismissal never reached the board"
            time.sleep(0.05)
        waited = time.monotonic() - decided_at
    finally:
        stop.set()
        worker.join(10)
    assert builds and all(isinstance(b, Refresh) for b in builds)
    assert waited <= every + 2 * max(b.seconds for b in builds) + 0.5, (waited, builds)


def test_esup_scores_refresh_command(decided: Any, clickhouse_server: Provided) -> None:
    from esup.cli import main

    env = cli_env(clickhouse_server.address)
    unchanged = CliRunner().invoke(main, ["scores", "refresh", "--database", LOOP_DB], env=env)
    assert unchanged.exit_code == 0 and "inputs unchanged" in unchanged.output, unchanged.output
    loop.add_decisions(decided, [loop.decision("B1", "dismissed", 5)])
    done = CliRunner().invoke(main, ["scores", "refresh", "--database", LOOP_DB], env=env)
    assert done.exit_code == 0 and "department and" in done.output, done.output
    assert board_ranking(decided) == [("DZ-1", 95.0), ("DZ-2", 95.0)]
    forced = CliRunner().invoke(main, ["scores", "refresh", "--force", "--database", LOOP_DB], env=env)
    assert forced.exit_code == 0 and "department and" in forced.output
