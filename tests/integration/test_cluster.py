"""Faults on the cluster profile (issue 19): a simulated province streamed through three brokers, two ClickHouse
replicas and two workers on hosts of their own, while the leading broker is killed -9, a replica is stopped and a
worker's host is cut off past its session timeout. ClickHouse must end with exactly the reference findings,
read through the Distributed tables with FINAL, none twice, and both replicas must hold the same rows.

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
from collections.abc import Iterator
from pathlib import Path

import pytest

from esup.settings import load_settings
from esup.stack import hosts
from esup.stack.cluster import Cluster
from tests.integration.chaos import Fault, FaultLog, PacedPublisher, compare, run_faults
from tests.integration.cluster_support import (
    ClusterPipeline,
    kill9,
    leader_of,
    replica_rows,
    running_cluster,
    wait_for_group,
)
from tests.integration.pipeline import wait_until
from tests.integration.test_chaos import in_clickhouse, lag, reference, settle

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

CASES, SEED = 1500, 19
PUBLISH_S = 70.0
FINDING = "SELECT finding_id, rule, severity, staff_id, toString(deadline), case_id FROM {db}.findings_local FINAL"


@pytest.fixture(autouse=True)
def only_when_selected(request: pytest.FixtureRequest) -> None:
    if os.geteuid() != 0:
        pytest.skip("hosts of their own (ip netns) need root")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
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


def fault_schedule(p: ClusterPipeline, c: Cluster) -> list[Fault]:
    """The faults of one run, in seconds after publishing began."""
    killed: list[int] = []
    worker = c.worker_hosts()[0]

    def restart() -> None:
        # A JVM on busy cores takes tens of seconds to answer: the schedule does not wait for it.
        threading.Thread(target=c.start_brokers, args=([killed[0]],), name="restart-broker", daemon=True).start()

    def kill_leader() -> None:
        node = leader_of(p.bootstrap, p.topics["case_events"]) - 1
        killed.append(node)
        kill9(c.brokers[node].pid())

    return [
        Fault(8, "kill-broker", "kill -9 the broker leading most case-events partitions", kill_leader),
        Fault(20, "restart-broker", "restart it (in the background)", restart),
        Fault(28, "stop-replica", "stop clickhouse-1 (the sink's first host)", c.replicas[0].stop),
        Fault(
            40,
            "cut-host",
            "cut worker-1's host off the network (20 s, past its 10 s session timeout)",
            lambda: hosts.cut(worker),
        ),
        Fault(48, "start-replica", "start clickhouse-1 again", c.replicas[0].start),
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
        p.worker("worker-1")
        p.worker("worker-2")
        p.sink()
        group = p.env["ESUP_WORKER_APP_ID"]
        wait_for_group(p.bootstrap, group, members=2)

        publisher = PacedPublisher(p, lines, PUBLISH_S)
        log = FaultLog(p.workdir / "faults.log", lambda: publisher.sent)
        log(f"publishing {len(lines)} events over {PUBLISH_S:.0f} s")
        publisher.start()
        run_faults(fault_schedule(p, cluster), log)
        publisher.join(timeout=PUBLISH_S * 2)
        assert publisher.error is None and publisher.sent == len(lines), publisher.error

        wait_until(
            lambda: all(b.pid() for b in cluster.brokers) and all(b._answers() for b in cluster.brokers),
            timeout=120,
            every=2,
            what="the restarted broker to answer",
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
        got, versions = in_clickhouse(reader, p.database)
        outcome = compare(got, expected, versions, expected_versions)
        total = reader.execute(f"SELECT count(), uniqExact(finding_id) FROM {p.database}.findings FINAL")[0]
        replicas = [
            dict((r[0], tuple(r[1:])) for r in replica_rows(cluster, i, p.database, FINDING.format(db=p.database)))
            for i in range(len(cluster.replicas))
        ]
        agree = replicas[0] == replicas[1]
        summary = (
            outcome.summary()
            + f"; {total[0]} rows for {total[1]} findings; replicas "
            + ("agree" if agree else f"differ ({len(replicas[0])} vs {len(replicas[1])})")
            + (f" ({unsettled})" if unsettled else "")
        )
        assert outcome.ok, outcome.report() + "\nfaults:\n" + "\n".join(log.lines)
        assert total == (len(expected), len(expected)), f"a finding twice: {total}"
        assert agree and replicas[0] == got, "the replicas hold different findings"
    finally:
        took = time.monotonic() - began
        print(f"\ncluster chaos: {summary} in {took:.0f} s; logs in {p.workdir}")
        if path := os.environ.get("ESUP_CHAOS_SUMMARY"):
            Path(path).write_text(f"{summary} ({took:.0f} s)\n")
            # pytest keeps only its last few tmp dirs: the logs of a repeated run go next to the summary.
            shutil.copytree(
                p.workdir, Path(path).parent / "cluster-logs" / p.tag, ignore=shutil.ignore_patterns("home")
            )
