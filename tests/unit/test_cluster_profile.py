"""The cluster profile's config files, rendered without starting anything: every replica names both replicas
and the three ZooKeeper nodes, every ZooKeeper node the whole ensemble; the files parse."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from esup.settings import Settings, load_settings
from esup.stack import hosts
from esup.stack.cluster import REPLICAS, ZOOKEEPERS, Cluster
from esup.stack.cluster_servers import zk_ports


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [k for k in os.environ if k.startswith("ESUP_")]:
        monkeypatch.delenv(name)  # whatever stack this shell points at is not under test
    return load_settings(_env_file=None, home=tmp_path / ".esup")


@pytest.mark.parametrize("netns", [False, True])
def test_every_replica_names_both_replicas_and_the_three_zookeeper_nodes(base: Settings, netns: bool) -> None:
    cluster = Cluster(base, netns)
    zk = {(z.host.ip, str(z.port)) for z in cluster.zookeepers}
    assert len(zk) == ZOOKEEPERS == 3  # no two nodes share an address
    replicas = {(r.host.ip, str(r.tcp)) for r in cluster.replicas}
    for r in cluster.replicas:
        path = r.write_replica_xml()
        assert path.stat().st_mode & 0o777 == 0o600  # it holds the admin's password
        root = ET.parse(path).getroot()  # noqa: S314 (a file this test just wrote)
        nodes = root.findall("zookeeper/node")
        assert {(n.findtext("host"), n.findtext("port")) for n in nodes} == zk
        assert sorted(n.get("index") for n in nodes) == ["1", "2", "3"]
        (shard,) = root.findall("remote_servers/esup/shard")
        named = {(x.findtext("host"), x.findtext("port")) for x in shard.findall("replica")}
        assert named == replicas and len(named) == REPLICAS
        assert root.findtext("macros/replica") == r.name


@pytest.mark.parametrize("netns", [False, True])
def test_every_zookeeper_node_lists_the_ensemble_with_ports_of_its_own(base: Settings, netns: bool) -> None:
    cluster = Cluster(base, netns)
    ports = [p for z in cluster.zookeepers for p in (z.port, z.peer_port, z.election_port)]
    if not netns:
        assert len(set(ports)) == len(ports)  # all on 127.0.0.1: the ports tell them apart
    expected = {
        f"server.{i + 1}={z.host.ip}:{zk_ports(i)[1]}:{zk_ports(i)[2]}" for i, z in enumerate(cluster.zookeepers)
    }
    for i, z in enumerate(cluster.zookeepers):
        lines = {ln for ln in z.write_config().read_text().splitlines() if ln and not ln.startswith("#")}
        assert {ln for ln in lines if ln.startswith("server.")} == expected
        assert f"clientPort={z.port}" in lines and f"clientPortAddress={z.host.ip}" in lines
        assert (z.data / "myid").read_text().strip() == str(i + 1)


def test_the_zookeeper_nodes_have_hosts_of_their_own() -> None:
    ips = {hosts.host(f"zookeeper-{i}", True).ip for i in (1, 2, 3)}
    others = {hosts.host(n, True).ip for n in ("kafka-1", "kafka-2", "kafka-3", "clickhouse-1", "clickhouse-2")}
    assert len(ips) == 3 and not ips & others
    assert {hosts.host(f"zookeeper-{i}", True).veth for i in (1, 2, 3)} == {"ve-zk-1", "ve-zk-2", "ve-zk-3"}
