"""The cluster profile for test_cluster.py: a pipeline whose workers run on hosts of their own, and fault helpers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from esup.stack import hosts
from esup.stack.cluster import Cluster
from tests.integration.pipeline import Pipeline, wait_until
from tests.support import admin_auth


class ClusterPipeline(Pipeline):
    """A Pipeline on the cluster: replicated topics, the cluster form of the migrations, failover to the second
    replica, and each worker (worker-N) started inside its host's namespace."""

    def __init__(self, cluster: Cluster, workdir: Path, *, partitions: int = 6) -> None:
        cs = cluster.settings
        super().__init__(cs.kafka_bootstrap, cs.clickhouse_url("default", role="admin"), workdir, partitions=partitions)
        self.cluster = cluster
        self.env.update(
            {
                "ESUP_CLICKHOUSE_ALT_HOSTS": cs.clickhouse_alt_hosts,
                "ESUP_CLICKHOUSE_CLUSTER": cs.clickhouse_cluster,
                "ESUP_TOPIC_REPLICATION_FACTOR": str(cs.topic_replication_factor),
            }
        )

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        host = next((h for h in self.cluster.worker_hosts() if h.name == name), None)
        if host is None:
            return super().start(name, *args, env=env)
        from tests.integration.pipeline import ESUP, ROOT

        log = (self.workdir / f"{name}.log").open("ab")
        # `ip netns exec` execs the command itself: the pid (and its process group) are the worker's.
        proc = subprocess.Popen(
            host.wrap([*ESUP, *args]),
            env={**self.env, **(env or {})},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = proc
        return proc


@contextlib.contextmanager
def running_cluster(base: Any, workers: int) -> Iterator[Cluster]:
    """The cluster on hosts of their own: reused when it already runs so, else started here and stopped after."""
    cluster = Cluster(base, netns=True, workers=workers)
    if Cluster.running(base).netns and all(s.state == "running" for s in cluster.status()):
        for h in cluster.worker_hosts():
            hosts.ensure(h)
        yield cluster
        return
    try:
        cluster.up()
        from esup.access import ops

        ops.bootstrap(cluster.settings, command="tests")
        yield cluster
    finally:
        cluster.down()


def group_members(bootstrap: str, group: str) -> int:
    """Members of a stable consumer group (0 while it rebalances)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **admin_auth())
    try:
        info = admin.describe_groups([group])[group]
        return len(info["members"]) if info["group_state"] == "Stable" else 0
    except Exception:
        return 0
    finally:
        admin.close()


def wait_for_group(bootstrap: str, group: str, members: int, hold_s: float = 6, timeout: float = 120) -> None:
    """Until the workers' group is stable with ``members`` members, and stays so for ``hold_s``."""
    since: list[float] = []

    def stable() -> bool:
        if group_members(bootstrap, group) != members:
            since.clear()
            return False
        since[:] = since or [time.monotonic()]
        return time.monotonic() - since[0] >= hold_s

    wait_until(stable, timeout=timeout, every=1, what=f"{members} workers in a stable group")


def leader_of(bootstrap: str, topic: str) -> int:
    """The node id that leads most of ``topic``'s partitions."""
    from collections import Counter

    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **admin_auth())
    try:
        (t,) = admin.describe_topics([topic])
        return Counter(p["leader_id"] for p in t["partitions"]).most_common(1)[0][0]
    finally:
        admin.close()


def kill9(pid: int | None) -> None:
    """kill -9 a server's whole process group (it was started in a session of its own)."""
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def replica_rows(cluster: Cluster, index: int, db: str, sql: str) -> list[Any]:
    """A query on one replica alone (no failover), after it has caught up with the replication log."""
    from sinks.clickhouse import connect

    r = cluster.replicas[index]
    s = cluster.settings.model_copy(
        update={"clickhouse_host": r.host.ip, "clickhouse_port": r.tcp, "clickhouse_alt_hosts": ""}
    )
    client = connect(s, db, role="admin")
    for table in ("findings_local", "case_snapshots_local"):
        client.execute(f"SYSTEM SYNC REPLICA {db}.{table}")  # until it has fetched everything in the shared log
    return list(client.execute(sql))
