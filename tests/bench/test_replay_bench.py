"""Replay figure on real servers: one worker on the event clock replaying a simulated year of a province.

Every event of `esup simulate --days 365` is in the case-events topic before the worker starts, so the clock
measures only the worker (start included) until its group has committed everything; then the clock is advanced
to the manifest's `at` and the findings on the findings topic must be the simulator's ground truth.
Set ESUP_BENCH_YEAR_CASES (default 50000, about 200 applications per working day).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sim.truth import keys, read_truth
from tests.integration.pipeline import Pipeline, committed_lag, wait_until

pytestmark = pytest.mark.bench

DAYS = 365


def test_replay_of_a_simulated_year_on_the_event_clock(pipeline: Pipeline, tmp_path: Path) -> None:
    p, sim = pipeline, tmp_path / "sim"
    n_cases = int(os.environ.get("ESUP_BENCH_YEAR_CASES", "50000"))
    # The year and the moment the timers are advanced to (~135 days after it) lie in the past: the broker's
    # receipt time is now, and an event or a tick dated ahead of its receipt is refused (DQ_AHEAD_OF_RECEIPT,
    # a dead-lettered tick). With the fixed default start (2026-01-05) the run stopped matching the truth once
    # the machine's date passed the year's start: 37,379 such findings and 238 timers not fired on 2026-12-02.
    p.esup(
        "simulate",
        "--cases",
        str(n_cases),
        "--days",
        str(DAYS),
        "--start",
        "now-520d",
        "--seed",
        "5",
        "--quiet",
        "--out",
        str(sim),
        timeout=3600,
    )
    manifest = json.loads((sim / "manifest.json").read_text())
    truth = read_truth(sim / "truth.jsonl")
    p.setup(catalog=sim / "catalog.yaml")
    n = p.publish_events((sim / "events.jsonl").read_bytes().splitlines())
    assert n == manifest["events"]

    group = p.env["ESUP_WORKER_APP_ID"]
    t0 = time.perf_counter()
    p.worker(clock="event")
    wait_until(
        lambda: committed_lag(p.bootstrap, group, p.topics["case_events"]) == 0,
        timeout=3600,
        every=0.5,
        what="the worker to replay the year",
    )
    wall = time.perf_counter() - t0
    p.advance(manifest["at"])

    history: list[int] = []

    def settled() -> dict[str, dict[str, Any]] | None:
        # Every truth line found, or no new finding over five reads in a row (each waits 3 s for silence).
        got = p.findings()
        history.append(len(got))
        return got if len(got) >= len(truth) or (len(history) >= 5 and len(set(history[-5:])) == 1) else None

    wait_until(settled, timeout=1800, every=2, what=f"{len(truth)} findings")
    time.sleep(2)  # anything beyond the truth would be late by now: read once more
    got = p.findings()

    found = Counter((f["case_id"], f["rule"], f["staff_id"]) for f in got.values())
    expected = keys(truth)
    print(
        f"\n[replay bench] {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}: "
        f"one worker, --clock event, {n} events, {n_cases} cases over {DAYS} simulated days (worker start included)\n"
        f"  replay until committed lag 0: {wall:.1f} s, {n / wall:,.0f} events/s, {DAYS / wall:.1f} simulated days/s\n"
        f"  findings after advancing to {manifest['at']}: {len(got)} found, {len(truth)} ground-truth lines"
    )
    missing, extra = expected - found, found - expected
    assert found == expected, (
        f"missing {sorted(missing)[:5]} ({sum(missing.values())}); "
        f"not injected {sorted(extra)[:5]} ({sum(extra.values())})"
    )


def test_evaluate_jobs_on_a_simulated_year(tmp_path: Path) -> None:
    """`esup evaluate --jobs N` (no servers): the same simulated year evaluated with 1 job and with N jobs
    (ESUP_BENCH_JOBS, default the machine's cores); the outputs must be identical; events/s and CPU seconds
    per event are printed (the CPU figure is what a projection to more provinces and cores rests on)."""
    import resource
    import subprocess
    import sys

    n_cases = int(os.environ.get("ESUP_BENCH_YEAR_CASES", "50000"))
    jobs = int(os.environ.get("ESUP_BENCH_JOBS", str(os.cpu_count() or 2)))
    sim, root = tmp_path / "sim", Path(__file__).resolve().parents[2]
    esup = [sys.executable, "-m", "esup.cli"]
    subprocess.run(
        [*esup, "simulate", "--cases", str(n_cases), "--days", str(DAYS), "--seed", "5", "--quiet", "--out", str(sim)],
        check=True,
        cwd=root,
        capture_output=True,
    )
    at = json.loads((sim / "manifest.json").read_text())["at"]
    n = sum(1 for _ in (sim / "events.jsonl").open("rb"))
    figures = {}
    for j in (1, jobs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        with (tmp_path / f"out{j}.jsonl").open("wb") as out:
            subprocess.run(
                [
                    *esup,
                    "evaluate",
                    str(sim / "events.jsonl"),
                    "--catalog",
                    str(sim / "catalog.yaml"),
                    "--at",
                    at,
                    "--jobs",
                    str(j),
                ],
                check=True,
                cwd=root,
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        figures[j] = (wall, cpu, after.ru_maxrss / 1024)  # the largest child's peak (KiB → MiB)
    one, many = (tmp_path / "out1.jsonl").read_bytes(), (tmp_path / f"out{jobs}.jsonl").read_bytes()
    assert one == many, "--jobs must not change the output"
    found = len(one.splitlines())
    lines = "\n".join(
        f"  --jobs {j}: {wall:.1f} s wall, {n / wall:,.0f} events/s; {cpu:.1f} CPU s ({1e6 * cpu / n:.0f} CPU µs per "
        f"event, start included); peak RSS of a process so far {rss:.0f} MiB"
        for j, (wall, cpu, rss) in figures.items()
    )
    print(
        f"\n[evaluate bench] {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}: "
        f"{n} events, {n_cases} cases over {DAYS} simulated days, {found} findings (identical)\n{lines}"
    )
