"""A current ClickHouse engine in-process (chdb, ClickHouse 26.x) behind clickhouse-driver's `execute`.

The project's code takes any object with clickhouse-driver's ``execute(sql, params)``: this one runs the
same SQL on chdb, so migrations, views and panel queries can be checked on a current release next to
Debian's 18.16 server. ``%(name)s`` parameters and ``INSERT … VALUES`` row lists are rendered as literals
the way clickhouse-driver does it; rows come back as tuples of JSON values (times as strings), so compare
through :func:`normalize`.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chdb import session
from clickhouse_driver.util.escape import escape_param

TZ = ZoneInfo("Asia/Shanghai")
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+.*\bVALUES\s*$", re.IGNORECASE | re.DOTALL)
_RETURNS_ROWS = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|EXISTS)\b", re.IGNORECASE)


class _ServerInfo:
    @staticmethod
    def get_timezone() -> str:
        return "Asia/Shanghai"


class _Context:
    server_info = _ServerInfo()


_SESSION: session.Session | None = None


def engine() -> session.Session:
    """The process's one chdb session (chdb allows one at a time), in Beijing time like the servers."""
    global _SESSION
    if _SESSION is None:
        _SESSION = session.Session()
        _SESSION.query("SET session_timezone = 'Asia/Shanghai'")
        _SESSION.query("SET output_format_json_quote_64bit_integers = 0")
    return _SESSION


def version() -> str:
    return str(json.loads(engine().query("SELECT version()", "JSONCompact").bytes())["data"][0][0])


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(escape_param(value, _Context()))


class ChdbClient:
    """clickhouse-driver's Client surface the project uses, on one database of the chdb session."""

    def __init__(self, database: str = "default") -> None:
        self.database = database
        self.session = engine()

    def execute(self, sql: str, params: Any = None, *, with_column_types: bool = False) -> Any:
        if _INSERT.match(sql):
            rows = [list(r.values()) if isinstance(r, dict) else list(r) for r in params or []]
            if not rows:
                return []
            sql = sql + " " + ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)
        elif params:
            sql = sql % {k: literal(v) for k, v in params.items()}
        self.session.query(f"USE {self.database}")
        if not _RETURNS_ROWS.match(sql):
            self.session.query(sql)
            return []
        doc = json.loads(self.session.query(sql, "JSONCompact").bytes())
        rows = [tuple(r) for r in doc["data"]]
        if with_column_types:
            return rows, [(m["name"], m["type"]) for m in doc["meta"]]
        return rows

    def disconnect(self) -> None:
        pass


def normalize(value: Any) -> Any:
    """One form for both engines' values: times as Beijing 'YYYY-MM-DD HH:MM:SS', numbers as floats (9 digits)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(TZ)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        # JSON writes 100.0 as 100: numbers compare as floats.
        return None if math.isnan(value) else round(float(value), 9)
    if isinstance(value, list | tuple):
        return tuple(normalize(v) for v in value)
    return value


def rows_of(result: Any) -> list[tuple[Any, ...]]:
    """Normalized rows, sorted: ties in an ORDER BY may come back in either order on either engine."""
    return sorted((tuple(normalize(v) for v in row) for row in result), key=repr)
