"""The scoreboard: the rankings views materialised as tables, rebuilt whole and swapped in when their inputs change.

Why: the score views (sinks/scoring.py) stay the definition, but a plain view recomputes every entity's score
from all findings and finished cases on each query, and 18.16 pushes no predicate into the grouped view: a
page asking for one department paid 1.3–3.9 s at 100,000 cases (docs/performance.md). The readers (console,
bulletin, `esup rankings`, dashboards) read `scoreboard_department` and `scoreboard_staff` instead: the rows
of `rankings_department` and `rankings_staff` (every score column plus the rank), sorted by (period, level,
period_start, region, rank), so a page reads a few granules.

How: `refresh` fingerprints the inputs' active parts (system.parts of findings, loop_messages,
case_snapshots, case_events: any insert, merge or mutation changes it) and the views' creation times. When
that differs from the last refresh's, each board is rebuilt as `<board>_next` by CREATE TABLE … AS SELECT *
FROM its rankings view and swapped in at once: EXCHANGE TABLES on an Atomic database (current releases), one
multi-table RENAME on an Ordinary one (18.16 does it under its global context lock, which table lookups also
take, so no query finds a board missing); then the old copy is dropped. Whole rebuilds, not increments: the
scores are not sums (capped headings, notices by threes, an early-case share, ranks per group), so an
incremental path would be a second definition of the scores to keep equal to the views; a rebuild is paid
once per change by one process instead of by every page.

Delay: `run` looks every `every` seconds, so a decision or finding is in the boards at most `every` + 2 ×
one rebuild after it is written (it may land just after a rebuild read its inputs), and at the latest
`max_age` after anything the fingerprint could miss. `scoreboard_refreshes` keeps when the inputs were read
(`as_of`), which the console shows as 得分截至.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sinks.scoring import CASE_FACTS, KINDS, Kind, rankings_view, scores_view

log = logging.getLogger("esup.scoreboard")
TZ = ZoneInfo("Asia/Shanghai")

BOARD = "scoreboard"  # the key of its row in REFRESHES
REFRESHES = "scoreboard_refreshes"
INPUTS = ("findings", "loop_messages", "case_snapshots", "case_events")  # what the score views read
VIEWS = (CASE_FACTS, *(scores_view(k) for k in KINDS), *(rankings_view(k) for k in KINDS))  # the definition
SORTING = "(period, level, period_start, region, rank)"


def board_table(kind: Kind) -> str:
    """The scoreboard table of ``kind`` that readers query."""
    return f"scoreboard_{kind}"


def next_table(kind: Kind) -> str:
    """The table a refresh fills before swapping it in as ``board_table(kind)``."""
    return f"{board_table(kind)}_next"


def prev_table(kind: Kind) -> str:
    """Where a refresh on an Ordinary database (no EXCHANGE TABLES) moves the old board while renaming the new in."""
    return f"{board_table(kind)}_prev"


def tables() -> list[str]:
    """Every table name a refresh creates, fills, renames or drops (its grants name exactly these)."""
    return [n for k in KINDS for n in (board_table(k), next_table(k), prev_table(k))]


def fingerprint_sql() -> str:
    """One number that changes whenever an input table's active parts do (insert, merge, mutation, drop) or a
    view is recreated (`esup db views` with another model or calendar)."""
    inputs = ", ".join(f"'{t}'" for t in INPUTS)
    views = ", ".join(f"'{v}'" for v in VIEWS)
    part = "concat(table, ' ', name, ' ', toString(rows), ' ', toString(toUInt32(modification_time)))"
    view = "concat(name, ' ', toString(toUInt32(metadata_modification_time)))"
    return (
        f"SELECT cityHash64((SELECT arrayStringConcat(arraySort(groupArray({part})), ',') FROM system.parts "
        f"WHERE database = currentDatabase() AND active AND table IN ({inputs})), "
        f"(SELECT arrayStringConcat(arraySort(groupArray({view})), ',') FROM system.tables "
        f"WHERE database = currentDatabase() AND name IN ({views})))"
    )


def build_statements(kind: Kind) -> list[str]:
    """The next copy of a board, from its rankings view (the definition), sorted for the pages' filters."""
    return [
        f"DROP TABLE IF EXISTS {next_table(kind)}",
        f"CREATE TABLE {next_table(kind)} ENGINE = MergeTree ORDER BY {SORTING} AS SELECT * FROM {rankings_view(kind)}",
    ]


def swap_statements(atomic: bool, existing: set[str]) -> list[str]:
    """Put every `_next` copy in place in one statement and drop what it replaced.

    `existing`: the boards already there (none before the first refresh: the copies are renamed into place).
    """
    present = [k for k in KINDS if board_table(k) in existing]
    absent = [k for k in KINDS if board_table(k) not in existing]
    out = []
    if atomic:
        if present:
            out.append("EXCHANGE TABLES " + ", ".join(f"{next_table(k)} AND {board_table(k)}" for k in present))
        if absent:
            out.append("RENAME TABLE " + ", ".join(f"{next_table(k)} TO {board_table(k)}" for k in absent))
        # SYNC: an Atomic database otherwise keeps a dropped table's data for 8 minutes.
        out += [f"DROP TABLE IF EXISTS {next_table(k)} SYNC" for k in present]
    else:
        # A `_prev` left by a refresh that stopped before its DROP would make the RENAME fail.
        out += [f"DROP TABLE IF EXISTS {prev_table(k)}" for k in present]
        renames = [f"{board_table(k)} TO {prev_table(k)}, " for k in present]
        out.append(
            "RENAME TABLE " + "".join(renames) + ", ".join(f"{next_table(k)} TO {board_table(k)}" for k in KINDS)
        )
        out += [f"DROP TABLE IF EXISTS {prev_table(k)}" for k in present]
    return out


@dataclass(frozen=True)
class Refresh:
    """What one refresh did: when its inputs were read, their fingerprint, how long it took and the rows per board."""

    as_of: datetime  # when the inputs were read
    fingerprint: int
    seconds: float
    rows: dict[str, int]


def fingerprint(client: Any) -> int:
    """The inputs' current fingerprint (see fingerprint_sql)."""
    return int(client.execute(fingerprint_sql())[0][0])


def last(client: Any) -> tuple[datetime, int] | None:
    """(as_of, fingerprint) of the latest refresh; None before the first."""
    rows = client.execute(
        f"SELECT toUInt32(as_of), fingerprint FROM {REFRESHES} FINAL WHERE board = '{BOARD}' "
        "ORDER BY as_of DESC LIMIT 1"
    )
    return (datetime.fromtimestamp(int(rows[0][0]), TZ), int(rows[0][1])) if rows else None


def as_of(client: Any) -> datetime | None:
    """When the boards' inputs were last read (None before the first refresh or without the table)."""
    found = last(client)
    return found[0] if found else None


def _existing(client: Any) -> set[str]:
    names = ", ".join(f"'{board_table(k)}'" for k in KINDS)
    rows = client.execute(f"SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN ({names})")
    return {str(r[0]) for r in rows}


def _atomic(client: Any) -> bool:
    rows = client.execute("SELECT engine FROM system.databases WHERE name = currentDatabase()")
    return bool(rows) and str(rows[0][0]) in ("Atomic", "Replicated")


def refresh(client: Any, *, force: bool = False, clock: Callable[[], float] = time.monotonic) -> Refresh | None:
    """Rebuild and swap the boards when the inputs changed since the last refresh (always with `force`).

    Returns what was done, or None when nothing had changed. One refresher per database: two at once
    would build the same `_next` tables.
    """
    existing = _existing(client)
    fp = fingerprint(client)
    before = last(client)
    if not force and before is not None and before[1] == fp and len(existing) == len(KINDS):
        return None
    started = clock()
    at = int(client.execute("SELECT toUInt32(now())")[0][0])
    rows: dict[str, int] = {}
    for kind in KINDS:
        for statement in build_statements(kind):
            client.execute(statement)
        rows[kind] = int(client.execute(f"SELECT count() FROM {next_table(kind)}")[0][0])
    for statement in swap_statements(_atomic(client), existing):
        client.execute(statement)
    took = clock() - started
    client.execute(
        f"INSERT INTO {REFRESHES} (board, as_of, fingerprint, seconds, department_rows, staff_rows) "
        f"SELECT '{BOARD}', toDateTime({at}), toUInt64({fp}), {took!r}, {rows['department']}, "
        f"{rows['staff']}"
    )
    return Refresh(datetime.fromtimestamp(at, TZ), fp, took, rows)


def run(
    connect: Callable[[], Any],
    stop: threading.Event,
    *,
    every: float = 10.0,
    max_age: float = 600.0,
    report: Callable[[Refresh], None] | None = None,
) -> None:
    """Refresh whenever the inputs changed, checking every `every` seconds, and at least every `max_age`."""
    client = None
    forced_at = time.monotonic()
    while not stop.is_set():
        try:
            if client is None:
                client = connect()
            force = time.monotonic() - forced_at >= max_age
            done = refresh(client, force=force)
            if force:
                forced_at = time.monotonic()
            if done is not None:
                log.info(
                    "scoreboard: %d department and %d staff rows as of %s in %.2f s",
                    done.rows["department"],
                    done.rows["staff"],
                    f"{done.as_of:%H:%M:%S}",
                    done.seconds,
                )
                if report is not None:
                    report(done)
        except Exception as exc:  # ClickHouse down, views being recreated: try again next round
            log.warning("scoreboard refresh failed: %s: %s", type(exc).__name__, exc)
            if client is not None:
                with contextlib.suppress(Exception):  # a broken connection is replaced either way
                    client.disconnect()
            client = None
        stop.wait(every)
