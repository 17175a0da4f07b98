"""deploy/clickhouse/users.sql (docker-compose's users and GRANTs) on a current ClickHouse, in-process with chdb.

chdb has no writable user directory (CREATE USER answers ACCESS_STORAGE_FOR_INSERTION_NOT_FOUND) and runs
every query as `default`, so the file is checked as far as chdb allows: init-users.sh renders it with the
hashes of the secrets files; every statement parses on the current engine; and each GRANT (and the
reader's readonly) is applied to chdb's `default` user through users.xml <grants>, a session per role in
a subprocess over one data directory, where the engine must refuse what the role may not do.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from esup.clickhouse_auth import ROLES, USERS, sha256_hex
from tests.chdb_client import engine, literal

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse"
DENIED = "ACCESS_DENIED"


def rendered(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The SQL init-users.sh would run, for secrets files made here."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    passwords = {role: f"pw-{role}-{os.urandom(4).hex()}" for role in ROLES}
    for role, pw in passwords.items():
        (secrets / f"{USERS[role]}.password").write_text(pw + "\n")
    env = {**os.environ, "SECRETS": str(secrets), "USERS_SQL": str(DEPLOY / "users.sql"), "DRY_RUN": "1"}
    out = subprocess.run(["bash", str(DEPLOY / "init-users.sh")], env=env, capture_output=True, text=True, check=True)
    return out.stdout, passwords


def statements(sql: str) -> list[str]:
    text = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [" ".join(s.split()) for s in text.split(";") if s.strip()]


def test_the_init_script_puts_each_secrets_hash_in_place(tmp_path: Path) -> None:
    sql, passwords = rendered(tmp_path)
    assert not any("{{" in s for s in statements(sql))
    for role in ("sink", "service", "reader"):
        assert f"{USERS[role]} IDENTIFIED WITH sha256_hash BY '{sha256_hex(passwords[role])}'" in sql
    assert not any(pw in sql for pw in passwords.values())  # hashes only, never a password


def test_every_statement_parses_on_the_current_engine(tmp_path: Path) -> None:
    sql, _ = rendered(tmp_path)
    for statement in statements(sql):
        doc = json.loads(engine().query(f"SELECT formatQuerySingleLine({literal(statement)})", "JSONCompact").bytes())
        assert doc["data"][0][0] == statement
    with pytest.raises(Exception, match="SYNTAX_ERROR"):  # the check is not vacuous
        engine().query(f"SELECT formatQuerySingleLine({literal('GRANT INSERT ON esup.* TOO esup_sink')})")


def grants(sql: str) -> dict[str, list[str]]:
    """user → the privileges of its GRANT statements ("INSERT ON esup.*"), as written in users.sql."""
    out: dict[str, list[str]] = {}
    for s in statements(sql):
        if m := re.fullmatch(r"GRANT (.+) TO (\w+)", s):
            out.setdefault(m[2], []).append(m[1])
    return out


def test_the_sink_may_only_insert_and_the_reader_only_select(tmp_path: Path) -> None:
    sql, _ = rendered(tmp_path)
    board = [
        f"INSERT, CREATE TABLE, DROP TABLE ON esup.{t}"
        for t in ("scoreboard_department", "scoreboard_department_next", "scoreboard_staff", "scoreboard_staff_next")
    ]
    assert grants(sql) == {
        "esup_sink": ["INSERT ON esup.*"],
        "esup_service": ["SELECT, INSERT ON esup.*"],
        "esup_reader": ["SELECT ON esup.*"],
        "esup_scorer": ["SELECT ON esup.*", *board, "INSERT ON esup.scoreboard_refreshes"],
    }
    reader = next(s for s in statements(sql) if s.startswith("CREATE USER OR REPLACE esup_reader"))
    assert "SETTINGS readonly = 1 CONST" in reader


# One chdb session per process: each role's session runs in a child Python over the same data directory.
CHILD = r"""
import json, sys
from chdb import session
data, config, queries = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
s = session.Session(f"file:{data}?config-file={config}")
out = []
for q in queries:
    try:
        out.append(["ok", s.query(q, "CSV").bytes().decode().strip()])
    except Exception as exc:
        out.append(["error", str(exc)])
print(json.dumps(out))
"""


def as_role(tmp_path: Path, name: str, grant: list[str], readonly: bool, queries: list[str]) -> list[list[str]]:
    """Run queries in chdb as a `default` user that holds exactly ``grant`` (none: every right)."""
    users = tmp_path / f"users-{name}.xml"
    grants_xml = "".join(f"<query>GRANT {g}</query>" for g in grant)
    users.write_text(
        "<clickhouse><profiles><default/><ro><readonly>1</readonly></ro></profiles><users><default>"
        f"<password></password><profile>{'ro' if readonly else 'default'}</profile><quota>default</quota>"
        f"<networks><ip>::/0</ip></networks>{f'<grants>{grants_xml}</grants>' if grant else ''}"
        "</default></users><quotas><default/></quotas></clickhouse>"
    )
    config = tmp_path / f"config-{name}.xml"
    config.write_text(
        f"<clickhouse><user_directories><users_xml><path>{users}</path></users_xml></user_directories></clickhouse>"
    )
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "data"), str(config), json.dumps(queries)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: list[list[str]] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def test_the_grants_are_enforced_by_the_current_engine(tmp_path: Path) -> None:
    sql, _ = rendered(tmp_path)
    by_user = grants(sql)
    setup = as_role(
        tmp_path,
        "admin",
        [],
        False,
        [
            "CREATE DATABASE esup",
            "CREATE TABLE esup.findings (id String) ENGINE = MergeTree ORDER BY id",
            "INSERT INTO esup.findings VALUES ('f1')",
            "CREATE DATABASE other",
            "CREATE TABLE other.secrets (x String) ENGINE = Memory",
        ],
    )
    assert all(status == "ok" for status, _ in setup), setup
    attempts = [
        "INSERT INTO esup.findings VALUES ('planted')",
        "SELECT count() FROM esup.findings",
        "ALTER TABLE esup.findings DELETE WHERE 1",
        "ALTER TABLE esup.findings UPDATE id = 'x' WHERE 1",
        "TRUNCATE TABLE esup.findings",
        "DROP TABLE esup.findings",
        "CREATE TABLE esup.t (x UInt8) ENGINE = Memory",
        "SELECT * FROM other.secrets",
    ]
    allowed = {"esup_sink": {0}, "esup_service": {0, 1}, "esup_reader": {1}}
    for user, may in allowed.items():
        got = as_role(tmp_path, user, by_user[user], user == "esup_reader", attempts)
        for i, (status, detail) in enumerate(got):
            if i in may:
                assert status == "ok", (user, attempts[i], detail)
            else:
                assert status == "error" and DENIED in detail, (user, attempts[i], detail)
    # Two rows were appended (sink, service) and nothing deleted or edited.
    assert (
        as_role(
            tmp_path, "check", [], False, ["SELECT groupArray(id) FROM (SELECT id FROM esup.findings ORDER BY id)"]
        )[0][1]
        == "\"['f1','planted','planted']\""
    )


def test_the_scorer_may_rebuild_the_scoreboard_and_nothing_else(tmp_path: Path) -> None:
    """The refresher's own statements (sinks/scoreboard.py) pass with its grants, twice (the first build renames
    the copies into place, the next exchanges them); writing, dropping or altering anything else is refused."""
    from sinks.scoreboard import REFRESHES, build_statements, swap_statements
    from sinks.scoring import KINDS

    sql, _ = rendered(tmp_path)
    row = (
        "SELECT 'month' AS period, toDate('2026-06-01') AS period_start, 'province' AS level, '510000' AS region, "
        "toUInt32(1) AS rank, 'D1' AS {id}, 95.5 AS score"
    )
    migration = Path(__file__).resolve().parents[2] / "sinks" / "migrations" / "0045_scoreboard_refreshes.sql"
    setup = as_role(
        tmp_path,
        "admin",
        [],
        False,
        [
            "CREATE DATABASE esup",
            "CREATE TABLE esup.findings (id String) ENGINE = MergeTree ORDER BY id",
            "INSERT INTO esup.findings VALUES ('f1')",
            "USE esup",
            statements(migration.read_text())[0],
            f"CREATE VIEW esup.rankings_department AS {row.format(id='department_id')}",
            f"CREATE VIEW esup.rankings_staff AS {row.format(id='staff_id')}",
        ],
    )
    assert all(status == "ok" for status, _ in setup), setup
    boards = ["scoreboard_department", "scoreboard_staff"]
    rebuild = [s for k in KINDS for s in build_statements(k)]
    work = [
        "USE esup",
        *rebuild,
        *swap_statements(True, set()),
        *rebuild,
        *swap_statements(True, set(boards)),
        f"INSERT INTO {REFRESHES} (board, as_of, fingerprint, seconds, department_rows, staff_rows) "
        "VALUES ('scoreboard', now(), 1, 0.5, 1, 1)",
        "SELECT score FROM scoreboard_staff",
    ]
    refused = [
        "INSERT INTO findings VALUES ('planted')",
        "DROP TABLE findings",
        "TRUNCATE TABLE findings",
        "ALTER TABLE findings DELETE WHERE 1",
        "CREATE TABLE planted (x UInt8) ENGINE = Memory",
        "RENAME TABLE findings TO scoreboard_department_next",
        "DROP TABLE scoreboard_refreshes",
        "TRUNCATE TABLE scoreboard_department",
        "ALTER TABLE scoreboard_department DELETE WHERE 1",
        "DROP VIEW rankings_department",
    ]
    got = as_role(tmp_path, "esup_scorer", grants(sql)["esup_scorer"], False, work + refused)
    for query, (status, detail) in zip(work, got[: len(work)], strict=True):
        assert status == "ok", (query, detail)
    assert got[len(work) - 1][1] == "95.5"  # the board holds the view's row
    for query, (status, detail) in zip(refused, got[len(work) :], strict=True):
        assert status == "error" and DENIED in detail, (query, detail)
    assert as_role(tmp_path, "check", [], False, ["SELECT count() FROM esup.findings"])[0][1] == "1"
