"""Apply the versioned DDL in sinks/migrations to a ClickHouse database, once each, in order."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esup.resources import packaged
from sinks.cluster_ddl import cluster_form, replicated_engine

# Package data (importlib.resources): the same files in a checkout and an installed wheel.
MIGRATIONS_DIR = packaged("sinks", "migrations")
LEDGER = "schema_migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Plain MergeTree: versions are inserted once; reading them needs no FINAL.
_LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER}
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime('Asia/Shanghai') DEFAULT now()
)
ENGINE = MergeTree
ORDER BY version
"""


def _ledger_ddl(database: str, cluster: str) -> str:
    """The ledger; on a cluster a replicated table on every server (each replica knows what was applied)."""
    if not cluster:
        return _LEDGER_DDL
    engine = replicated_engine("MergeTree", None, database, LEDGER)
    return _LEDGER_DDL.replace(f"EXISTS {LEDGER}", f"EXISTS {database}.{LEDGER} ON CLUSTER {cluster}").replace(
        "ENGINE = MergeTree", f"ENGINE = {engine}"
    )


class MigrationError(RuntimeError):
    """A migration that cannot be loaded or applied (misnamed file, duplicate version, unsafe database name...)."""

    pass


@dataclass(frozen=True)
class Migration:
    """One versioned DDL script: its version and name (from the file name), statements and the SHA-256 of its text."""

    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


def split_statements(sql: str) -> list[str]:
    """Statements of a script: `--` comments dropped, split on `;` outside quoted strings."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    quote: str | None = None
    while i < n:
        c = sql[i]
        if quote:
            buf.append(c)
            if c == "\\" and i + 1 < n:
                buf.append(sql[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "'`\"":
            quote = c
            buf.append(c)
        elif sql.startswith("--", i):
            while i < n and sql[i] != "\n":
                i += 1
            continue
        elif c == ";":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    out.append("".join(buf))
    return [s.strip() for s in out if s.strip()]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``directory``, by version; raises MigrationError on a misnamed file or a repeated version."""
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_case_name.sql")
        version = int(m.group(1))
        if version in migrations:
            raise MigrationError(f"{path.name}: version {version} appears twice")
        text = path.read_text(encoding="utf-8")
        migrations[version] = Migration(
            version, m.group(2), tuple(split_statements(text)), hashlib.sha256(text.encode()).hexdigest()
        )
    return [migrations[v] for v in sorted(migrations)]


def applied(client: Any) -> dict[int, str]:
    """Version → checksum of what the database has applied (empty when the ledger is missing)."""
    rows = client.execute(f"SELECT version, checksum FROM {LEDGER}")
    return {int(v): str(c) for v, c in rows}


def migrate(
    client_for: Callable[[str], Any], database: str, migrations: list[Migration] | None = None, *, cluster: str = ""
) -> list[Migration]:
    """Create `database` if needed and apply what is pending; returns the migrations applied now.

    client_for(db) gives a client whose default database is db, so the DDL names its tables unqualified
    and the same files serve `esup`, a test database or any other.
    """
    if not _IDENT.match(database):
        raise MigrationError(f"database name {database!r} is not a plain identifier")
    todo = load_migrations() if migrations is None else migrations
    on = f" ON CLUSTER {cluster}" if cluster else ""
    client_for("default").execute(f"CREATE DATABASE IF NOT EXISTS {database}{on}")
    client = client_for(database)
    client.execute(_ledger_ddl(database, cluster))
    done = applied(client)
    for m in todo:
        if m.version in done and done[m.version] != m.checksum:
            raise MigrationError(
                f"migration {m.version:04d}_{m.name} was changed after it was applied to {database}; "
                "add a new migration instead of editing an applied one"
            )
    now: list[Migration] = []
    for m in todo:
        if m.version in done:
            continue
        for statement in m.statements:
            # (one statement at a time: a RENAME's or ALTER's cluster form reads the sorting key the tables
            # have once the statements before it have run)
            steps = [statement]
            if cluster:
                steps = cluster_form(statement, database, cluster, lambda t: sort_key(client, database, t))
            for step in steps:
                client.execute(step)
        client.execute(f"INSERT INTO {LEDGER} (version, name, checksum) VALUES", [(m.version, m.name, m.checksum)])
        now.append(m)
    return now


def sort_key(client: Any, database: str, table: str) -> str:
    """A table's sorting key as the server has it (`system.tables.sorting_key`, e.g. "case_id, event_id")."""
    rows = client.execute(
        "SELECT sorting_key FROM system.tables WHERE database = %(db)s AND name = %(t)s", {"db": database, "t": table}
    )
    if not rows:
        raise MigrationError(f"{database}.{table} does not exist: its sorting key cannot be read")
    return str(rows[0][0])


def tables(client: Any, database: str) -> list[str]:
    """The tables of ``database``, sorted; its name must be a plain identifier."""
    if not _IDENT.match(database):
        raise MigrationError(f"database name {database!r} is not a plain identifier")
    return sorted(str(r[0]) for r in client.execute("SHOW TABLES FROM " + database))
