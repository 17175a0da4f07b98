"""Judging alone, in process: `CaseProcessor.handle` over a synthetic province (no Kafka, no ClickHouse).

What the worker's main thread spends per event before producing anything. Run with `make bench` or
`pytest tests/bench/test_judging_bench.py -m bench -s`; the figure is printed (and copied into
docs/performance.md with the machine), never asserted as a limit. ``ESUP_BENCH_PROFILE=1`` prints the cProfile
table of the same run.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time

import orjson
import pytest

from streams.batch import Message
from streams.processor import CaseProcessor
from tests.support import synthetic_context, synthetic_lines

pytestmark = pytest.mark.bench


def test_judging_rate_in_process() -> None:
    ctx = synthetic_context()
    lines = synthetic_lines(int(os.environ.get("ESUP_BENCH_CASES", "3000")), seed=3)
    msgs = [
        Message("esup.case-events", i % 6, i, orjson.loads(raw)["case_id"].encode(), raw, None)
        for i, raw in enumerate(lines)
    ]

    def run() -> CaseProcessor:
        proc = CaseProcessor(ctx=ctx, clock="event", ticks_topic="esup.ticks")
        for start in range(0, len(msgs), 1000):
            proc.handle(msgs[start : start + 1000])
        return proc

    t0 = time.perf_counter()
    proc = run()
    dt = time.perf_counter() - t0
    assert proc.counters["events"] == len(msgs)  # every event judged, none dead-lettered
    rate, cost = len(msgs) / dt, dt / len(msgs) * 1e6
    print(f"\n[judging bench] {len(msgs):,} events: {rate:,.0f} events/s ({cost:.0f} µs an event)")
    if os.environ.get("ESUP_BENCH_PROFILE"):
        profile = cProfile.Profile()
        profile.runcall(run)
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
