"""What open cases cost a stream worker: resident memory per open case, and how long a worker holding N open
cases takes to serve again after `kill -9`. Run with `make bench` (N from ESUP_BENCH_OPEN_CASES, default a
million); figures are printed (and copied into docs/performance.md by hand with the machine and the command),
never asserted as limits.

The open cases are N `apply` events of distinct cases on SC-FOOD-001, occurred a few minutes ago (Asia/Shanghai)
and run by a worker with `--clock wall`, as in production: an application's first timer (the acceptance notice)
is due at the earliest at the end of the next working day, so nothing fires during the bench and every case
keeps exactly one pending timer — which is what the recovered worker reports, so the count checks that every
case survived the kill.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
import urllib.error
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from esup.settings import Settings
from tests.integration.pipeline import Pipeline, committed_lag, wait_until, worker_status
from tests.ports import free_port
from tests.support import FOOD_MATERIALS, admin_auth

pytestmark = pytest.mark.bench

MIB = 1024 * 1024
# One line per partition whose rows the stopping worker saved (streams/ownership.py): size and seconds.
SNAPSHOT_WRITTEN = re.compile(
    r"partition \d+: snapshot written at changelog offset \d+ \(\d+ rows, ([\d.]+) MB, ([\d.]+) s\)"
)
# One line per partition taken over (streams/ownership.py), with where its time went.
TAKEN_OVER = re.compile(
    r"partition (\d+) taken over from (\w+): (\d+) cases \((\d+) changelog records, (\d+) quarantined\), committed .*; "
    r"fence ([\d.]+) s, read ([\d.]+) s, load ([\d.]+) s, index ([\d.]+) s"
)


# The worker's static group membership id (ESUP_WORKER_INSTANCE): the killed worker and its restarts are the
# same member, so the group hands its partitions straight back. Empty: dynamic membership, as before.
INSTANCE = os.environ.get("ESUP_BENCH_INSTANCE", "bench-worker-1")
# How the open cases come to be: "changelog" (default) writes the rows a worker leaves behind straight into
# the changelog, so a million cases take seconds to set up; "events" runs N applications through a worker.
SEED = os.environ.get("ESUP_BENCH_SEED", "changelog")
ROOT = Path(__file__).resolve().parents[2]


def _start_worker(p: Pipeline, name: str, port: int) -> None:
    # Not `p.worker()`: it runs at --loglevel warning, which drops the INFO line of each partition taken over.
    env = {"ESUP_WORKER_INSTANCE": INSTANCE} if INSTANCE else None
    p.start(name, "worker", "--clock", "wall", "--loglevel", "info", "--web-port", str(port), env=env)


def _memory(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in bytes."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024  # "123456 kB"
    return out


def _status(port: int) -> Any:
    """The status page, also when it answers 503 (a wall-clock worker whose sweeper lags while it is busy)."""
    try:
        return worker_status(port)
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")


def _answers(port: int, partitions: int) -> Any:
    try:
        s = _status(port)
    except OSError:
        return None
    return s if s.get("catalog", {}).get("ready") and len(s.get("partitions", {})) == partitions else None


class _LogWatch:
    """Reads a log file as it grows and keeps every line matching a pattern (with when it was logged)."""

    def __init__(self, path: Path, pattern: re.Pattern[str]) -> None:
        self.path = path
        self.pattern = pattern
        self.offset = 0
        self.rest = b""
        self.found: list[tuple[float | None, re.Match[str]]] = []

    def read(self) -> list[tuple[float | None, re.Match[str]]]:
        if self.path.exists():
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read()
            self.offset += len(chunk)
            *lines, self.rest = (self.rest + chunk).split(b"\n")
            for line in lines:
                text = line.decode(errors="replace")
                if m := self.pattern.search(text):
                    self.found.append((_logged_at(text, m.group(0)), m))
        return self.found

    def all_taken(self, partitions: int) -> bool:
        return len({m.group(1) for _, m in self.read()}) >= partitions


def _logged_at(log: str, needle: str) -> float | None:
    """When (epoch seconds) the first log line containing ``needle`` was written, from faust's line stamp
    ("[2026-03-02 09:00:00,123] [pid] [INFO] …", local time); None when there is no such line."""
    for line in log.splitlines():
        if needle in line and (m := re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", line)):
            # logging stamps local time: astimezone() reads a naive datetime as local
            return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone().timestamp()
    return None


def _open_cases(n: int) -> Iterator[tuple[bytes, bytes]]:
    """N `apply` events with every required material, one per case, keyed by case id (a template, not pydantic)."""
    now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0)
    occurred, recorded = (now - timedelta(minutes=5)).isoformat(), (now - timedelta(minutes=4)).isoformat()
    head = '{"event_id": "%s-a", "case_id": "%s", '
    tail = (
        '"item_code": "SC-FOOD-001", "department_id": "DZ-SCJG", "region_code": "511702", "staff_id": "s-bench", '
        f'"kind": "apply", "occurred_at": "{occurred}", "recorded_at": "{recorded}", '
        '"payload": {"materials": %s}}' % json.dumps(FOOD_MATERIALS)
    )
    for i in range(n):
        case_id = f"OPEN-{i:07d}"
        yield case_id.encode(), ((head % (case_id, case_id)) + tail).encode()


def _open_rows(n: int) -> Iterator[tuple[bytes, bytes]]:
    """The changelog rows of N open cases as a worker writes them (`_open_cases` applied, due moment and
    basis included), keyed by case id: the default partitioner puts each where the worker would."""
    from schemas.catalog import load_catalog
    from schemas.config import load_rule_config
    from schemas.events import parse_event
    from streams.processor import CaseProcessor
    from streams.rows import encode_row, pack, unpack
    from streams.rules import Context, load_calendar, step
    from streams.rules.clocks import next_due

    ctx = Context.build(load_calendar(None), load_catalog(ROOT / "examples/catalog.yaml"), load_rule_config(None))
    basis = CaseProcessor(ctx=ctx, clock="wall", ticks_topic="ticks").basis
    template_id, template_event = next(_open_cases(1))
    state, _ = step(None, parse_event(template_event), ctx)
    row = unpack(encode_row(state, due=next_due(state, ctx), basis=basis))  # the JSON inside the stored row
    for i in range(n):
        case_id = f"OPEN-{i:07d}".encode()
        yield case_id, pack(row.replace(template_id, case_id))  # compressed as the worker writes it


def _end_offsets(bootstrap: str, topic: str) -> int:
    """Records ever written to a topic (sum of its partitions' end offsets)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, **admin_auth(), enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, part) for part in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


def _row_sizes(bootstrap: str, topic: str, sample: int = 2000) -> tuple[float, float]:
    """Mean key and value sizes (bytes) of up to ``sample`` records of a topic's partition 0."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **admin_auth(),
        consumer_timeout_ms=3000,
    )
    consumer.assign([TopicPartition(topic, 0)])
    keys: list[int] = []
    values: list[int] = []
    try:
        for record in consumer:
            keys.append(len(record.key or b""))
            values.append(len(record.value or b""))
            if len(values) >= sample:
                break
    finally:
        consumer.close()
    assert values, f"no record in {topic}"
    return sum(keys) / len(keys), sum(values) / len(values)


def test_memory_per_open_case_and_recovery_after_kill_9(pipeline: Pipeline) -> None:
    from kafka import KafkaConsumer, TopicPartition

    n = int(os.environ.get("ESUP_BENCH_OPEN_CASES", "1000000"))
    p = pipeline.setup()
    events, findings = p.topics["case_events"], p.topics["findings"]
    group = p.env["ESUP_WORKER_APP_ID"]
    changelog = f"{group}-cases-changelog"
    cache = int(p.env.get("ESUP_WORKER_STATE_CACHE", Settings.model_fields["worker_state_cache"].default))
    store = "memory:// (rows loaded from the changelog in bulk)"
    drain_timeout = 600 + n / 200  # generous for 2 cores; a hang fails, a slow machine does not
    recover_timeout = 300 + n / 500

    # Baseline: a worker that owns every partition with an empty table — started, catalog loaded, table
    # "recovered", web page and sweeper running — measured while idle and then stopped cleanly. Its RSS is
    # the fixed cost (interpreter, faust, aiokafka, rules, catalog); what a loaded worker holds above it is
    # what the open cases cost. Caveat: the difference also carries what processing N events leaves behind
    # that does not scale with N (warm code paths, fetch buffers, allocator slack), which weighs on a small N
    # only. The recovered worker below, which processed one event and read its rows from Kafka, is a second
    # reading (it has no state cache, but keeps whatever its recovery allocated and did not give back).
    port = free_port()
    _start_worker(p, "baseline", port)
    wait_until(lambda: _answers(port, p.partitions), timeout=120, every=0.5, what="the baseline worker")
    base_log = _LogWatch(p.workdir / "baseline.log", TAKEN_OVER)
    wait_until(
        lambda: base_log.all_taken(p.partitions), timeout=60, every=0.5, what="the baseline worker's (empty) partitions"
    )
    time.sleep(3)
    baseline = _memory(p.processes["baseline"].pid)["VmRSS"]
    p.stop("baseline")  # SIGTERM; the next worker is the same static member (or, dynamic, it left the group)

    port = free_port()
    t0 = time.perf_counter()
    if SEED == "events":  # one worker opens every case from its application (slow: N events through a worker)
        assert p.produce(events, _open_cases(n), linger_ms=50, batch_size=512 * 1024) == n
        t_produce = time.perf_counter() - t0
        t0 = time.perf_counter()
        _start_worker(p, "loaded", port)
        wait_until(
            lambda: committed_lag(p.bootstrap, group, events) == 0,
            timeout=drain_timeout,
            every=0.5,
            what="the worker to open every case",
        )
        seeded = f"{n:,} applications produced in {t_produce:.1f} s; one worker opened them all"
    else:  # the rows such a worker leaves in the changelog, written directly; a worker takes them over
        assert p.produce(changelog, _open_rows(n), linger_ms=50, batch_size=512 * 1024) == n
        t_produce = time.perf_counter() - t0
        t0 = time.perf_counter()
        _start_worker(p, "loaded", port)
        loaded_log = _LogWatch(p.workdir / "loaded.log", TAKEN_OVER)
        wait_until(
            lambda: loaded_log.all_taken(p.partitions),
            timeout=drain_timeout,
            every=0.5,
            what="the worker to take the cases over",
        )
        seeded = f"{n:,} open-case rows written to the changelog in {t_produce:.1f} s; a worker took them over"
    t_drain = time.perf_counter() - t0
    time.sleep(3)  # idle: the last batch's garbage is gone
    loaded = _memory(p.processes["loaded"].pid)
    before = _status(port)
    assert before["counters"]["dead_letters"] == 0, before["counters"]
    assert before["counters"]["events"] == (n if SEED == "events" else 0), before["counters"]
    assert before["open_timers"] == n, "every open case has its acceptance timer pending"
    assert _end_offsets(p.bootstrap, changelog) == n, "one table row per case"
    assert _end_offsets(p.bootstrap, findings) == 0, "an application with every material raises nothing"
    key_bytes, row_bytes = _row_sizes(p.bootstrap, changelog)

    # The findings topic's end, fixed before the kill: the probe's finding is the first record after it.
    watch = KafkaConsumer(bootstrap_servers=p.bootstrap, **admin_auth(), enable_auto_commit=False)
    tps = [TopicPartition(findings, part) for part in sorted(watch.partitions_for_topic(findings) or ())]
    watch.assign(tps)
    watch.seek_to_end()
    for tp in tps:
        watch.position(tp)
    probe_id = "PROBE-0001"
    # A fee on a free item: one finding (FEE_ON_FREE_ITEM) the moment it is processed, and no timer.
    now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0).isoformat()
    probe = {
        "event_id": f"{probe_id}-1",
        "case_id": probe_id,
        "item_code": "SC-FOOD-001",
        "department_id": "DZ-SCJG",
        "region_code": "511702",
        "staff_id": "s-bench",
        "kind": "fee_charged",
        "occurred_at": now,
        "recorded_at": now,
        "payload": {"fee_code": "X", "amount_fen": 100},
    }

    port = free_port()
    log = _LogWatch(p.workdir / "recovered.log", TAKEN_OVER)
    t0, killed_at = time.perf_counter(), time.time()
    p.stop("loaded", kill=True)  # kill -9
    _start_worker(p, "recovered", port)
    t_recovered, probe_findings, t_probe = _probe(p, watch, probe, log, "recovered", t0, recover_timeout)
    assert {f["case_id"] for f in probe_findings} == {probe["case_id"]}
    assert {f["rule"] for f in probe_findings} == {"FEE_ON_FREE_ITEM"}
    taken = {int(m.group(1)): m for _, m in log.found}
    assert sorted(taken) == list(range(p.partitions)), [m.group(0) for _, m in log.found]
    assert sum(int(m.group(3)) for m in taken.values()) == n, "every open case survives the kill"
    assert {m.group(2) for m in taken.values()} == {"changelog"}, "a kill -9 leaves no snapshot"
    time.sleep(3)
    after = _status(port)
    assert after["open_timers"] == n and after["counters"]["events"] == 1, after
    back = _memory(p.processes["recovered"].pid)
    phases = _phases(p.log("recovered"), log, killed_at)

    # A planned restart of the same worker (same instance id): SIGTERM, start again at once, one more probe.
    port = free_port()
    relog = _LogWatch(p.workdir / "restarted.log", TAKEN_OVER)
    probe2 = {**probe, "event_id": "PROBE-0002-1", "case_id": "PROBE-0002"}
    t0, stopped_at = time.perf_counter(), time.time()
    p.stop("recovered")  # SIGTERM, waits for the exit
    t_stopped = time.perf_counter() - t0
    _start_worker(p, "restarted", port)
    _, probe2_findings, t_probe2 = _probe(p, watch, probe2, relog, "restarted", t0, recover_timeout)
    watch.close()
    assert {f["case_id"] for f in probe2_findings} == {"PROBE-0002"}
    retaken = {int(m.group(1)): m for _, m in relog.found}
    assert sum(int(m.group(3)) for m in retaken.values()) == n + 1, "every open case and the first probe's"
    sources = Counter(m.group(2) for m in retaken.values())
    written = SNAPSHOT_WRITTEN.findall(p.log("recovered"))
    time.sleep(3)
    assert _status(port)["open_timers"] == n, "every open case's timer is pending again"
    again = _memory(p.processes["restarted"].pid)
    rephases = _phases(p.log("restarted"), relog, stopped_at)

    print(
        f"\n[recovery bench] {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}: "
        f"{n:,} open cases (SC-FOOD-001 applications, --clock wall), {p.partitions} partitions, "
        f"store {store}, state cache {cache:,}, instance id {INSTANCE or '(none: dynamic membership)'}\n"
        f"  {seeded} in {t_drain:.1f} s (start included)\n"
        f"  RSS idle worker, empty table:               {baseline / MIB:8.1f} MiB\n"
        f"  RSS worker holding the cases (after them):  {loaded['VmRSS'] / MIB:8.1f} MiB "
        f"(peak {loaded['VmHWM'] / MIB:.1f})  → {(loaded['VmRSS'] - baseline) / n:,.0f} bytes per open case "
        f"({min(n, cache) if SEED == 'events' else 0:,} of them also decoded in the state cache)\n"
        f"  RSS recovered worker (rows read from Kafka): {back['VmRSS'] / MIB:7.1f} MiB "
        f"(peak {back['VmHWM'] / MIB:.1f})  → {(back['VmRSS'] - baseline) / n:,.0f} bytes per open case "
        f"(no state cache)\n"
        f"  RSS restarted worker (rows from snapshots): {again['VmRSS'] / MIB:7.1f} MiB "
        f"(peak {again['VmHWM'] / MIB:.1f})  → {(again['VmRSS'] - baseline) / n:,.0f} bytes per open case\n"
        f"  changelog row: {key_bytes + row_bytes:,.0f} bytes per case ({key_bytes:.0f} key + {row_bytes:.0f} value)\n"
        f"  kill -9 → every partition taken over (last 'taken over' line seen): {t_recovered:6.1f} s\n"
        f"    ({phases})\n"
        f"  kill -9 → first new event processed (its finding on Kafka): {t_probe:6.1f} s\n"
        f"  planned restart (SIGTERM, exit after {t_stopped:.1f} s, start again) → first new event processed: "
        f"{t_probe2:6.1f} s\n"
        f"    partitions taken over from: {dict(sources)}; snapshots written at the stop: {len(written)} "
        f"({sum(float(mb) for mb, _ in written):.1f} MB, {max((float(s) for _, s in written), default=0):.2f} s "
        f"the slowest)\n"
        f"    ({rephases})"
    )


def _probe(
    p: Pipeline, watch: Any, probe: dict[str, Any], log: _LogWatch, name: str, t0: float, timeout: float
) -> tuple[float, list[Any], float]:
    """Send one probe event and wait for every partition taken over and the probe's finding on Kafka:
    (seconds from t0 to the last partition taken over, the findings read, seconds from t0 to the first)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=p.bootstrap, **admin_auth(), acks="all", linger_ms=0)
    producer.send(p.topics["case_events"], key=probe["case_id"].encode(), value=json.dumps(probe).encode())
    producer.flush()
    producer.close()
    t_taken = t_probe = 0.0
    findings: list[Any] = []
    deadline = time.monotonic() + timeout
    while not (t_taken and findings):
        assert time.monotonic() < deadline, f"no recovery in {timeout:.0f} s:\n{p.log(name)[-3000:]}"
        assert p.processes[name].poll() is None, f"the worker exited:\n{p.log(name)[-3000:]}"
        if not t_taken and log.all_taken(p.partitions):
            t_taken = time.perf_counter() - t0
        for records in watch.poll(timeout_ms=50).values():  # the loop's pace: times are good to ~50 ms
            findings += [json.loads(r.value) for r in records]
            if findings and not t_probe:
                t_probe = time.perf_counter() - t0
    return t_taken, findings, t_probe


def _phases(text: str, log: _LogWatch, since: float) -> str:
    """Where the time went, from the new worker's own log stamps: process up, partitions assigned (the group
    waits out a killed dynamic member's session first), then per partition fence, changelog read, load and
    index (partitions are taken over concurrently: the sums are CPU and I/O, the last line the wall time).
    From a snapshot, "changelog read" is reading and checking the file, "load" the committed offsets."""
    up = _logged_at(text, "[^Worker]: Starting")
    assigned = _logged_at(text, "Executing _on_partitions_assigned")
    stamps = [at for at, _ in log.found if at is not None]
    if up is None or assigned is None or not stamps:
        return "n/a (log lines not found)"
    sums = [sum(float(m.group(i)) for _, m in log.found) for i in (6, 7, 8, 9)]
    return (
        f"process up at {up - since:.1f} s, partitions assigned at {assigned - since:.1f} s, last partition "
        f"taken over at {max(stamps) - since:.1f} s; summed over partitions: fence {sums[0]:.1f} s, "
        f"changelog read {sums[1]:.1f} s, load {sums[2]:.1f} s, index {sums[3]:.1f} s"
    )
