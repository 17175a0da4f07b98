"""The cluster profile for test_cluster.py: a pipeline whose workers run on hosts of their own, and fault helpers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esup.stack import hosts
from esup.stack.cluster import Cluster
from tests.integration.chaos import Outcome, compare
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


def member_hosts(bootstrap: str, group: str) -> set[str]:
    """The addresses the group's members connect from (empty when it cannot be read)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **admin_auth())
    try:
        return {str(m["client_host"]).lstrip("/") for m in admin.describe_groups([group])[group]["members"]}
    except Exception:
        return set()
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


def unsharded(client: Any, db: str) -> list[str]:
    """The Distributed tables of ``db`` whose sharding key is not the hash of their local table's sorting key
    (sinks/cluster_ddl.py), with what they have; and the count of those checked, so none is not a pass."""
    from sinks.cluster_ddl import sharding_key

    rows = client.execute(
        "SELECT name, engine, engine_full, sorting_key FROM system.tables WHERE database = %(db)s", {"db": db}
    )
    keys = {name: key for name, engine, _, key in rows if engine.startswith("Replicated")}
    out, checked = [], 0
    for name, engine, full, _ in rows:
        if engine == "Distributed":
            checked += 1
            want = sharding_key(keys.get(f"{name}_local", ""))
            if not full.replace(" ", "").endswith(f"{name}_local,{want})".replace(" ", "")):
                out.append(f"{name}: {full} (want {want})")
    return out if checked else ["no Distributed table"]


FINDING_COLUMNS = "finding_id, rule, severity, staff_id, toString(deadline), case_id"
Row = tuple[Any, ...]


@dataclass
class Held:
    """What ClickHouse holds after a run: every row read through the Distributed tables (FINAL, not collapsed by
    id here), each case's latest snapshot version, and the same read on each replica alone."""

    findings: list[Row]
    versions: dict[str, int]
    replicas: dict[str, tuple[list[Row], dict[str, int]]] = field(default_factory=dict)
    lagging: list[str] = field(default_factory=list)  # replicas still behind the replication log


def replica_client(cluster: Cluster, index: int, db: str) -> Any:
    """A client of replica ``index`` alone (no failover to the other)."""
    from sinks.clickhouse import connect

    r = cluster.replicas[index]
    s = cluster.settings.model_copy(
        update={"clickhouse_host": r.host.ip, "clickhouse_port": r.tcp, "clickhouse_alt_hosts": ""}
    )
    return connect(s, db, role="admin")


def _behind(client: Any, db: str, tables: tuple[str, ...], sync_s: float) -> bool:
    """Wait (``sync_s`` at most) until the replica has copied the whole shared log of ``tables`` (each written
    at least once) and done every task it queued from it; whether it is still behind."""
    # Not SYSTEM SYNC REPLICA: on 18.16 it waits for as long as the queue is stuck, past receive_timeout.
    # log_pointer is the next log entry to copy; a table never written has both at 0, hence "written once".
    sql = (
        "SELECT count() FROM system.replicas WHERE database = %(db)s AND table IN %(tables)s "
        "AND (queue_size > 0 OR log_pointer <= log_max_index)"
    )
    deadline = time.monotonic() + sync_s
    while (behind := client.execute(sql, {"db": db, "tables": tables})[0][0] > 0) and time.monotonic() < deadline:
        time.sleep(0.5)
    return bool(behind)


def held(cluster: Cluster, reader: Any, db: str, sync_s: float = 120) -> Held:
    """Read the findings and snapshot versions through the Distributed tables, then on every replica alone."""
    versions = f"SELECT case_id, max(version) FROM {db}.{{t}} GROUP BY case_id"
    out = Held(
        list(reader.execute(f"SELECT {FINDING_COLUMNS} FROM {db}.findings FINAL")),
        {c: int(v) for c, v in reader.execute(versions.format(t="case_snapshots"))},
    )
    for i, r in enumerate(cluster.replicas):
        client = replica_client(cluster, i, db)
        try:
            if _behind(client, db, ("findings_local", "case_snapshots_local"), sync_s):
                out.lagging.append(r.name)
            rows = list(client.execute(f"SELECT {FINDING_COLUMNS} FROM {db}.findings_local FINAL"))
            snaps = client.execute(versions.format(t="case_snapshots_local"))
            out.replicas[r.name] = (rows, {c: int(v) for c, v in snaps})
        finally:
            client.disconnect()
    return out


def _differ(name: str, what: str, got: Counter[Any], want: Counter[Any]) -> list[str]:
    missing, extra = want - got, got - want
    if not (missing or extra):
        return []
    return [
        f"{name}: {what} differ from the Distributed read: {sum(missing.values())} missing "
        f"(e.g. {sorted(missing)[:2]}), {sum(extra.values())} extra (e.g. {sorted(extra)[:2]})"
    ]


def verdict(
    h: Held, expected: dict[str, Row], expected_versions: dict[str, int], replicas: int
) -> tuple[Outcome, list[str]]:
    """The run against the reference, and every way it falls short: a finding missing, extra or different, a
    finding on more than one row, a snapshot version wrong, a replica not read, behind, or holding other rows."""
    got = {r[0]: tuple(r[1:]) for r in h.findings}
    outcome = compare(got, expected, h.versions, expected_versions)
    problems = [outcome.report()] if not outcome.ok else []
    twice = {k: n for k, n in Counter(r[0] for r in h.findings).items() if n > 1}
    if twice:
        problems.append(f"{len(twice)} findings on more than one row, e.g. {sorted(twice.items())[:3]}")
    if len(h.replicas) != replicas:
        problems.append(f"{len(h.replicas)} replicas read of {replicas}")
    problems += [f"{name}: still behind the replication log" for name in h.lagging]
    for name, (rows, versions) in sorted(h.replicas.items()):
        problems += _differ(name, "findings", Counter(rows), Counter(h.findings))
        problems += _differ(name, "snapshot versions", Counter(versions.items()), Counter(h.versions.items()))
    return outcome, problems
