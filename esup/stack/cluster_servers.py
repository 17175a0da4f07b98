"""The cluster profile's servers: a KRaft broker node, a ZooKeeper node and a ClickHouse replica, each on its Host."""

from __future__ import annotations

import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

from esup.settings import Settings
from esup.stack import process
from esup.stack.base import TEMPLATES, ServerProcess, State, Status, render
from esup.stack.clickhouse import ClickHouseLauncher
from esup.stack.errors import StackError
from esup.stack.hosts import Host
from esup.stack.kafka import KafkaLauncher

KAFKA_PORT, CONTROLLER_PORT = 19092, 19192  # + node index (0, 1, 2)
ZK_PORT, ZK_PEER_PORT, ZK_ELECTION_PORT = 12181, 12888, 13888  # + node index (0, 1, 2)
CH_TCP, CH_HTTP, CH_INTERSERVER = 19000, 18123, 19009  # + replica index (0, 1)
CLUSTER = "esup"


def kafka_port(i: int) -> int:
    """The client port of broker ``i`` (0-based)."""
    return KAFKA_PORT + i


class KafkaNode(KafkaLauncher):
    """Node ``index`` (0-based) of the three; the jars are the single-node stack's (one download)."""

    def __init__(self, cs: Settings, base: Settings, index: int, host: Host, voters: str) -> None:
        self.name = f"kafka-{index + 1}"
        super().__init__(cs)
        self.single = KafkaLauncher(base)
        self.libs = self.single.libs
        self.index, self.host, self.voters = index, host, voters
        self.port, self.controller_port = kafka_port(index), CONTROLLER_PORT + index

    def install(self) -> None:
        """Install the single-node stack's Kafka jars, which every node runs."""
        self.single.install()

    def _answers(self) -> bool:
        return process.port_answers(self.host.ip, self.port) and self._admin_answers()

    def _admin_answers(self) -> bool:
        saved = self.s
        # KafkaLauncher._answers asks 127.0.0.1:<kafka_port>; point it at this node.
        self.s = saved.model_copy(update={"kafka_port": self.port})
        try:
            if self.host.ip == "127.0.0.1":
                return super()._answers()
            from kafka.admin import KafkaAdminClient

            from esup import kafka_auth

            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=f"{self.host.ip}:{self.port}",
                    request_timeout_ms=5000,
                    bootstrap_timeout_ms=5000,
                    client_id="esup-stack",
                    **kafka_auth.kafka_python_auth(saved, kafka_auth.ADMIN),
                )
            except Exception:
                return False
            try:
                admin.list_topics()
                return True
            except Exception:
                return False
            finally:
                admin.close()
        finally:
            self.s = saved

    def spawn(self, cluster_id: str) -> None:
        """Render, format (same cluster id and SCRAM users on every node) and start, without waiting."""
        java = self.java()
        self.install()
        protocol, security = self._security()
        render(
            "kafka/cluster.properties",
            self.properties,
            {
                "node_id": self.index + 1,
                "voters": self.voters,
                "ip": self.host.ip,
                "port": self.port,
                "controller_port": self.controller_port,
                "data_dir": self.data,
                "protocol": protocol,
                "security": security,
                "controller_protocol": "SASL_PLAINTEXT" if self._scram() else "PLAINTEXT",
            },
            private=True,
        )
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.dir / "cluster.id").write_text(cluster_id + "\n")
        self._format(java)
        heap = self.s.kafka_heap
        cmd = [
            java,
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{TEMPLATES / 'kafka' / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.logs}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(self.properties),
        ]
        pid = process.spawn(self.host.wrap(cmd), self.logs / "stdout.log", cwd=self.dir)
        self.pidfile.write_text(f"{pid}\n")

    def wait(self) -> None:
        """Wait until the node answers an admin request on its address; StackError if it dies or times out."""
        pid = process.read_pid(self.pidfile) or 0
        process.wait_until(
            self.name,
            self._answers,
            self.s.start_timeout_s,
            lambda: process.alive(pid, str(self.marker)),
            [self.logs / "server.log", self.logs / "stdout.log"],
        )

    def pid(self) -> int | None:
        """The node's process id while it runs, else None."""
        return self._pid()

    def status(self, note: str = "") -> Status:
        """The node's state, client and controller addresses and server log; ``note`` says what was just done."""
        pid = self._pid()
        state: State = "running" if pid else ("stopped" if self.installed() else "not installed")
        where = (
            f"{self.s.kafka_security_protocol} {self.host.ip}:{self.port}",
            f"controller {self.host.ip}:{self.controller_port}",
        )
        return Status(self.name, state, pid, where, (self.logs / "server.log",), note)


def zk_ports(i: int) -> tuple[int, int, int]:
    """The client, quorum (follower to leader) and leader-election ports of ZooKeeper node ``i`` (0-based)."""
    return ZK_PORT + i, ZK_PEER_PORT + i, ZK_ELECTION_PORT + i


class ZooKeeper(ServerProcess):
    """Node ``index`` (0-based) of the ZooKeeper ensemble the ClickHouse replicas share, from Maven Central's jars.

    ``ensemble`` is every node's host, this one's included: with three, any two keep a quorum, so losing one
    stops nothing (the replicated tables stay writable)."""

    version = "3.9.5"

    def __init__(self, cs: Settings, base: Settings, index: int, host: Host, ensemble: list[Host]) -> None:
        self.name = f"zookeeper-{index + 1}"
        super().__init__(cs)
        self.index, self.host, self.ensemble = index, host, ensemble
        self.port, self.peer_port, self.election_port = zk_ports(index)
        # The jars are shared by the nodes and kept in the single-node home (one download).
        self.libs = base.home / "zookeeper" / "libs"
        self.cfg = self.dir / "zoo.cfg"
        self.marker = self.cfg

    def installed(self) -> bool:
        """Whether the jars of this ZooKeeper version are installed."""
        stamp = self.libs / ".installed"
        return stamp.is_file() and stamp.read_text().strip() == self.version

    def install(self) -> None:
        """Fetch ZooKeeper's runtime jars with Maven (once per version), swapping them in only when complete."""
        if self.installed():
            return
        mvn = process.require_binary(self.name, self.s.mvn, "Maven", "install it: `apt-get install maven`")
        build, staging = self.libs.parent / "build", self.libs.parent / "libs.partial"
        build.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copyfile(TEMPLATES / "zookeeper" / "pom.xml", build / "pom.xml")
        cmd = [
            mvn,
            "-B",
            "-q",
            f"-Dzookeeper.version={self.version}",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(cmd, cwd=build, capture_output=True, text=True)
        if result.returncode != 0 or not (staging / f"zookeeper-{self.version}.jar").is_file():
            raise StackError(
                self.name,
                f"Maven could not fetch ZooKeeper {self.version}:\n" + (result.stdout + result.stderr)[-1500:],
            )
        (staging / ".installed").write_text(self.version + "\n")
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)

    def mode(self) -> str:
        """What `srvr` says the node is (leader, follower), or "" while it does not serve (no quorum, down)."""
        try:
            with socket.create_connection((self.host.ip, self.port), timeout=2) as sock:
                # `srvr` gives the mode only once the node serves (`ruok` answers even without a quorum).
                sock.sendall(b"srvr")
                reply = sock.recv(4096).decode(errors="replace")
        except OSError:
            return ""
        return next((line.split(":", 1)[1].strip() for line in reply.splitlines() if line.startswith("Mode:")), "")

    def _answers(self) -> bool:
        return self.mode() in ("leader", "follower")

    def spawn(self) -> None:
        """Write the node's config and id and start it, without waiting (it serves once a quorum has formed)."""
        if self.host.netns is None:
            for port in (self.port, self.peer_port, self.election_port):
                process.require_port_free(self.name, self.host.ip, port, "(the cluster profile's ZooKeeper ports)")
        self.install()
        java = KafkaLauncher(self.s).java()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.write_config()
        cmd = [
            java,
            "-Xmx256m",
            f"-Dzookeeper.log.dir={self.logs}",
            "-cp",
            f"{self.libs}/*",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(self.cfg),
        ]
        pid = process.spawn(self.host.wrap(cmd), self.logs / "stdout.log", cwd=self.dir)
        self.pidfile.write_text(f"{pid}\n")

    def write_config(self) -> Path:
        """Write the node's number (data/myid) and zoo.cfg, which names every node of the ensemble."""
        self.data.mkdir(parents=True, exist_ok=True)
        (self.data / "myid").write_text(f"{self.index + 1}\n")
        servers = "\n".join(
            f"server.{i + 1}={h.ip}:{zk_ports(i)[1]}:{zk_ports(i)[2]}" for i, h in enumerate(self.ensemble)
        )
        values: dict[str, str | int | Path] = {
            "data_dir": self.data,
            "port": self.port,
            "ip": self.host.ip,
            "servers": servers,
        }
        return render("zookeeper/zoo.cfg", self.cfg, values)

    def wait(self) -> None:
        """Wait until the node serves (leader or follower); StackError if it dies or times out."""
        pid = process.read_pid(self.pidfile) or 0
        process.wait_until(
            self.name,
            self._answers,
            self.s.start_timeout_s,
            lambda: process.alive(pid, str(self.marker)),
            [self.logs / "stdout.log"],
        )

    def pid(self) -> int | None:
        """The node's process id while it runs, else None."""
        return self._pid()

    def stop(self) -> Status:
        """Stop the node; the status says whether it was running."""
        return self.status(note="stopped" if self._stop() else "was not running")

    def status(self, note: str = "") -> Status:
        """The node's state, mode, client and quorum addresses and log; ``note`` says what was just done."""
        pid = self._pid()
        state: State = "running" if pid else ("stopped" if self.installed() else "not installed")
        mode = self.mode() if pid else ""
        where = (
            f"client {self.host.ip}:{self.port}" + (f" ({mode})" if mode else " (not serving)" if pid else ""),
            f"quorum {self.host.ip}:{self.peer_port}, election {self.host.ip}:{self.election_port}",
        )
        return Status(self.name, state, pid, where, (self.logs / "stdout.log",), note)


class Replica(ClickHouseLauncher):
    """ClickHouse replica ``index`` of the shard; users, roles and passwords are the single node's."""

    def __init__(
        self, cs: Settings, index: int, host: Host, peers: list[tuple[Host, int]], zk: list[Host], subnet: str
    ) -> None:
        self.name = f"clickhouse-{index + 1}"
        super().__init__(cs)
        self.index, self.host, self.peers, self.zk, self.subnet = index, host, peers, zk, subnet
        self.tcp, self.http, self.interserver = CH_TCP + index, CH_HTTP + index, CH_INTERSERVER + index
        self.replica_xml = self.etc / "config.d" / "replica.xml"

    def networks(self) -> tuple[str, ...]:
        """Where the users may log in from: loopback and the cluster's subnet (the other replicas)."""
        return ("127.0.0.1", "::1", self.subnet)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host.ip}:{self.http}/ping", timeout=2) as r:
                return bool(r.status == 200 and r.read().strip() == b"Ok.")
        except OSError:
            return False

    def start(self) -> Status:
        """Unless it runs: write the replica's config, users and replication settings, start it and wait for it."""
        if self._pid() is not None:
            return self.status(note="already running")
        for port in (self.tcp, self.http, self.interserver) if self.host.netns is None else ():
            # (a namespace of its own is empty until this server starts in it)
            process.require_port_free(self.name, self.host.ip, port, "(the cluster profile's ports)")
        self.install()
        binary = self._binary()
        assert binary is not None
        for d in (self.data, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        render(
            "clickhouse/config.xml",
            self.config,
            {"tcp_port": self.tcp, "http_port": self.http, "data_dir": self.data, "log_dir": self.logs},
        )
        self.write_users()
        self.write_replica_xml()
        self._launch(
            self.host.wrap([binary, f"--config-file={self.config}"]),
            [self.logs / "server.err.log", self.logs / "stdout.log"],
        )
        return self.status(note="started")

    def write_replica_xml(self) -> Path:
        """Write config.d/replica.xml: this replica's address, the cluster's replicas, its macros and ZooKeeper."""
        from esup.clickhouse_auth import USERS, ensure_passwords

        password, user = ensure_passwords(self.s)["admin"], USERS["admin"]
        replicas = "\n".join(
            f"                <replica><host>{h.ip}</host><port>{port}</port><user>{user}</user>"
            f"<password>{_xml(password)}</password></replica>"
            for h, port in self.peers
        )
        zookeeper = "\n".join(
            f'        <node index="{i + 1}"><host>{h.ip}</host><port>{zk_ports(i)[0]}</port></node>'
            for i, h in enumerate(self.zk)
        )
        values: dict[str, str | int | Path] = {
            "ip": self.host.ip,
            "interserver_port": self.interserver,
            "replicas": replicas,
            "replica": self.name,
            "zookeeper": zookeeper,
        }
        return render("clickhouse/replica.xml", self.replica_xml, values, private=True)

    def status(self, note: str = "") -> Status:
        """The replica's state, native and HTTP addresses and server log; ``note`` says what was just done."""
        pid = self._pid()
        state: State = "running" if pid else ("stopped" if self.installed() else "not installed")
        return Status(
            self.name,
            state,
            pid,
            (f"native {self.host.ip}:{self.tcp}", f"http {self.host.ip}:{self.http}"),
            (self.logs / "server.log",),
            note,
        )

    def pid(self) -> int | None:
        """The replica's process id while it runs, else None."""
        return self._pid()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
