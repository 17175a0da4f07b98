"""The console's reads from ClickHouse (readonly=1): inbox, supervisor's queue, scores, trends, names."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from api.store import READONLY, FindingsReader
from bulletin.data import months_back
from schemas.findings import Finding
from sinks.scoreboard import as_of as scoreboard_as_of
from sinks.scoreboard import board_table

TREND_MONTHS = 6


def inbox(reader: FindingsReader, department_id: str, severities: list[str], limit: int = 200) -> list[Finding]:
    """The department's findings that need an answer and have neither a response nor a decision yet."""
    # FindingsReader.select is the API's own read (same columns, same parsing); the filter is the console's.
    return reader.select(
        "department_id = %(d)s AND category != 'supervision' AND severity IN %(sev)s AND finding_id NOT IN "
        "(SELECT finding_id FROM loop_messages FINAL WHERE type IN ('response', 'decision'))",
        {"d": department_id, "sev": tuple(severities) or ("",)},
        limit,
    )


@dataclass(frozen=True)
class Awaiting:
    """A finding in the supervisors' queue: its latest response (when, what kind, text, who) awaits a decision."""

    finding: Finding
    responded_at: datetime
    kind: str
    text: str
    responder: str


# Findings whose latest response is newer than their latest decision (maxIf gives 1970 when there is none).
_AWAITING = (
    "SELECT finding_id FROM (SELECT finding_id, maxIf(at, type = 'response') AS responded, "
    "maxIf(at, type = 'decision') AS decided FROM loop_messages FINAL WHERE type IN ('response', 'decision') "
    "GROUP BY finding_id) WHERE responded > decided"
)


def queue(reader: FindingsReader, region_prefix: str, limit: int = 200) -> list[Awaiting]:
    """Findings of the region whose latest response is newer than their latest decision (or has none).

    One query in ClickHouse picks them (no list of every waiting id travels to the client and back), a second
    reads the latest response of just those shown."""
    found = reader.select(
        f"startsWith(region_code, %(r)s) AND finding_id IN ({_AWAITING})", {"r": region_prefix}, limit
    )
    if not found:
        return []
    latest = {
        str(r[0]): r
        for r in reader.client.execute(
            "SELECT finding_id, max(at), argMax(kind, at), argMax(text, at), argMax(actor_id, at) "
            "FROM loop_messages FINAL WHERE type = 'response' AND finding_id IN %(ids)s GROUP BY finding_id",
            {"ids": tuple(f.finding_id for f in found)},
            settings=READONLY,
        )
    }
    out = [
        Awaiting(
            f,
            latest[f.finding_id][1],
            str(latest[f.finding_id][2]),
            str(latest[f.finding_id][3]),
            str(latest[f.finding_id][4]),
        )
        for f in found
        if f.finding_id in latest
    ]
    return sorted(out, key=lambda a: (a.responded_at, a.finding.finding_id))


def status(reader: FindingsReader, finding_id: str) -> str:
    """The finding's latest decision (pending when none)."""
    rows = reader.client.execute(
        "SELECT argMax(outcome, concat(toString(toUInt32(at)), message_id)) FROM loop_messages FINAL "
        "WHERE finding_id = %(id)s AND type = 'decision'",
        {"id": finding_id},
        settings=READONLY,
    )
    return str(rows[0][0]) if rows and rows[0][0] else "pending"


def trend(client: Any, kind: str, entity: str, month: date) -> list[tuple[date, float, int, int]]:
    """(month, score, yellows, reds) of one department or staff member over the last months (only scored ones)."""
    column = "department_id" if kind == "department" else "staff_id"
    months = months_back(month, TREND_MONTHS)
    board = board_table("department" if kind == "department" else "staff")
    rows = client.execute(
        f"SELECT period_start, score, yellows, reds FROM {board} "
        f"WHERE period = 'month' AND level = 'province' AND {column} = %(e)s AND period_start >= %(from)s "
        "AND period_start <= %(to)s ORDER BY period_start",
        {"e": entity, "from": months[0], "to": month},
        settings=READONLY,
    )
    return [(r[0], float(r[1]), int(r[2]), int(r[3])) for r in rows]


def staff_scores(client: Any, department_id: str, month: date) -> list[tuple[str, float, int, int]]:
    """(staff id, score, yellows, reds) of a department's staff this month, best first."""
    rows = client.execute(
        f"SELECT staff_id, score, yellows, reds FROM {board_table('staff')} WHERE period = 'month' "
        "AND level = 'province' AND period_start = %(m)s AND department_id = %(d)s ORDER BY score DESC, staff_id",
        {"m": month, "d": department_id},
        settings=READONLY,
    )
    return [(str(r[0]), float(r[1]), int(r[2]), int(r[3])) for r in rows]


def scores_as_of(client: Any) -> datetime | None:
    """When the scoreboard's inputs were last read: the scores pages say "as of" this (截至)."""
    try:
        return scoreboard_as_of(client)
    except Exception:  # a database without the scoreboard yet: the pages say nothing
        return None


def as_of_text(at: datetime | None, today: date) -> str:
    """ "14:03:22" (the date too when it is not today; "—" before the first refresh)."""
    if at is None:
        return "—"
    return f"{at:%H:%M:%S}" if at.date() == today else f"{at:%Y-%m-%d %H:%M:%S}"


def open_findings(reader: FindingsReader, column: str, value: str, limit: int = 50) -> list[Finding]:
    """A department's or staff member's latest findings."""
    if column not in ("department_id", "staff_id"):  # a column name goes into the SQL: never from a caller
        raise ValueError(f"open_findings: no column {column!r}")
    return reader.select(f"{column} = %(v)s", {"v": value}, limit)


def names(client: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Department and staff names from the directory tables ({} when the directory was never loaded)."""
    from directory.clickhouse import names as directory_names

    try:
        return directory_names(client)
    except Exception:  # a database without the directory tables: ids stand in for names
        return {}, {}


class PerThread:
    """A ClickHouse client per thread: pages run in a thread pool and a driver connection is not thread-safe."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect, self._local = connect, threading.local()

    def execute(self, *args: Any, **kw: Any) -> Any:
        """Run the query on this thread's client (connected on the thread's first query)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._connect()
        return client.execute(*args, **kw)
