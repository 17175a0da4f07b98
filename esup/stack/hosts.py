"""Hosts of their own for the cluster profile: one network namespace per server or worker, joined by a bridge.

Each host is a namespace `esup-<name>` whose `eth0` (one end of a veth pair) has an address on a private
subnet; the other end sits on the bridge `esupbr0` in the root namespace, which holds the subnet's first
address. Nothing routes off the machine: the bridge has no uplink. Cutting a host off is its veth going
down (the process keeps running, its connections hang); restoring is the link coming up again.
Without namespaces (the default) every host is 127.0.0.1 and ports tell the servers apart.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from esup.stack.errors import StackError

SUBNET = "10.213.0"  # private, on this machine only
BRIDGE = "esupbr0"
PREFIX = "esup-"
# Last octet of each host's address; workers take 40, 41, …
OCTETS = {
    "kafka-1": 11,
    "kafka-2": 12,
    "kafka-3": 13,
    "clickhouse-1": 21,
    "clickhouse-2": 22,
    "zookeeper-1": 31,
    "zookeeper-2": 32,
    "zookeeper-3": 33,
}
WORKER_BASE = 40


@dataclass(frozen=True)
class Host:
    """A server's or worker's place on the network: name, address, and its namespace (None: the root one)."""

    name: str
    ip: str
    netns: str | None = None

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """The command line that runs argv on this host (inside its namespace, if it has one)."""
        return ["ip", "netns", "exec", self.netns, *argv] if self.netns else list(argv)

    @property
    def veth(self) -> str:
        """The root-namespace end of the host's veth pair, named after the host."""
        # Interface names are at most 15 characters.
        return (
            "ve-"
            + self.name.replace("clickhouse", "ch")
            .replace("worker", "w")
            .replace("kafka", "k")
            .replace("zookeeper", "zk")
        )[:15]


def octet(name: str) -> int:
    """The last octet of the host's address (workers: 40 + their number); ValueError if none is planned."""
    if name in OCTETS:
        return OCTETS[name]
    if name.startswith("worker-") and name[7:].isdigit():
        return WORKER_BASE + int(name[7:])
    raise ValueError(f"no address planned for host {name!r}")


def host(name: str, netns: bool) -> Host:
    """The host ``name``: with ``netns`` its own namespace and subnet address, else 127.0.0.1."""
    if not netns:
        return Host(name, "127.0.0.1")
    return Host(name, f"{SUBNET}.{octet(name)}", PREFIX + name)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise StackError(
            "hosts",
            f"ip {' '.join(args)}: {result.stderr.strip()}",
            "network namespaces need root (CAP_NET_ADMIN) and iproute2",
        )
    return result


def namespaces() -> list[str]:
    """The esup network namespaces that exist now."""
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX)]


def ensure_bridge() -> None:
    """Make the bridge, holding the subnet's first address, if it is missing, and bring it up."""
    if _ip("link", "show", BRIDGE, check=False).returncode != 0:
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")


def ensure(h: Host) -> Host:
    """Make the host's namespace, veth and address (idempotent)."""
    if h.netns is None:
        return h
    ensure_bridge()
    if h.netns not in namespaces():
        _ip("netns", "add", h.netns)
    if _ip("link", "show", h.veth, check=False).returncode != 0:
        _ip("link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.netns)
        _ip("link", "set", h.veth, "master", BRIDGE)
        _ip("-n", h.netns, "addr", "add", f"{h.ip}/24", "dev", "eth0")
    _ip("link", "set", h.veth, "up")
    _ip("-n", h.netns, "link", "set", "lo", "up")
    _ip("-n", h.netns, "link", "set", "eth0", "up")
    return h


def cut(h: Host) -> None:
    """Take the host off the network (its processes keep running)."""
    if h.netns is None:
        raise StackError("hosts", f"{h.name} has no namespace of its own", "start the cluster with --hosts")
    _ip("link", "set", h.veth, "down")


def restore(h: Host) -> None:
    """Put the host back on the network (nothing to do for a host without a namespace)."""
    if h.netns is not None:
        _ip("link", "set", h.veth, "up")


def remove_all() -> list[str]:
    """Delete every esup namespace (their veths go with them) and the bridge; the names removed."""
    gone = namespaces()
    for ns in gone:
        _ip("netns", "del", ns, check=False)
    if _ip("link", "show", BRIDGE, check=False).returncode == 0:
        _ip("link", "del", BRIDGE, check=False)
    return gone
