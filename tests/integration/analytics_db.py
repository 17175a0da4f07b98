"""A private, migrated database with the score views, for the analytics tests (views cannot be TRUNCATEd,
so they stay out of the shared test database that `clean_tables` empties)."""

from __future__ import annotations

from typing import Any

from schemas.scoring import load_scoring
from sinks.clickhouse import connect_url
from sinks.migrate import migrate
from sinks.rows import COLUMNS, Row
from sinks.scoring import create_views
from sinks.writer import ClickHouseSink
from streams.rules import WorkCalendar


def fresh_database(server_url: str, name: str) -> Any:
    """Drop and recreate `name`, migrate it, create the views; returns a client on it."""
    connect_url(server_url, "default").execute(f"DROP DATABASE IF EXISTS {name}")
    migrate(lambda db: connect_url(server_url, db), name)
    client = connect_url(server_url, name)
    create_views(client, load_scoring(), WorkCalendar())
    return client


def insert(client: Any, table: str, rows: list[Row]) -> None:
    """Rows through the sink's own writer (column order from sinks.rows.COLUMNS)."""
    if table == "findings":  # hand-made findings sit outside any chain (as findings written before chains)
        rows = [{"content_hash": "", "chain_partition": -1, "chain_seq": 0, "config_version": "", **r} for r in rows]
    missing = [c for c in COLUMNS[table] if rows and c not in rows[0]]
    assert not missing, f"{table}: rows lack {missing}"
    sink = ClickHouseSink(client)
    sink.add(table, rows)
    sink.flush()


def refresh_board(client: Any) -> None:
    """Fill the scoreboard from the views (what `esup scores refresh` does), after a test's inserts."""
    from sinks.scoreboard import refresh

    refresh(client, force=True)


def cli_env(server_url: str) -> dict[str, str]:
    """Environment for an `esup` command run on a test database: the server's test login (the commands' own
    roles, such as the reader, are kept to the esup database)."""
    from urllib.parse import unquote, urlsplit

    url = urlsplit(server_url)
    return {
        "ESUP_CLICKHOUSE_HOST": url.hostname or "127.0.0.1",
        "ESUP_CLICKHOUSE_PORT": str(url.port or 9000),
        "ESUP_CLICKHOUSE_USER": unquote(url.username or "default"),
        "ESUP_CLICKHOUSE_PASSWORD": unquote(url.password or ""),
    }
