"""Least privilege on the local stack's ClickHouse 18.16: what the reader, sink and `default` users may not do.

18.16 has users.xml only (no GRANT): it enforces readonly=1 (the reader), allow_databases (sink, service,
reader) and passwords (every user, `default` included). It cannot make the sink INSERT-only: a user that
may write may also ALTER … DELETE and DROP in its own databases; the last test pins that down, and
test_clickhouse_users.py checks the INSERT-only GRANTs that current ClickHouse applies.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from clickhouse_driver.errors import Error

from esup.clickhouse_auth import ROLES, USERS, password_path
from esup.settings import Settings
from esup.stack.clickhouse import ClickHouseLauncher
from esup.stack.servers import Provided
from sinks.clickhouse import connect, connect_url
from sinks.migrate import migrate
from tests.conftest import unavailable

pytestmark = pytest.mark.integration

READONLY, DATABASE_ACCESS_DENIED = 164, 291
WRONG_PASSWORD, REQUIRED_PASSWORD = 193, 194


@pytest.fixture(scope="module")
def stack(esup_settings: Settings, clickhouse_server: Provided) -> ClickHouseLauncher:
    """The local stack's launcher, when the session's server is that stack (its users.xml is ours to check)."""
    launcher = ClickHouseLauncher(esup_settings)
    port = urlsplit(clickhouse_server.address).port
    if port != esup_settings.clickhouse_port or not launcher.users.exists():
        unavailable(
            "the local stack's ClickHouse users",
            f"the session's server ({clickhouse_server.source}) is not the local stack under {esup_settings.home}",
        )
    if not password_path(esup_settings, "reader").exists():
        unavailable("the local stack's ClickHouse users", "no role passwords: restart it with `esup stack up`")
    return launcher


def error_code(run: Callable[[], Any]) -> int:
    with pytest.raises(Error) as err:
        run()
    return int(getattr(err.value, "code", -1))


@pytest.fixture(scope="module")
def databases(stack: ClickHouseLauncher, clickhouse_server: Provided) -> Iterator[tuple[str, str]]:
    """(a migrated database the roles are allowed into, another database they are not), both dropped after."""
    mine, other = (f"esup_test_priv_{uuid.uuid4().hex[:8]}", f"esup_test_other_{uuid.uuid4().hex[:8]}")
    admin = connect_url(clickhouse_server.address, "default")
    migrate(lambda db: connect_url(clickhouse_server.address, db), mine)
    admin.execute(f"CREATE DATABASE {other}")
    admin.execute(f"CREATE TABLE {other}.secrets (x String) ENGINE = Memory")
    # `departments` is a view over the directory's table (0031): rows go into the table, reads use the view.
    admin.execute(f"INSERT INTO {mine}.directory_departments (id, name, version) VALUES", [("D1", "某局", 1)])
    stack.allow_databases([mine])
    try:
        reader = connect(stack.s, mine, role="reader")
        deadline = time.monotonic() + 20  # ClickHouse re-reads users.xml every couple of seconds
        while True:
            try:
                reader.execute("SELECT 1 FROM departments LIMIT 1")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield mine, other
    finally:
        stack.disallow_databases([mine])
        for db in (mine, other):
            admin.execute(f"DROP DATABASE IF EXISTS {db}")
        admin.disconnect()


def test_password_files_and_users_xml_are_owner_only(stack: ClickHouseLauncher) -> None:
    assert stack.users.stat().st_mode & 0o777 == 0o600
    assert stack.s.clickhouse_credentials_dir.stat().st_mode & 0o777 == 0o700
    text = stack.users.read_text()
    for role in ROLES:
        path = password_path(stack.s, role)
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert path.read_text().strip() not in text


def test_default_and_wrong_passwords_are_refused(stack: ClickHouseLauncher) -> None:
    from clickhouse_driver import Client

    port = stack.s.clickhouse_port
    assert error_code(lambda: Client("127.0.0.1", port=port).execute("SELECT 1")) == REQUIRED_PASSWORD
    assert (
        error_code(lambda: Client("127.0.0.1", port=port, user="default", password="").execute("SELECT 1"))
        == REQUIRED_PASSWORD
    )
    assert (
        error_code(lambda: Client("127.0.0.1", port=port, user=USERS["reader"], password="guess").execute("SELECT 1"))
        == WRONG_PASSWORD
    )


def test_the_reader_reads_esup_tables_and_changes_nothing(
    stack: ClickHouseLauncher, databases: tuple[str, str]
) -> None:
    mine, _ = databases
    reader = connect(stack.s, mine, role="reader")
    assert reader.execute("SELECT department_id, name FROM departments") == [("D1", "某局")]
    assert reader.execute("SELECT count() FROM findings") == [(0,)]
    refused = {
        "INSERT": lambda: reader.execute("INSERT INTO directory_departments (id) VALUES", [("D2",)]),
        "ALTER DELETE": lambda: reader.execute("ALTER TABLE directory_departments DELETE WHERE 1"),
        "ALTER ADD COLUMN": lambda: reader.execute("ALTER TABLE directory_departments ADD COLUMN x UInt8"),
        "DROP": lambda: reader.execute("DROP TABLE directory_departments"),
        "TRUNCATE": lambda: reader.execute("TRUNCATE TABLE directory_departments"),
        "CREATE": lambda: reader.execute("CREATE TABLE planted (x UInt8) ENGINE = Memory"),
        "SET": lambda: reader.execute("SET readonly = 0"),
    }
    for what, run in refused.items():
        assert error_code(run) == READONLY, what
    assert reader.execute("SELECT department_id FROM departments") == [("D1",)]


def test_reader_and_sink_cannot_reach_another_database(stack: ClickHouseLauncher, databases: tuple[str, str]) -> None:
    mine, other = databases
    for role in ("reader", "sink", "service", "scorer"):
        client = connect(stack.s, mine, role=role)
        assert error_code(lambda c=client: c.execute(f"SELECT * FROM {other}.secrets")) == DATABASE_ACCESS_DENIED
        # The reader is stopped by readonly=1 before the database is even looked at.
        assert error_code(lambda c=client: c.execute(f"DROP TABLE {other}.secrets")) == (
            READONLY if role == "reader" else DATABASE_ACCESS_DENIED
        )
        # Logging in with it as the default database: 18.16 drops the connection during the handshake.
        with pytest.raises((Error, EOFError)):
            connect(stack.s, other, role=role).execute("SELECT 1")
    assert connect(stack.s, mine, role="admin").execute(f"EXISTS TABLE {other}.secrets") == [(1,)]


def test_on_18_16_the_sink_appends_and_can_also_delete_in_its_own_database(
    stack: ClickHouseLauncher, databases: tuple[str, str]
) -> None:
    """What 18.16 cannot enforce, pinned so the docs stay true: only current ClickHouse makes the sink INSERT-only."""
    mine, _ = databases
    sink = connect(stack.s, mine, role="sink")
    sink.execute("INSERT INTO directory_departments (id, version) VALUES", [("D9", 1)])
    sink.execute("ALTER TABLE directory_departments DELETE WHERE id = 'D9'")  # accepted: readonly=0
    sink.execute("CREATE TABLE sink_scratch (x UInt8) ENGINE = Memory")
    sink.execute("DROP TABLE sink_scratch")
    assert sink.execute("EXISTS TABLE sink_scratch") == [(0,)]


def test_the_scorer_rebuilds_the_scoreboard_in_its_own_database(
    stack: ClickHouseLauncher, databases: tuple[str, str]
) -> None:
    """`esup scores refresh` logs in as the scorer: on 18.16 that user may write in its databases only (the
    GRANTs that keep it to the scoreboard's tables are current ClickHouse's: test_clickhouse_users.py)."""
    from schemas.scoring import load_scoring
    from sinks.scoreboard import refresh
    from sinks.scoring import create_views
    from streams.rules import WorkCalendar

    mine, _ = databases
    create_views(connect(stack.s, mine, role="admin"), load_scoring(), WorkCalendar())  # views are the admin's
    assert stack.s.clickhouse_login("scorer")[0] == USERS["scorer"]  # its own user, not the admin
    scorer = connect(stack.s, mine, role="scorer")
    done = refresh(scorer, force=True)
    assert done is not None and done.rows == {"department": 0, "staff": 0}
    assert refresh(scorer, force=True) is not None  # the swap over boards in place
    reader = connect(stack.s, mine, role="reader")
    assert reader.execute("SELECT count() FROM scoreboard_department") == [(0,)]
