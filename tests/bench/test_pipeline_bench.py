"""End-to-end pipeline figures on real servers: worker throughput against a bare consumer, and latency
from an event produced to its finding queryable in ClickHouse. Run with `make bench`; figures are printed
(and copied into docs/performance.md by hand with the machine and the command), never asserted as limits.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.pipeline import Pipeline, committed_lag, wait_until
from tests.support import (
    FOOD_MATERIALS,
    admin_aioauth,
    admin_auth,
    application_due_at,
    synthetic_context,
    synthetic_lines,
    working_day_end,
)

pytestmark = pytest.mark.bench


def _bare_consumer_rate(bootstrap: str, topic: str, n: int) -> float:
    """Messages per second a plain aiokafka loop reads and JSON-decodes from the same topic."""
    from aiokafka import AIOKafkaConsumer

    async def run() -> float:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            **admin_aioauth(),
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            seen = 0
            t0 = time.perf_counter()
            while seen < n:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for records in batch.values():
                    for r in records:
                        json.loads(r.value)
                        seen += 1
            return n / (time.perf_counter() - t0)
        finally:
            await consumer.stop()

    return asyncio.run(run())


def test_worker_throughput_against_a_bare_consumer(pipeline: Pipeline, clickhouse_client: Any) -> None:
    p = pipeline.setup()
    n_cases = int(os.environ.get("ESUP_BENCH_CASES", "10000"))
    lines = synthetic_lines(n_cases, seed=11)
    p.publish_events(lines)
    n = len(lines)
    group = p.env["ESUP_WORKER_APP_ID"]
    t0 = time.perf_counter()
    worker = p.worker(clock="event")
    p.sink()
    # ESUP_BENCH_PROFILE=file: py-spy samples the worker (100 Hz, raw collapsed stacks) until the topic is drained.
    profile = os.environ.get("ESUP_BENCH_PROFILE")
    py_spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    spy = (
        subprocess.Popen(
            [py_spy, "record", "-r", "100", "-f", "raw", "-o", profile, "--pid", str(worker.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if profile
        else None
    )
    wait_until(
        lambda: committed_lag(p.bootstrap, group, p.topics["case_events"]) == 0,
        timeout=3600,
        every=0.5,
        what="the worker to drain the topic",
    )
    t_worker = time.perf_counter() - t0
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes the profile when interrupted
        spy.wait(timeout=60)
    wait_until(
        lambda: clickhouse_client.execute(f"SELECT count() FROM {p.database}.case_events")[0][0] >= n,
        timeout=3600,
        every=0.5,
        what="the sink",
    )
    wait_until(
        lambda: committed_lag(p.bootstrap, p.env["ESUP_SINK_GROUP"], p.topics["findings"]) == 0,
        timeout=3600,
        every=0.5,
        what="the findings in ClickHouse",
    )
    t_e2e = time.perf_counter() - t0
    bare = _bare_consumer_rate(p.bootstrap, p.topics["case_events"], n)
    findings = clickhouse_client.execute(f"SELECT count() FROM {p.database}.findings FINAL")[0][0]
    worker_rate = n / t_worker
    print(
        f"\n[pipeline bench] {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}: "
        f"{n} events, {n_cases} cases, {findings} findings (worker start included)\n"
        f"  one worker, Kafka → rules → findings/snapshots: {worker_rate:,.0f} events/s ({t_worker:.1f} s)\n"
        f"  end to end into ClickHouse (worker + sink):     {n / t_e2e:,.0f} events/s ({t_e2e:.1f} s)\n"
        f"  bare aiokafka consumer, JSON decode only:        {bare:,.0f} events/s\n"
        f"  ratio worker / bare consumer:                     {worker_rate / bare:.3f}"
    )
    assert findings > 0


def test_latency_from_event_to_finding_in_clickhouse(pipeline: Pipeline, clickhouse_client: Any) -> None:
    p = pipeline
    from esup.settings import Settings

    default_wait = Settings.model_fields["sink_max_wait_s"].default  # the production default
    p.env["ESUP_SINK_MAX_WAIT_S"] = os.environ.get("ESUP_BENCH_SINK_WAIT_S", str(default_wait))
    p.setup()
    p.worker(clock="wall")
    p.sink()
    rate = float(os.environ.get("ESUP_BENCH_RATE", "200"))  # events per second, steady
    seconds = float(os.environ.get("ESUP_BENCH_SECONDS", "30"))
    produced: dict[str, float] = {}
    produced_wall: dict[str, float] = {}
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=p.bootstrap, **admin_auth(), acks="all", linger_ms=0)

    def fee(case_id: str) -> bytes:
        # A fee on a free item: one finding per event, raised the moment the event is processed.
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        event = {
            "event_id": f"{case_id}-1",
            "case_id": case_id,
            "item_code": "SC-FOOD-001",
            "department_id": "DZ-SCJG",
            "region_code": "511702",
            "staff_id": "s-bench",
            "kind": "fee_charged",
            "occurred_at": now,
            "recorded_at": now,
            "payload": {"fee_code": "X", "amount_fen": 100},
        }
        return json.dumps(event).encode()

    # Warm-up: one finding per partition all the way into ClickHouse, so the worker and the sink own their
    # partitions and have started before the clock does (an empty topic has no lag even before they join).
    warm = [f"WARM-{i}" for i in range(4 * p.partitions)]
    for case_id in warm:
        producer.send(p.topics["case_events"], key=case_id.encode(), value=fee(case_id))
    producer.flush()
    wait_until(
        lambda: clickhouse_client.execute(f"SELECT count() FROM {p.database}.findings")[0][0] >= len(warm),
        timeout=180,
        every=0.5,
        what="the warm-up findings in ClickHouse",
    )
    seen: dict[str, float] = {}
    stop = threading.Event()

    order: list[str] = []  # the cases in the order their events were produced

    def poll() -> None:
        # One case in ten, and only those not seen yet, oldest first. Reading the whole table every 50 ms
        # (15,000 rows at the end) kept this process busy, and the producer's thread waited for it: its
        # sends were late, which the figures then counted as the pipeline's latency (a 2 s sawtooth on the
        # worker's part too, gone without the poller).
        low = 0
        while not stop.is_set():
            while low < len(order) and order[low] in seen:
                low += 1
            window = [c for c in order[low : low + 3000] if c not in seen]
            if window:
                ids = ",".join("'" + c + "'" for c in window)
                query = f"SELECT DISTINCT case_id FROM {p.database}.findings WHERE case_id IN ({ids})"
                for (case_id,) in clickhouse_client.execute(query):
                    seen.setdefault(case_id, time.perf_counter())
            time.sleep(0.05)

    # The same findings as the worker published them: the record time on Kafka splits worker from sink.
    on_kafka: dict[str, float] = {}

    def follow() -> None:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            p.topics["findings"],
            bootstrap_servers=p.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=200,
            **admin_auth(),
        )
        while not stop.is_set():
            for r in consumer:
                on_kafka.setdefault(json.loads(r.value)["case_id"], r.timestamp / 1000)
        consumer.close()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    total = int(rate * seconds)
    t0 = time.perf_counter()
    for i in range(total):
        case_id = f"LAT-{i}"
        producer.send(p.topics["case_events"], key=case_id.encode(), value=fee(case_id))
        produced[case_id] = time.perf_counter()
        produced_wall[case_id] = time.time()
        if i % 10 == 0:
            order.append(case_id)
        target = t0 + (i + 1) / rate
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    producer.flush()
    wait_until(lambda: all(c in seen for c in order), timeout=120, every=0.5, what="every sampled finding")
    wait_until(lambda: all(c in on_kafka for c in produced), timeout=60, every=0.5, what="every finding on Kafka")
    stop.set()
    poller.join()
    follower.join()
    dump = os.environ.get("ESUP_BENCH_DUMP")  # a file: per event, when it was produced and its two latencies
    if dump:
        with open(dump, "w") as out:
            for c in order:
                out.write(f"{produced_wall[c]:.3f} {seen[c] - produced[c]:.3f} {on_kafka[c] - produced_wall[c]:.3f}\n")
    lat = sorted(seen[c] - produced[c] for c in order)
    worker = sorted(on_kafka[c] - produced_wall[c] for c in produced)

    def pct(xs: list[float], q: float) -> str:
        return f"{xs[int(q * (len(xs) - 1))] * 1000:.0f} ms"

    print(
        f"\n[latency bench] {platform.machine()} {os.cpu_count()} cores: {total} events at {rate:.0f}/s for "
        f"{seconds:.0f} s, sink max wait {p.env['ESUP_SINK_MAX_WAIT_S']} s\n"
        f"  event produced → finding queryable in ClickHouse (one in ten, polled every 50 ms): p50 {pct(lat, 0.5)}, "
        f"p99 {pct(lat, 0.99)}, max {pct(lat, 1.0)}\n"
        f"  event produced → finding on Kafka (the worker's part):                  p50 {pct(worker, 0.5)}, "
        f"p99 {pct(worker, 0.99)}, max {pct(worker, 1.0)}"
    )
    assert len(lat) == len(order) and len(worker) == total


def test_timer_lateness_after_the_deadline(pipeline: Pipeline) -> None:
    """N cases whose acceptance notice falls due at the same end of a working day (24:00 Asia/Shanghai),
    the way a province's timers bunch at midnight. The worker's wall clock is shifted (ESUP_CLOCK_OFFSET_S)
    so that this midnight comes during the run; lateness = the finding's Kafka record time − the deadline."""
    ctx = synthetic_context()  # the example catalog the pipeline publishes
    n = int(os.environ.get("ESUP_BENCH_DUE_CASES", "5000"))
    lead = float(os.environ.get("ESUP_BENCH_LEAD_S", "60"))  # worker start + publishing + processing time
    # The end of the next working day after a week from now: an ordinary deadline, well inside the calendar.
    deadline = working_day_end(datetime.now(UTC) + timedelta(days=7), ctx.calendar)
    applied = application_due_at(deadline, ctx)
    offset = (deadline - datetime.now(UTC)).total_seconds() - lead
    p = pipeline
    p.env["ESUP_CLOCK_OFFSET_S"] = f"{offset:.3f}"
    p.env["ESUP_SWEEP_INTERVAL_S"] = "1.0"  # the production default, not the tests' 0.5
    p.env["ESUP_SWEEP_ARM_AHEAD_S"] = os.environ.get("ESUP_BENCH_ARM_AHEAD_S", "30")  # 0: no arming
    p.setup()
    p.worker(clock="wall")
    lines = []
    for i in range(n):
        case_id = f"DUE-{i}"
        t = (applied + timedelta(seconds=i % 3600)).isoformat()
        lines.append(
            json.dumps(
                {
                    "event_id": f"{case_id}-1",
                    "case_id": case_id,
                    "item_code": "SC-FOOD-001",
                    "department_id": "DZ-SCJG",
                    "region_code": "511702",
                    "staff_id": "s-bench",
                    "kind": "apply",
                    "occurred_at": t,
                    "recorded_at": t,
                    "payload": {"materials": FOOD_MATERIALS},
                },
                ensure_ascii=False,
            ).encode()
        )
    p.publish_events(lines)
    wait_until(
        lambda: committed_lag(p.bootstrap, p.env["ESUP_WORKER_APP_ID"], p.topics["case_events"]) == 0,
        timeout=600,
        every=0.5,
        what="the worker to take every application",
    )
    before = (deadline - datetime.now(UTC)).total_seconds() - offset
    assert before > 0, f"the applications were processed {-before:.1f} s after the deadline: raise ESUP_BENCH_LEAD_S"
    time.sleep(before)
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        p.topics["findings"],
        bootstrap_servers=p.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
        **admin_auth(),
    )
    late: dict[str, float] = {}
    give_up = time.monotonic() + 600
    while len(late) < n and time.monotonic() < give_up:
        for r in consumer:
            f = json.loads(r.value)
            if f["rule"] == "TIME_ACCEPT_NOTICE" and f["case_id"].startswith("DUE-"):
                assert datetime.fromisoformat(f["detected_at"]) == deadline  # the moment the timer was due
                late[f["case_id"]] = r.timestamp / 1000 + offset - deadline.timestamp()
    consumer.close()
    assert len(late) == n, f"{len(late)} of {n} notice findings arrived"
    lat = sorted(late.values())
    p50 = statistics.median(lat)
    p99 = lat[int(0.99 * (len(lat) - 1))]
    print(
        f"\n[timer lateness bench] {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}: "
        f"{n} cases due at {deadline.isoformat()}, sweep every 1.0 s, one worker; finding on Kafka − deadline: "
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, min {lat[0] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms"
    )
