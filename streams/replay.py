"""`esup evaluate --jobs N`: the reference evaluation split by case over N processes, with identical output.

Design: docs/architecture.md#esup-evaluate---jobs-n.
"""

from __future__ import annotations

import heapq
import json
import multiprocessing as mp
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from schemas.events import CaseEvent, EventError, parse_event
from streams.rules import CaseState, Context
from streams.rules.evaluate import Timeline, finding_order, judge_case, run_timers
from streams.rules.reapply import Fact, cross_case

SortKey = tuple[datetime, str, str, str]


@dataclass
class Replay:
    """A replay's result: the findings as JSON lines, the rejected lines, counts, and the time the due checks ran to."""

    lines: Iterator[str]  # the findings as JSON lines, in the reference order
    rejected: list[tuple[int, str]]  # (line number, reason), in line order
    events: int
    cases: int
    at: datetime | None
    snapshots: list[str] = field(default_factory=list)  # with ``snapshots=True``: each case's, as of ``at``, by case id


def job_of(line: bytes, number: int, jobs: int) -> int:
    """The job that judges a line: its case's (stable across processes and runs), else by line number."""
    data: Any
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:  # orjson refuses what the strict parser may accept (integers above 64 bits)
            data = json.loads(line)
        except (ValueError, RecursionError):
            return number % jobs
    case_id = data.get("case_id") if isinstance(data, dict) else None
    if not isinstance(case_id, str):
        return number % jobs
    return zlib.crc32(case_id.encode("utf-8", "surrogatepass")) % jobs


def _route(path: Path, jobs: int) -> bytearray:
    """The job of every line (by line number, from 1)."""
    out = bytearray([0])
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            line = line.rstrip(b"\r\n")
            out.append(job_of(line, n, jobs) if line.strip() else 0)
    return out


def _job(
    path: Path,
    route: bytearray,
    me: int,
    ctx: Context,
    at: datetime | None,
    conn: Connection,
    snapshots: bool,
    timeline: Timeline | None = None,
) -> None:
    """One job: parse and step its lines, report (latest, rejected, counts), wait for ``until``, run the
    timers, send the findings sorted as (key, JSON), then (with ``snapshots``) each case's snapshot."""
    by_case: dict[str, list[CaseEvent]] = defaultdict(list)
    rejected: list[tuple[int, str]] = []
    latest: datetime | None = None
    events = 0
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if route[n] != me or not line.strip():
                continue
            try:
                e = parse_event(line.rstrip(b"\r\n"))
            except EventError as exc:
                rejected.append((n, exc.reason))
                continue
            events += 1
            if at is not None and e.occurred_at > at:
                continue
            by_case[e.case_id].append(e)
            if latest is None or e.occurred_at > latest:
                latest = e.occurred_at
    findings: list[tuple[SortKey, str]] = []
    states: dict[str, CaseState] = {}
    facts: list[Fact] = []
    refused: list[CaseEvent] = []
    for case_id, case_events in by_case.items():
        state, found = judge_case(case_events, ctx, refused, facts, timeline)
        findings += [(finding_order(f), f.model_dump_json()) for f in found]
        states[case_id] = state
    conn.send((latest, rejected, events, len(states), facts))
    until: datetime | None = conn.recv()
    if until is not None:
        for case_id, state in states.items():
            state, fired = run_timers(state, until, ctx, timeline)
            findings += [(finding_order(f), f.model_dump_json()) for f in fired]
            states[case_id] = state
    findings.sort()
    conn.send(findings)
    if snapshots:
        from streams.rules.snapshot import snapshot

        conn.send(
            [
                (c, snapshot(s, until, ctx if timeline is None else timeline.at(until)).model_dump_json())
                for c, s in sorted(states.items())
                if until is not None
            ]
        )
    conn.close()


def replay(
    path: Path,
    ctx: Context,
    at: datetime | None,
    jobs: int,
    *,
    snapshots: bool = False,
    timeline: Timeline | None = None,
) -> Replay:
    """Evaluate the events of ``path`` over ``jobs`` processes (fork: each inherits the routing table);
    ``snapshots``: also each case's snapshot as of the time the timers ran to (what the sink would store);
    ``timeline``: configurations adopted from moments (`esup evaluate --schedule`)."""
    route = _route(path, jobs)
    fork = mp.get_context("fork")
    pipes: list[Connection] = []
    procs = []
    for me in range(jobs):
        mine, theirs = fork.Pipe()
        proc = fork.Process(target=_job, args=(path, route, me, ctx, at, theirs, snapshots, timeline), daemon=True)
        proc.start()
        theirs.close()
        pipes.append(mine)
        procs.append(proc)
    try:
        reports = [conn.recv() for conn in pipes]
        latests = [r[0] for r in reports if r[0] is not None]
        until = at or (max(latests) if latests else None)
        for conn in pipes:
            conn.send(until)
        parts: list[list[tuple[SortKey, str]]] = [conn.recv() for conn in pipes]
        # The cross-case check runs here, on every job's facts: the pairs it finds may span jobs.
        # Each pair under the configuration in effect at its moment (the schedule's, with ``timeline``).
        crossed = cross_case((f for report in reports for f in report[4]), ctx if timeline is None else timeline.at)
        parts.append(sorted((finding_order(f), f.model_dump_json()) for f in crossed))
        snaps = [text for _, text in heapq.merge(*(conn.recv() for conn in pipes))] if snapshots else []
    except EOFError:
        raise RuntimeError("a replay job died; run with --jobs 1 to see its error") from None
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
    rejected = sorted(r for report in reports for r in report[1])
    return Replay(
        lines=(text for _, text in heapq.merge(*parts)),
        rejected=rejected,
        events=sum(r[2] for r in reports),
        cases=sum(r[3] for r in reports),
        at=until,
        snapshots=snaps,
    )
