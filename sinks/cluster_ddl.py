"""The cluster form of a migration statement: replicated `<table>_local` tables behind Distributed `<table>` ones.

Readers, views and the console keep the names they have (`findings`, `case_snapshots`, …): on a cluster those
are Distributed tables over `<table>_local`, a Replicated*MergeTree whose ZooKeeper path names the database
and the table (`/clickhouse/tables/{shard}/<db>/<table>`) and whose replica name is the server's `{replica}`
macro. Every DDL runs `ON CLUSTER` with names qualified by the database (a distributed DDL runs on the other
servers without the caller's current database); data statements (INSERT … SELECT) run once, through the
Distributed tables.

A Distributed table shards by a hash of its local table's sorting key (ORDER BY): rows a ReplacingMergeTree
would collapse have the same sorting key, so they land on the same shard, where FINAL collapses them (it
never looks across shards). A CREATE names its ORDER BY; an ALTER or RENAME that makes a Distributed table
again does not, so its key comes from ``sort_keys`` — the migrator reads `system.tables.sorting_key` of the
local table (18.16 has it) before it runs the statement. An ALTER may only make a sorting key longer (new
columns at its end), so rows equal under the new key are equal under the old one: the hash stays sound.
"""

from __future__ import annotations

import re
from collections.abc import Callable

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


def order_by(rest: str) -> str:
    """The ORDER BY expression in what follows a CREATE's ENGINE (parentheses balanced); "" if there is none."""
    m = re.search(r"\bORDER\s+BY\s+", rest, re.I)
    if not m:
        return ""
    text, i, depth = rest[m.end() :], 0, 0
    while i < len(text):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0 and text[0] == "(":
                return text[: i + 1]
        elif depth == 0 and (c.isspace() or c == ";"):
            break
        i += 1
    return text[:i].strip()


def sharding_key(sort_key: str) -> str:
    """The Distributed sharding key for a table sorted by ``sort_key`` (as written after ORDER BY, or as
    `system.tables.sorting_key` gives it): a hash of its columns; rand() when there is no key (tuple())."""
    key = sort_key.strip()
    if key.startswith("(") and key.endswith(")") and _balanced(key[1:-1]):
        key = key[1:-1].strip()
    if key in ("", "tuple()"):
        return "rand()"  # no sorting key: nothing to collapse, any shard will do
    return f"cityHash64({key})"


def _balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0


def distributed(db: str, table: str, cluster: str, key: str) -> str:
    """The Distributed table ``db.table`` over ``<table>_local``, made on every server of ``cluster``, sharded
    by ``key`` (``sharding_key`` of the local table's sorting key)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{table}{LOCAL} "
        f"ENGINE = Distributed({cluster}, {db}, {table}{LOCAL}, {key})"
    )


SortKeys = Callable[[str], str]


def _no_lookup(table: str) -> str:
    raise ClusterDDLError(f"{table}: its sorting key is needed to make its Distributed table again (sort_keys)")


def cluster_form(statement: str, db: str, cluster: str, sort_keys: SortKeys = _no_lookup) -> list[str]:
    """The statements that do on a cluster what ``statement`` does on one server. ``sort_keys(local_table)``
    gives a local table's sorting key as it is before the statement runs (for ALTER and RENAME)."""
    s = statement.strip()
    on = f"ON CLUSTER {cluster}"
    if m := _CREATE.match(s):
        t = m["t"]
        if t.endswith(LOCAL):
            raise ClusterDDLError(f"{t}: a table name may not end in {LOCAL} (the cluster form uses it)")
        engine = replicated_engine(m["engine"], m["args"], db, t)
        return [
            f"CREATE TABLE IF NOT EXISTS {db}.{t}{LOCAL} {on} {m['body']} ENGINE = {engine}{m['rest']}",
            distributed(db, t, cluster, sharding_key(order_by(m["rest"]))),
        ]
    if m := _ALTER.match(s):
        # The Distributed table must carry the columns too, or readers would not see a new one; 18.16 refuses
        # ALTER … ON CLUSTER on a table that is not replicated, so it is made again over the altered table.
        t = m["t"]
        key = sharding_key(sort_keys(f"{t}{LOCAL}"))
        return [
            f"ALTER TABLE {db}.{t}{LOCAL} {on} {m['rest']}",
            f"DROP TABLE IF EXISTS {db}.{t} {on}",
            distributed(db, t, cluster, key),
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
        keys = {b: sharding_key(sort_keys(f"{a}{LOCAL}")) for a, b in names}
        # The replicated tables move (their ZooKeeper paths stay); the Distributed ones name their local
        # table, so they are dropped and made again over the renamed tables.
        out = [f"DROP TABLE IF EXISTS {db}.{a} {on}" for a, _ in names]
        out.append(f"RENAME TABLE {', '.join(f'{db}.{a}{LOCAL} TO {db}.{b}{LOCAL}' for a, b in names)} {on}")
        out += [distributed(db, b, cluster, keys[b]) for _, b in names]
        return out
    if re.match(r"^(INSERT|SELECT)\b", s, re.I):
        return [s]
    raise ClusterDDLError(f"no cluster form for: {s[:80]}")
