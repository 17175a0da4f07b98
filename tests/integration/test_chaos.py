"""Chaos (issue 10): a simulated province streamed while workers freeze, join and die, and the sink dies, on busy
cores; ClickHouse must end with exactly the reference findings and each case's final snapshot version.

One run takes about three minutes. `make chaos RUNS=10` repeats it and writes one line per run to
build/chaos.log. ESUP_CHAOS_FAULTS=none runs the same stream without faults (a control for the harness);
ESUP_CHAOS_FAULTS=freeze,thaw runs only the faults named (see fault_schedule).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.integration.chaos import (
    Burners,
    Fault,
    FaultLog,
    PacedPublisher,
    chosen,
    compare,
    run_faults,
    signal_worker,
)
from tests.integration.pipeline import Pipeline, wait_for_split, wait_until
from tests.ports import free_port
from tests.support import admin_auth

pytestmark = pytest.mark.integration

CASES, SEED = 3000, 11  # the province: 20,953 events, 899 reference findings
PUBLISH_S = 80.0  # the stream's length: every fault below lands inside it
SHANGHAI = ZoneInfo("Asia/Shanghai")


def fault_schedule(p: Pipeline) -> list[Fault]:
    """The faults of one run, in seconds after publishing began (two workers and the sink run at 0 s)."""

    def restart(name: str) -> None:
        p.stop(name, kill=True)  # kill -9 (the whole process group) and reap it
        time.sleep(3)
        if name == "sink":
            p.sink(name)
        else:
            p.worker(name, web_port=free_port())

    return [
        Fault(
            12,
            "freeze",
            "freeze worker-1 (SIGSTOP), for 15 s: past its 10 s session timeout",
            lambda: signal_worker(p, "worker-1", signal.SIGSTOP),
        ),
        Fault(
            27,
            "thaw",
            "thaw worker-1 (SIGCONT): it comes back having lost its partitions",
            lambda: signal_worker(p, "worker-1", signal.SIGCONT),
        ),
        Fault(34, "join", "worker-3 joins the group", lambda: p.worker("worker-3", web_port=free_port())),
        Fault(46, "kill-worker", "kill -9 worker-2 and restart it 3 s later", lambda: restart("worker-2")),
        Fault(60, "kill-sink", "kill -9 the sink and restart it 3 s later", lambda: restart("sink")),
    ]


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, clickhouse_url: str, kafka_admin: Any, clickhouse_client: Any, tmp_path: Path
) -> Iterator[Pipeline]:
    p = Pipeline(kafka_bootstrap, clickhouse_url, tmp_path / "pipeline", partitions=6)
    p.workdir.mkdir(parents=True)
    yield p
    for name, proc in p.processes.items():  # a frozen worker must be thawed to die
        if proc.poll() is None and name.startswith("worker"):
            signal_worker(p, name, signal.SIGCONT)
    p.close(kafka_admin, clickhouse_client)


def reference(sim: Path, at: str) -> tuple[dict[str, tuple[Any, ...]], dict[str, int]]:
    """streams.rules.evaluate over the simulated file (what `esup evaluate` prints), and each case's final seq."""
    from esup.cli.evaluate import read_events
    from esup.params import aware_datetime
    from schemas.catalog import load_catalog
    from schemas.config import load_rule_config
    from streams.rules import Context, evaluate, load_calendar

    events, rejected = read_events(sim / "events.jsonl")
    assert not rejected
    ctx = Context.build(load_calendar(None), load_catalog(sim / "catalog.yaml"), load_rule_config(None))
    result = evaluate(events, ctx, aware_datetime(at))
    findings = {
        f.finding_id: (
            f.rule,
            f.severity.value,
            f.staff_id,
            f.deadline.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if f.deadline else None,
            f.case_id,
        )
        for f in result.findings
    }
    return findings, {case: state.seq for case, state in result.states.items()}


def in_clickhouse(client: Any, db: str) -> tuple[dict[str, tuple[Any, ...]], dict[str, int]]:
    rows = client.execute(
        f"SELECT finding_id, rule, severity, staff_id, toString(deadline), case_id FROM {db}.findings FINAL"
    )  # the case only names it: the id is derived from it
    versions = client.execute(f"SELECT case_id, max(version) FROM {db}.case_snapshots GROUP BY case_id")
    return {r[0]: tuple(r[1:]) for r in rows}, {c: int(v) for c, v in versions}


def lag(p: Pipeline, group: str, topics: list[str]) -> int:
    from kafka.errors import KafkaError

    from esup.lag import group_lag

    names = [p.topics[t] for t in topics]
    try:
        return sum(r.lag for r in group_lag(p.bootstrap, {group: names}, auth=admin_auth()) if r.topic in names)
    except KafkaError:  # a coordinator still moving after a rebalance: not caught up yet
        return 1 << 30


def settle(p: Pipeline, client: Any, timeout: float) -> str:
    """Until both groups' lag is 0 and ClickHouse holds still for two polls; what is left, if time runs out."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        lags = (
            lag(p, p.env["ESUP_WORKER_APP_ID"], ["case_events", "ticks"]),
            lag(p, p.env["ESUP_SINK_GROUP"], ["case_events", "findings", "case_snapshots", "dead_letters"]),
        )
        state = client.execute(
            f"SELECT (SELECT count() FROM {p.database}.findings), (SELECT count() FROM {p.database}.case_snapshots)"
        )
        if lags == (0, 0) and state == last:
            return ""
        last = state if lags == (0, 0) else None
        time.sleep(2)
    return f"not settled after {timeout:.0f} s: lags (workers, sink) {lags}"


def test_a_province_streamed_through_freezes_joins_and_kills_ends_as_the_reference(
    pipeline: Pipeline, clickhouse_client: Any, tmp_path: Path
) -> None:
    p, sim, began = pipeline, tmp_path / "sim", time.monotonic()
    summary = "error before the comparison"
    try:
        p.esup("simulate", "--cases", str(CASES), "--seed", str(SEED), "--out", str(sim), "--quiet")
        at = json.loads((sim / "manifest.json").read_text())["at"]
        expected, expected_versions = reference(sim, at)
        lines = (sim / "events.jsonl").read_bytes().splitlines()  # in event-time order
        p.setup(catalog=sim / "catalog.yaml")
        ports = [free_port(), free_port()]
        p.worker("worker-1", web_port=ports[0])
        p.worker("worker-2", web_port=ports[1])
        p.sink()
        wait_for_split(ports, hold_s=6)

        publisher = PacedPublisher(p, lines, PUBLISH_S)
        log = FaultLog(p.workdir / "faults.log", lambda: publisher.sent)
        burners = Burners(n=2)
        faults = chosen(fault_schedule(p), os.environ.get("ESUP_CHAOS_FAULTS", "all"))
        burners.start()
        log(f"publishing {len(lines)} events over {PUBLISH_S:.0f} s; 2 CPU burners on")
        publisher.start()
        try:
            run_faults(faults, log)
            publisher.join(timeout=PUBLISH_S * 2)
        finally:
            burners.stop()
            log("publishing done; CPU burners off")
        assert publisher.error is None and publisher.sent == len(lines), publisher.error

        group = p.env["ESUP_WORKER_APP_ID"]
        summary = "workers never caught up"
        wait_until(
            lambda: lag(p, group, ["case_events"]) == 0, timeout=120, every=2, what="the workers to apply every event"
        )
        p.advance(at)
        log(f"event clock advanced to {at}")
        unsettled = settle(p, clickhouse_client, timeout=90)
        log(unsettled or "settled")
        got, versions = in_clickhouse(clickhouse_client, p.database)
        outcome = compare(got, expected, versions, expected_versions)
        summary = outcome.summary() + (f" ({unsettled})" if unsettled else "")
        assert outcome.ok, outcome.report() + "\nfaults:\n" + "\n".join(log.lines)
    finally:
        took = time.monotonic() - began
        print(f"\nchaos: {summary} in {took:.0f} s; logs in {p.workdir}")
        if path := os.environ.get("ESUP_CHAOS_SUMMARY"):
            Path(path).write_text(f"{summary} ({took:.0f} s)\n")
