"""A six-month what-if of a simulated province on the real ClickHouse: the planted change of the integration test
(one item's promised decision limit 5 → 3 working days) over every case that started in the six months.

The sink tables are filled as in tests/integration/test_whatif.py (the engine's findings and final snapshots
through sinks.rows); the clock measures `whatif.run.whatif` alone: reading the window, two replays over
ESUP_BENCH_JOBS processes (default: the machine's cores), the baseline check, the comparison and the scores.
Then the same tables are ranked: the scoreboard refresh, and each kind's raw month with its fair comparison
(`esup rankings --fair`, sinks.fair_reader). Set ESUP_BENCH_WHATIF_CASES (default 100000).
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import date, datetime
from typing import Any

import pytest

from esup.stack.servers import Provided
from schemas.config import RuleConfig
from schemas.events import parse_event
from sim.generator import Options, Simulation
from sinks.fair_reader import fair_entries
from sinks.rankings import fetch
from sinks.scoreboard import refresh
from sinks.writer import ClickHouseSink
from streams.rules import Context, WorkCalendar, evaluate
from streams.rules.snapshot import snapshot
from tests.integration.analytics_db import fresh_database
from tests.integration.test_whatif import _rows, config, planted
from whatif.model import BEIJING
from whatif.run import whatif
from whatif.source import Window

pytestmark = pytest.mark.bench

DB = "esup_bench_whatif"


def test_six_month_whatif_of_a_simulated_province(clickhouse_server: Provided) -> None:
    n_cases = int(os.environ.get("ESUP_BENCH_WHATIF_CASES", "100000"))
    jobs = int(os.environ.get("ESUP_BENCH_JOBS", str(os.cpu_count() or 2)))
    sim = Simulation(Options(seed=5, start=datetime(2026, 6, 1, tzinfo=BEIJING), cases=n_cases, days=183))
    cases = list(sim.cases())
    events = [parse_event(json.dumps(e)) for e in sim.events(iter(cases))]
    at = max(e.occurred_at for e in events)
    ctx = Context.build(WorkCalendar(), sim.catalog, RuleConfig())
    t0 = time.perf_counter()
    result = evaluate(events, ctx, at)
    t_eval = time.perf_counter() - t0
    client: Any = fresh_database(clickhouse_server.address, DB)
    try:
        sink = ClickHouseSink(client)
        rows = _rows("events", [(e.case_id, e.model_dump_json()) for e in events])
        rows += _rows("findings", [(f.case_id, f.model_dump_json()) for f in result.findings])
        rows += _rows(
            "snapshots", [(s.case_id, snapshot(s, at, ctx).model_dump_json()) for s in result.states.values()]
        )
        by_table: dict[str, list[Any]] = {}
        for table, row in rows:
            by_table.setdefault(table, []).append(row)
        for table, batch in by_table.items():
            sink.add(table, batch)
        sink.flush()
        fives = sorted(i.code for i in sim.catalog.items if i.limits.decision and i.limits.decision.promised == 5)
        base, new = config(sim.catalog), config(planted(sim.catalog, fives[0]), catalog="planted")
        t0 = time.perf_counter()
        report = whatif(client, Window(date(2026, 6, 1), date(2026, 11, 30)), base, new, jobs=jobs, at=at).report
        wall = time.perf_counter() - t0
        # Fair rankings of the same province (issue 18): the scoreboard refresh that raw rankings need, then
        # per kind the raw month and its fair comparison over six months of history, as `esup rankings --fair`.
        t0 = time.perf_counter()
        refresh(client, force=True)
        t_board = time.perf_counter() - t0
        fair_times: dict[str, tuple[float, int]] = {}
        for kind in ("department", "staff"):
            t0 = time.perf_counter()
            raw = fetch(client, kind, "month", date(2026, 11, 1))
            entries = fair_entries(client, kind, "month", date(2026, 11, 1), None, raw)
            fair_times[kind] = (time.perf_counter() - t0, len(entries))
    finally:
        client.execute(f"DROP DATABASE IF EXISTS {DB}")
        client.disconnect()
    w, f = report["window"], report["findings"]
    print(
        f"\n[whatif bench] {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}: "
        f"{w['cases']} cases, {w['events']} events started 2026-06-01..2026-11-30 ({n_cases} simulated)\n"
        f"  whatif (read, 2 replays with --jobs {jobs}, check, compare, score): {wall:.1f} s "
        f"({2 * w['events'] / wall:,.0f} replayed events/s); reference evaluate of all events, 1 process: "
        f"{t_eval:.1f} s\n"
        f"  findings {f['baseline']} → {f['scenario']}: +{f['added']} −{f['removed']} ~{f['changed']}; "
        f"baseline = live: {report['check']['ok']}\n"
        f"  scoreboard refresh {t_board:.1f} s; fair rankings of 2026-11 (raw + fair, 6 months' history): "
        + "; ".join(f"{k} {t:.2f} s for {n} entries" for k, (t, n) in fair_times.items())
    )
    assert all(n > 0 for _, n in fair_times.values())
    assert report["check"]["ok"] and f["added"] > 0
