"""The scoreboard's swap statements per database engine, and the scorer's grants covering exactly what they touch."""

from __future__ import annotations

import re
from pathlib import Path

from sinks.scoreboard import REFRESHES, board_table, build_statements, swap_statements
from sinks.scoring import KINDS

BOARDS = {board_table(k) for k in KINDS}
USERS_SQL = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse" / "users.sql"


def test_first_build_renames_the_copies_into_place() -> None:
    for atomic in (True, False):
        assert swap_statements(atomic, set()) == [
            "RENAME TABLE scoreboard_department_next TO scoreboard_department, "
            "scoreboard_staff_next TO scoreboard_staff"
        ]


def test_atomic_databases_exchange_and_drop_the_old_copy_at_once() -> None:
    assert swap_statements(True, BOARDS) == [
        "EXCHANGE TABLES scoreboard_department_next AND scoreboard_department, "
        "scoreboard_staff_next AND scoreboard_staff",
        "DROP TABLE IF EXISTS scoreboard_department_next SYNC",
        "DROP TABLE IF EXISTS scoreboard_staff_next SYNC",
    ]


def test_ordinary_databases_rename_every_board_in_one_statement() -> None:
    out = swap_statements(False, BOARDS)
    renames = [s for s in out if s.startswith("RENAME")]
    assert renames == [
        "RENAME TABLE scoreboard_department TO scoreboard_department_prev, scoreboard_staff TO "
        "scoreboard_staff_prev, scoreboard_department_next TO scoreboard_department, "
        "scoreboard_staff_next TO scoreboard_staff"
    ]
    assert out.index(renames[0]) == 2  # after clearing any _prev a stopped refresh left
    assert out[-2:] == ["DROP TABLE IF EXISTS scoreboard_department_prev", "DROP TABLE IF EXISTS scoreboard_staff_prev"]


def test_the_build_reads_the_rankings_view() -> None:
    drop, create = build_statements("staff")
    assert drop == "DROP TABLE IF EXISTS scoreboard_staff_next"
    assert create.startswith("CREATE TABLE scoreboard_staff_next ENGINE = MergeTree ORDER BY (period, level, ")
    assert create.endswith("AS SELECT * FROM rankings_staff")


def test_the_scorers_grants_name_exactly_the_tables_its_statements_write() -> None:
    """Current ClickHouse (Atomic): every table a refresh creates, renames or drops is granted, and nothing else."""
    written = set()
    for statement in (
        [s for k in KINDS for s in build_statements(k)] + swap_statements(True, BOARDS) + swap_statements(True, set())
    ):
        written |= set(re.findall(r"\b(scoreboard_\w+)", statement))
    text = USERS_SQL.read_text()
    granted = set(re.findall(r"GRANT INSERT, CREATE TABLE, DROP TABLE ON esup\.(\w+) TO esup_scorer", text))
    assert granted == written
    assert f"GRANT INSERT ON esup.{REFRESHES} TO esup_scorer" in text
