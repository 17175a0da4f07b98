"""Faults on the cluster profile (issue 19): a simulated province streamed through three brokers, three ZooKeeper
nodes, two ClickHouse replicas and two workers on hosts of their own, while the leading broker is killed -9, a
replica is stopped, the ZooKeeper leader is killed -9 and a worker's host is cut off past its session timeout.
ClickHouse must end with exactly the reference findings, read through the Distributed tables with FINAL, none
twice, and every replica alone must hold the same rows; every fault must have taken effect.

Selected with `-m cluster` only (root, network namespaces, ~4 minutes); `make cluster-chaos RUNS=3` repeats it
under /tmp/esup-it.lock. The cluster is started and stopped here unless `esup stack up --profile cluster --hosts`
already runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from esup.settings import load_settings
from esup.stack import hosts
from esup.stack.cluster import REPLICAS, Cluster
from tests.integration.chaos import Fault, FaultLog, PacedPublisher, run_faults
from tests.integration.cluster_support import (
    ClusterPipeline,
    Held,
    held,
    kill9,
    leader_of,
    member_hosts,
    replica_client,
    running_cluster,
    unsharded,
    verdict,
    wait_for_group,
)
from tests.integration.pipeline import wait_until
from tests.integration.test_chaos import SHANGHAI, lag, reference, settle

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

CASES, SEED = 1500, 19
PUBLISH_S = 70.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("hosts of their own (ip netns) need root")
    with running_cluster(load_settings(), workers=2) as c:
        yield c


@pytest.fixture
def pipeline(cluster: Cluster, tmp_path: Path) -> Iterator[ClusterPipeline]:
    p = ClusterPipeline(cluster, tmp_path / "pipeline", partitions=6)
    p.workdir.mkdir(parents=True)
    yield p
    for h in cluster.worker_hosts():
        hosts.restore(h)
    p.close()
    from kafka.admin import KafkaAdminClient

    from sinks.clickhouse import connect
    from tests.support import admin_auth

    admin = KafkaAdminClient(bootstrap_servers=p.bootstrap, **admin_auth())
    admin.delete_topics([t for t in admin.list_topics() if p.tag in t])
    admin.close()
    connect(cluster.settings, "default", role="admin").execute(
        f"DROP DATABASE IF EXISTS {p.database} ON CLUSTER {cluster.settings.clickhouse_cluster}"
    )


def fault_schedule(p: ClusterPipeline, c: Cluster, effects: list[str]) -> list[Fault]:
    """The faults of one run, in seconds after publishing began; ``effects`` gets what each one did (a fault
    that did nothing would make the run pass without testing anything)."""
    killed: list[int] = []
    zk_killed: list[int] = []
    worker = c.worker_hosts()[0]
    group = p.env["ESUP_WORKER_APP_ID"]

    def evicted() -> None:
        try:
            wait_until(lambda: worker.ip not in member_hosts(p.bootstrap, group), timeout=15, every=1, what="")
            effects.append("worker-1 left the group")
        except AssertionError:
            pass

    def restart() -> None:
        # A JVM on busy cores takes tens of seconds to answer: the schedule does not wait for it.
        threading.Thread(target=c.start_brokers, args=([killed[0]],), name="restart-broker", daemon=True).start()

    def kill_leader() -> None:
        node = leader_of(p.bootstrap, p.topics["case_events"]) - 1
        killed.append(node)
        pid = c.brokers[node].pid()
        kill9(pid)
        if pid and wait_until(lambda: c.brokers[node].pid() is None, timeout=10, what=f"kafka-{node + 1} to die"):
            effects.append(f"kafka-{node + 1} killed")

    def kill_zookeeper_leader() -> None:
        leader = next((i for i, z in enumerate(c.zookeepers) if z.mode() == "leader"), 0)
        zk_killed.append(leader)
        pid = c.zookeepers[leader].pid()
        kill9(pid)
        if pid and wait_until(lambda: c.zookeepers[leader].pid() is None, timeout=10, what="ZooKeeper to die"):
            effects.append(f"zookeeper-{leader + 1} killed")

    def restart_zookeeper() -> None:
        threading.Thread(target=c.start_zookeepers, args=(zk_killed,), name="restart-zk", daemon=True).start()

    def stop_replica() -> None:
        if c.replicas[0].stop().note == "stopped":
            effects.append("clickhouse-1 stopped")

    return [
        Fault(8, "kill-broker", "kill -9 the broker leading most case-events partitions", kill_leader),
        Fault(20, "restart-broker", "restart it (in the background)", restart),
        Fault(28, "stop-replica", "stop clickhouse-1 (the sink's first host)", stop_replica),
        Fault(
            32,
            "kill-zookeeper",
            "kill -9 the ZooKeeper leader (clickhouse-2 alone takes the writes)",
            kill_zookeeper_leader,
        ),
        Fault(
            40,
            "cut-host",
            "cut worker-1's host off the network (20 s, past its 10 s session timeout)",
            lambda: hosts.cut(worker),
        ),
        Fault(48, "start-replica", "start clickhouse-1 again", c.replicas[0].start),
        Fault(52, "restart-zookeeper", "restart it (in the background)", restart_zookeeper),
        Fault(56, "evicted", "check that worker-1 has left its group", evicted),
        Fault(60, "restore-host", "restore worker-1's host", lambda: hosts.restore(worker)),
    ]


def test_a_province_through_a_killed_broker_a_stopped_replica_and_a_cut_off_host_ends_as_the_reference(
    pipeline: ClusterPipeline, cluster: Cluster, tmp_path: Path
) -> None:
    from sinks.clickhouse import connect

    p, sim, began = pipeline, tmp_path / "sim", time.monotonic()
    summary = "error before the comparison"
    try:
        p.esup("simulate", "--cases", str(CASES), "--seed", str(SEED), "--out", str(sim), "--quiet")
        at = json.loads((sim / "manifest.json").read_text())["at"]
        expected, expected_versions = reference(sim, at)
        lines = (sim / "events.jsonl").read_bytes().splitlines()
        p.setup(catalog=sim / "catalog.yaml")
        # Every Distributed table shards by its sorting key, the ALTERed and RENAMEd ones included.
        admin = connect(cluster.settings, "default", role="admin")
        assert unsharded(admin, p.database) == []
        admin.disconnect()
        p.worker("worker-1")
        p.worker("worker-2")
        p.sink()
        group = p.env["ESUP_WORKER_APP_ID"]
        wait_for_group(p.bootstrap, group, members=2)

        publisher = PacedPublisher(p, lines, PUBLISH_S)
        log = FaultLog(p.workdir / "faults.log", lambda: publisher.sent)
        log(f"publishing {len(lines)} events over {PUBLISH_S:.0f} s")
        publisher.start()
        effects: list[str] = []
        run_faults(fault_schedule(p, cluster, effects), log)
        publisher.join(timeout=PUBLISH_S * 2)
        assert publisher.error is None and publisher.sent == len(lines), publisher.error

        wait_until(
            lambda: all(b.pid() for b in cluster.brokers) and all(b._answers() for b in cluster.brokers),
            timeout=120,
            every=2,
            what="the restarted broker to answer",
        )
        wait_until(
            lambda: all(z.mode() in ("leader", "follower") for z in cluster.zookeepers),
            timeout=60,
            every=2,
            what="the restarted ZooKeeper node to serve",
        )
        summary = "workers never caught up"
        wait_until(
            lambda: lag(p, group, ["case_events"]) == 0, timeout=150, every=2, what="the workers to apply every event"
        )
        p.advance(at)
        log(f"event clock advanced to {at}")
        reader = connect(cluster.settings, "default", role="admin")
        unsettled = settle(p, reader, timeout=90)
        log(unsettled or "settled")
        found = held(cluster, reader, p.database)
        outcome, problems = verdict(found, expected, expected_versions, REPLICAS)
        others = [x for x in problems if not x.startswith("chaos outcome")]
        summary = (
            f"{outcome.summary()}; {len(found.findings)} rows for {len({r[0] for r in found.findings})} findings; "
            + ("; ".join(others) if others else "replicas agree")
            + f"; faults took effect: {', '.join(effects)}"
            + (f" ({unsettled})" if unsettled else "")
        )
        assert not problems, "\n".join(problems) + "\nfaults:\n" + "\n".join(log.lines)
        assert len(effects) == 4, f"a fault took no effect: only {effects}"
    finally:
        took = time.monotonic() - began
        print(f"\ncluster chaos: {summary} in {took:.0f} s; logs in {p.workdir}")
        if path := os.environ.get("ESUP_CHAOS_SUMMARY"):
            Path(path).write_text(f"{summary} ({took:.0f} s)\n")
            # pytest keeps only its last few tmp dirs: the logs of a repeated run go next to the summary.
            shutil.copytree(
                p.workdir, Path(path).parent / "cluster-logs" / p.tag, ignore=shutil.ignore_patterns("home")
            )


# The checks above, fail-when-broken: bad data planted on the real replicas, each kind the run must catch.
PLANT_FINDINGS = (
    "CREATE TABLE IF NOT EXISTS findings (finding_id String, rule String, severity String, staff_id String, "
    "deadline Nullable(DateTime('Asia/Shanghai')), case_id String, version UInt64) "
    "ENGINE = ReplacingMergeTree(version) ORDER BY {order}"
)
PLANT_SNAPSHOTS = (
    "CREATE TABLE IF NOT EXISTS case_snapshots (case_id String, version UInt64) "
    "ENGINE = ReplacingMergeTree(version) ORDER BY case_id"
)
GOOD = [
    ("f1", "R1", "high", "s1", None, "c1", 1),
    ("f2", "R2", "low", "s2", datetime(2026, 3, 2, 17, 30, tzinfo=SHANGHAI), "c1", 1),
    ("f3", "R1", "high", "s3", None, "c2", 1),
]


class Planted:
    """A database of the cluster form (sinks/cluster_ddl.py) holding GOOD, and what the run would expect."""

    def __init__(self, cluster: Cluster, order: str = "finding_id") -> None:
        from sinks.clickhouse import connect
        from sinks.cluster_ddl import cluster_form

        self.cluster, self.name = cluster, cluster.settings.clickhouse_cluster
        self.db = f"esup_plant{uuid.uuid4().hex[:8]}"
        self.admin = connect(cluster.settings, "default", role="admin")
        self.admin.execute(f"CREATE DATABASE IF NOT EXISTS {self.db} ON CLUSTER {self.name}")
        for ddl in (PLANT_FINDINGS.format(order=order), PLANT_SNAPSHOTS):
            for step in cluster_form(ddl, self.db, self.name):
                self.admin.execute(step)
        self.expected = {r[0]: (*r[1:4], r[4].strftime("%Y-%m-%d %H:%M:%S") if r[4] else None, r[5]) for r in GOOD}
        self.versions = {"c1": 3, "c2": 5}
        self.insert(GOOD)
        self.snapshot(list(self.versions.items()))

    def insert(self, rows: list[tuple[Any, ...]], table: str = "findings", client: Any = None) -> None:
        cols = "finding_id, rule, severity, staff_id, deadline, case_id, version"
        (client or self.admin).execute(f"INSERT INTO {self.db}.{table} ({cols}) VALUES", rows)

    def snapshot(self, rows: list[tuple[str, int]]) -> None:
        self.admin.execute(f"INSERT INTO {self.db}.case_snapshots (case_id, version) VALUES", rows)

    def problems(self, found: Held | None = None) -> list[str]:
        found = found or held(self.cluster, self.admin, self.db, sync_s=5)
        return verdict(found, self.expected, self.versions, REPLICAS)[1]

    def drop(self) -> None:
        self.admin.execute(f"DROP DATABASE IF EXISTS {self.db} ON CLUSTER {self.name}")
        self.admin.disconnect()


def has(problems: list[str], *words: str) -> bool:
    return any(all(w in p for w in words) for p in problems)


def test_the_final_checks_fail_on_bad_data_planted_on_the_replicas(cluster: Cluster) -> None:
    plant = Planted(cluster)
    try:
        assert plant.problems() == []  # the good data passes: what follows is each planted fault alone

        # A finding whose latest row is wrong (a stale or mistaken re-detection wins), then put right.
        plant.insert([("f2", "R2", "high", "s2", GOOD[1][4], "c1", 2)])
        assert has(plant.problems(), "1 differ")
        plant.insert([(*GOOD[1][:6], 3)])
        assert plant.problems() == []

        # clickhouse-2 stops fetching: a finding written on clickhouse-1 alone never reaches it.
        one, two = replica_client(cluster, 0, plant.db), replica_client(cluster, 1, plant.db)
        two.execute(f"SYSTEM STOP FETCHES {plant.db}.findings_local")
        plant.insert([("f4", "R3", "low", "s1", None, "c2", 1)], "findings_local", one)
        plant.expected["f4"] = ("R3", "low", "s1", None, "c2")
        late = plant.problems()
        assert has(late, "clickhouse-2: still behind") and has(late, "clickhouse-2: findings differ", "1 missing"), late
        two.execute(f"SYSTEM START FETCHES {plant.db}.findings_local")
        for c in (one, two):
            c.disconnect()
        assert plant.problems() == []

        # A replica left out of the comparison.
        found = held(cluster, plant.admin, plant.db, sync_s=5)
        del found.replicas["clickhouse-2"]
        assert has(plant.problems(found), "1 replicas read of 2")

        # A worker's findings written again under other ids, and a snapshot of a case that does not exist.
        plant.insert([("f1-worker-2", *GOOD[0][1:])])
        plant.snapshot([("c-ghost", 1)])
        wrong = plant.problems()
        assert has(wrong, "1 extra") and has(wrong, "1 snapshot versions wrong"), wrong
    finally:
        plant.drop()

    # Findings without dedup (a sorting key that is not the finding id): a redelivered finding stays twice.
    plant = Planted(cluster, order="(finding_id, version)")
    try:
        assert plant.problems() == []
        plant.insert([(*GOOD[2][:6], 2)])
        assert has(plant.problems(), "1 findings on more than one row")
    finally:
        plant.drop()
