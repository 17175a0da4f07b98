"""The cluster form of a migration statement: replicated `<table>_local` tables behind Distributed `<table>` ones.

Readers, views and the console keep the names they have (`findings`, `case_snapshots`, …): on a cluster those
are Distributed tables over `<table>_local`, a Replicated*MergeTree whose ZooKeeper path names the database
and the table (`/clickhouse/tables/{shard}/<db>/<table>`) and whose replica name is the server's `{replica}`
macro. Every DDL runs `ON CLUSTER` with names qualified by the database (a distributed DDL runs on the other
servers without the caller's current database); data statements (INSERT … SELECT) run once, through the
Distributed tables.
"""

from __future__ import annotations

import re

LOCAL = "_local"

_CREATE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (?P<t>\w+)\s*(?P<body>\(.*\))\s*ENGINE\s*=\s*(?P<engine>\w*MergeTree)"
    r"(?:\((?P<args>[^)]*)\))?(?P<rest>.*)$",
    re.S | re.I,
)
_ALTER = re.compile(r"^ALTER TABLE (?P<t>\w+) (?P<rest>.*)$", re.S | re.I)
_DROP = re.compile(r"^DROP TABLE IF EXISTS (?P<t>\w+)\s*$", re.I)
_VIEW = re.compile(r"^CREATE VIEW (?P<t>\w+) AS(?P<rest>.*)$", re.S | re.I)
_RENAME = re.compile(r"^RENAME TABLE (?P<pairs>.*)$", re.S | re.I)
_PAIR = re.compile(r"^\s*(\w+)\s+TO\s+(\w+)\s*$", re.I)


_SOURCE = re.compile(r"\b(FROM|JOIN)\s+([A-Za-z_]\w*)\b(?!\s*[.(])", re.I)


def qualified(sql: str, db: str) -> str:
    """``sql`` with every table after FROM or JOIN named with ``db`` (subqueries and qualified names kept)."""
    return _SOURCE.sub(lambda m: f"{m[1]} {db}.{m[2]}", sql)


class ClusterDDLError(ValueError):
    """A statement with no cluster form, or a table name that would clash with the cluster form's ``_local``."""

    pass


def replicated_engine(engine: str, args: str | None, db: str, table: str) -> str:
    """The Replicated form of a MergeTree ``engine``: ZooKeeper path by database and table, replica ``{replica}``."""
    path = f"'/clickhouse/tables/{{shard}}/{db}/{table}'"
    inner = ", ".join(a for a in (path, "'{replica}'", (args or "").strip()) if a)
    return f"Replicated{engine}({inner})"


def distributed(db: str, table: str, cluster: str) -> str:
    """The Distributed table ``db.table`` over ``<table>_local``, made on every server of ``cluster``."""
    # One shard today: rand() only picks among shards; with more shards it must become a case-id hash so a
    # case's rows stay on one shard (FINAL collapses rows within a shard only).
    return (
        f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{table}{LOCAL} "
        f"ENGINE = Distributed({cluster}, {db}, {table}{LOCAL}, rand())"
    )


def cluster_form(statement: str, db: str, cluster: str) -> list[str]:
    """The statements that do on a cluster what ``statement`` does on one server."""
    s = statement.strip()
    on = f"ON CLUSTER {cluster}"
    if m := _CREATE.match(s):
        t = m["t"]
        if t.endswith(LOCAL):
            raise ClusterDDLError(f"{t}: a table name may not end in {LOCAL} (the cluster form uses it)")
        engine = replicated_engine(m["engine"], m["args"], db, t)
        return [
            f"CREATE TABLE IF NOT EXISTS {db}.{t}{LOCAL} {on} {m['body']} ENGINE = {engine}{m['rest']}",
            distributed(db, t, cluster),
        ]
    if m := _ALTER.match(s):
        # The Distributed table must carry the columns too, or readers would not see a new one; 18.16 refuses
        # ALTER … ON CLUSTER on a table that is not replicated, so it is made again over the altered table.
        t = m["t"]
        return [
            f"ALTER TABLE {db}.{t}{LOCAL} {on} {m['rest']}",
            f"DROP TABLE IF EXISTS {db}.{t} {on}",
            distributed(db, t, cluster),
        ]
    if m := _DROP.match(s):
        return [f"DROP TABLE IF EXISTS {db}.{m['t']} {on}", f"DROP TABLE IF EXISTS {db}.{m['t']}{LOCAL} {on}"]
    if m := _VIEW.match(s):
        # The other servers run it in `default`: the tables it reads are named with their database.
        return [f"CREATE VIEW IF NOT EXISTS {db}.{m['t']} {on} AS{qualified(m['rest'], db)}"]
    if m := _RENAME.match(s):
        pairs = [_PAIR.match(p) for p in m["pairs"].split(",")]
        if not all(pairs):
            raise ClusterDDLError(f"cannot read the renames of: {s[:80]}")
        names = [(p[1], p[2]) for p in pairs if p]
        # The replicated tables move (their ZooKeeper paths stay); the Distributed ones name their local
        # table, so they are dropped and made again over the renamed tables.
        out = [f"DROP TABLE IF EXISTS {db}.{a} {on}" for a, _ in names]
        out.append(f"RENAME TABLE {', '.join(f'{db}.{a}{LOCAL} TO {db}.{b}{LOCAL}' for a, b in names)} {on}")
        out += [distributed(db, b, cluster) for _, b in names]
        return out
    if re.match(r"^(INSERT|SELECT)\b", s, re.I):
        return [s]
    raise ClusterDDLError(f"no cluster form for: {s[:80]}")
