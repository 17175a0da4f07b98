"""The cluster profile: three KRaft brokers, three ZooKeeper nodes and two ClickHouse replicas, optionally on hosts
of their own (no single point of failure: any one server of each kind may go).

State lives under <home>/cluster/ (ports of its own, so it runs beside the single-node stack); the Kafka
and ClickHouse logins are the single node's (same credential files). `--hosts` puts every server on its
own network namespace (esup/stack/hosts.py); the choice is remembered in <home>/cluster/profile.json so
`down` and `status` need no switch but --profile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from esup.settings import Settings
from esup.stack import hosts
from esup.stack.base import Status
from esup.stack.cluster_servers import (
    CH_HTTP,
    CH_TCP,
    CLUSTER,
    CONTROLLER_PORT,
    KafkaNode,
    Replica,
    ZooKeeper,
    kafka_port,
)
from esup.stack.errors import StackError
from esup.stack.kafka import new_cluster_id

BROKERS, ZOOKEEPERS, REPLICAS = 3, 3, 2


def state_dir(base: Settings) -> Path:
    """Where the cluster profile keeps its state: <home>/cluster/."""
    return base.home / "cluster"


def _profile_file(base: Settings) -> Path:
    return state_dir(base) / "profile.json"


def remembered(base: Settings) -> dict[str, int | bool]:
    """What `up` recorded in profile.json (netns: hosts of their own; workers: worker hosts); off and 0 if nothing."""
    path = _profile_file(base)
    return json.loads(path.read_text()) if path.is_file() else {"netns": False, "workers": 0}


def _pinned(base: Settings) -> Settings:
    """The base settings with credentials pinned to the single node's files (the cluster's home differs)."""
    return base.model_copy(
        update={
            "kafka_credentials_path": base.kafka_credentials_dir,
            "clickhouse_credentials_path": base.clickhouse_credentials_dir,
        }
    )


def profile_settings(base: Settings, netns: bool | None = None) -> Settings:
    """Settings that point every client at the cluster: three brokers, two replicas (failover), RF 3."""
    if netns is None:
        netns = bool(remembered(base)["netns"])
    brokers = [hosts.host(f"kafka-{i + 1}", netns) for i in range(BROKERS)]
    chs = [hosts.host(f"clickhouse-{i + 1}", netns) for i in range(REPLICAS)]
    return _pinned(base).model_copy(
        update={
            "home": state_dir(base),
            "kafka_bootstrap_servers": ",".join(f"{h.ip}:{kafka_port(i)}" for i, h in enumerate(brokers)),
            "kafka_port": kafka_port(0),
            "kafka_controller_port": CONTROLLER_PORT,
            "clickhouse_host": chs[0].ip,
            "clickhouse_port": CH_TCP,
            "clickhouse_http_port": CH_HTTP,
            "clickhouse_alt_hosts": ",".join(f"{h.ip}:{CH_TCP + i}" for i, h in enumerate(chs) if i),
            "clickhouse_cluster": CLUSTER,
            "topic_replication_factor": BROKERS,
        }
    )


def env_lines(base: Settings) -> list[str]:
    """The ESUP_* variables that point a process at the running cluster (`esup stack env --profile cluster`)."""
    s = profile_settings(base)
    return [
        f"ESUP_KAFKA_BOOTSTRAP_SERVERS={s.kafka_bootstrap_servers}",
        f"ESUP_KAFKA_CREDENTIALS_PATH={s.kafka_credentials_dir}",
        f"ESUP_CLICKHOUSE_HOST={s.clickhouse_host}",
        f"ESUP_CLICKHOUSE_PORT={s.clickhouse_port}",
        f"ESUP_CLICKHOUSE_ALT_HOSTS={s.clickhouse_alt_hosts}",
        f"ESUP_CLICKHOUSE_CLUSTER={s.clickhouse_cluster}",
        f"ESUP_CLICKHOUSE_CREDENTIALS_PATH={s.clickhouse_credentials_dir}",
        f"ESUP_TOPIC_REPLICATION_FACTOR={s.topic_replication_factor}",
    ]


@dataclass
class Cluster:
    """Every server of the profile, built from the base settings (nothing starts until up())."""

    base: Settings
    netns: bool
    workers: int = 0
    settings: Settings = field(init=False)
    brokers: list[KafkaNode] = field(init=False)
    zookeepers: list[ZooKeeper] = field(init=False)
    replicas: list[Replica] = field(init=False)

    def __post_init__(self) -> None:
        self.settings = profile_settings(self.base, self.netns)
        bhosts = [hosts.host(f"kafka-{i + 1}", self.netns) for i in range(BROKERS)]
        voters = ",".join(f"{i + 1}@{h.ip}:{CONTROLLER_PORT + i}" for i, h in enumerate(bhosts))
        pinned = _pinned(self.base)
        self.brokers = [KafkaNode(self.settings, pinned, i, h, voters) for i, h in enumerate(bhosts)]
        zhosts = [hosts.host(f"zookeeper-{i + 1}", self.netns) for i in range(ZOOKEEPERS)]
        self.zookeepers = [ZooKeeper(self.settings, pinned, i, h, zhosts) for i, h in enumerate(zhosts)]
        chs = [hosts.host(f"clickhouse-{i + 1}", self.netns) for i in range(REPLICAS)]
        peers = [(h, CH_TCP + i) for i, h in enumerate(chs)]
        subnet = f"{hosts.SUBNET}.0/24" if self.netns else "127.0.0.1"
        self.replicas = [Replica(self.settings, i, h, peers, zhosts, subnet) for i, h in enumerate(chs)]

    @classmethod
    def running(cls, base: Settings) -> Cluster:
        """The cluster as it was brought up (namespaces or not)."""
        r = remembered(base)
        return cls(base, bool(r["netns"]), int(r["workers"]))

    def worker_hosts(self) -> list[hosts.Host]:
        """The hosts of the cluster's workers, worker-1 to worker-<workers> (all 127.0.0.1 without namespaces)."""
        return [hosts.host(f"worker-{i + 1}", self.netns) for i in range(self.workers)]

    def up(self) -> list[Status]:
        """Make the hosts (with namespaces), record the profile, then start the brokers, ZooKeeper and the replicas."""
        if self.netns:
            hosts.ensure_bridge()
            servers = self.brokers + self.zookeepers + self.replicas
            for h in [x.host for x in servers] + self.worker_hosts():
                hosts.ensure(h)
        state_dir(self.base).mkdir(parents=True, exist_ok=True)
        _profile_file(self.base).write_text(json.dumps({"netns": self.netns, "workers": self.workers}) + "\n")
        out = [self.start_brokers()]
        out.append(self.start_zookeepers())
        out.append([r.start() for r in self.replicas])
        return [s for group in out for s in group]

    def start_brokers(self, only: list[int] | None = None) -> list[Status]:
        """Start the named brokers (all by default) together: a KRaft node answers once a quorum runs."""
        picked = [b for i, b in enumerate(self.brokers) if only is None or i in only]
        id_file = state_dir(self.base) / "kafka.cluster.id"
        if not id_file.is_file():
            id_file.write_text(new_cluster_id() + "\n")
        started = []
        for b in picked:
            if b.pid() is None:
                b.spawn(id_file.read_text().strip())
                started.append(b)
        try:
            for b in started:
                b.wait()
        except StackError:
            for b in started:
                b.stop()
            raise
        return [b.status(note="started" if b in started else "already running") for b in picked]

    def start_zookeepers(self, only: list[int] | None = None) -> list[Status]:
        """Start the named ZooKeeper nodes (all by default) together: a node serves once a quorum has formed."""
        picked = [z for i, z in enumerate(self.zookeepers) if only is None or i in only]
        started = [z for z in picked if z.pid() is None]
        for z in started:
            z.spawn()
        try:
            for z in started:
                z.wait()
        except StackError:
            for z in started:
                z.stop()
            raise
        return [z.status(note="started" if z in started else "already running") for z in picked]

    def down(self) -> list[Status]:
        """Stop the replicas, the ZooKeeper nodes, then the brokers; remove any esup namespaces and the bridge."""
        out = [r.stop() for r in reversed(self.replicas)]
        out += [z.stop() for z in reversed(self.zookeepers)]
        out += [b.stop() for b in reversed(self.brokers)]
        gone = hosts.remove_all() if self.netns or hosts.namespaces() else []
        if gone:
            out.append(Status("hosts", "stopped", None, tuple(gone), (), f"removed {len(gone)} namespaces"))
        return out

    def status(self) -> list[Status]:
        """The status of every broker, ZooKeeper node and replica."""
        return (
            [b.status() for b in self.brokers]
            + [z.status() for z in self.zookeepers]
            + [r.status() for r in self.replicas]
        )
