"""A whole pipeline for one test: its own topics, worker group, sink group and ClickHouse database.

Everything runs as a person runs it — `esup topics create`, `esup worker`, `esup sink`, `esup publish` —
in subprocesses, against the session's real Kafka and ClickHouse.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlparse

from tests.support import admin_auth

ROOT = Path(__file__).resolve().parents[2]
ESUP = [sys.executable, "-m", "esup.cli"]


class Pipeline:
    # The pipelines made since the current test began: when it fails, the tails of their processes' logs go into
    # its report (tests/conftest.py), so a failure seen only in CI can be read there.
    made: ClassVar[list[Pipeline]] = []

    def __init__(self, bootstrap: str, clickhouse_url: str, workdir: Path, *, partitions: int = 4) -> None:
        Pipeline.made.append(self)
        self.tag = uuid.uuid4().hex[:10]
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.partitions = partitions
        self.database = f"esup_p{self.tag}"
        self.topics = {
            "case_events": f"test.{self.tag}.events",
            "ticks": f"test.{self.tag}.ticks",
            "findings": f"test.{self.tag}.findings",
            "dead_letters": f"test.{self.tag}.dead",
            "case_snapshots": f"test.{self.tag}.snapshots",
            "catalog": f"test.{self.tag}.catalog",
            "config": f"test.{self.tag}.config",
            "chain_heads": f"test.{self.tag}.heads",
            "directory": f"test.{self.tag}.directory",
            "responses": f"test.{self.tag}.responses",
            "loop_ticks": f"test.{self.tag}.loopticks",
            "complaint_ticks": f"test.{self.tag}.complaintticks",
            "audit": f"test.{self.tag}.audit",
            "applicant_facts": f"test.{self.tag}.facts",
            "complaints": f"test.{self.tag}.complaints",
        }
        ch = urlparse(clickhouse_url)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ESUP_")}
        self.env.update(
            {
                "ESUP_ENVIRONMENT": "test",
                "ESUP_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "ESUP_CASE_EVENTS_PARTITIONS": str(partitions),
                "ESUP_WORKER_APP_ID": f"test-{self.tag}",
                "ESUP_SINK_GROUP": f"test-{self.tag}-sink",
                "ESUP_NOTIFIER_GROUP": f"test-{self.tag}-notifier",
                "ESUP_SWEEP_INTERVAL_S": "0.5",
                "ESUP_SINK_MAX_WAIT_S": "0.5",
                "ESUP_SINK_RETRY_MAX_S": "2",
                "ESUP_HOME": str(workdir / "home"),
                "ESUP_CLICKHOUSE_HOST": ch.hostname or "127.0.0.1",
                "ESUP_CLICKHOUSE_PORT": str(ch.port or 9000),
                "ESUP_CLICKHOUSE_USER": unquote(ch.username or "default"),
                "ESUP_CLICKHOUSE_PASSWORD": unquote(ch.password or ""),
                "ESUP_CLICKHOUSE_DATABASE": self.database,
                "PYTHONPATH": str(ROOT),
            }
        )
        self.env.update({f"ESUP_TOPIC_{k.upper()}": v for k, v in self.topics.items()})
        # Its own home, the session's Kafka logins: every process logs in as its own principal from the
        # session's credentials (SCRAM users are cluster-wide), after `access bootstrap` granted this
        # pipeline's topics and groups.
        from esup.settings import load_settings

        outer = load_settings()
        self.env.update(
            {
                "ESUP_KAFKA_SECURITY_PROTOCOL": outer.kafka_security_protocol,
                "ESUP_KAFKA_CREDENTIALS_PATH": str(outer.kafka_credentials_dir),
            }
        )
        if outer.kafka_ssl_cafile is not None:
            self.env["ESUP_KAFKA_SSL_CAFILE"] = str(outer.kafka_ssl_cafile)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # ---- commands -----------------------------------------------------------------------------------

    def esup(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([*ESUP, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"esup {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
        scram = self.env["ESUP_KAFKA_SECURITY_PROTOCOL"] != "PLAINTEXT"
        if args == ("topics", "create") and res.returncode == 0 and scram:
            self.esup("access", "bootstrap")  # as `esup stack up` does: this pipeline's users and ACLs
        return res

    def setup(self, catalog: Path = ROOT / "examples/catalog.yaml") -> Pipeline:
        self.esup("topics", "create")
        self.esup("db", "migrate")
        self.esup("catalog", "publish", str(catalog))
        return self

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [*ESUP, *args],
            env={**self.env, **(env or {})},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = proc
        return proc

    def worker(
        self, name: str = "worker", clock: str = "event", web_port: int | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        web = ["--web-port", str(web_port)] if web_port else []
        return self.start(
            name,
            "worker",
            "--clock",
            clock,
            "--loglevel",
            os.environ.get("ESUP_TEST_WORKER_LOGLEVEL", "warning"),
            *web,
            env=env,
        )

    def sink(self, name: str = "sink") -> subprocess.Popen[bytes]:
        return self.start(name, "sink")

    def stop(self, name: str, *, kill: bool = False, timeout: float = 30) -> None:
        proc = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tails(self, lines: int = 80) -> dict[str, str]:
        """The last ``lines`` lines of every process log of this pipeline (its own and its services'), by path."""
        return {
            str(path.relative_to(self.workdir)): "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            for path in sorted(self.workdir.rglob("*.log"))[:20]
        }

    def close(self, admin: Any = None, clickhouse: Any = None) -> None:
        for name in list(self.processes):
            self.stop(name, kill=True)
        if admin is not None:
            with contextlib.suppress(Exception):
                existing = set(admin.list_topics())
                admin.delete_topics([t for t in existing if self.tag in t])
        if clickhouse is not None:
            with contextlib.suppress(Exception):
                clickhouse.execute(f"DROP DATABASE IF EXISTS {self.database}")

    # ---- Kafka ----------------------------------------------------------------------------------------

    def produce(
        self, topic: str, messages: Iterable[tuple[bytes | None, bytes]], partition: int | None = None, **options: Any
    ) -> int:
        """Send (key, value) pairs to a topic (its short name or a full one); ``options`` tune the producer."""
        from kafka import KafkaProducer

        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", max_request_size=4_000_000, **{**admin_auth(), **options}
        )
        n = 0
        for key, value in messages:
            producer.send(self.topics.get(topic, topic), key=key, value=value, partition=partition)
            n += 1
        producer.flush()
        producer.close()
        return n

    def publish_events(self, lines: Iterable[bytes]) -> int:
        return self.produce("case_events", ((json.loads(line)["case_id"].encode(), line) for line in lines))

    def read(self, topic: str, *, idle_s: float = 3.0, committed: bool = True) -> list[Any]:
        """Every record of the topic: read at least to the end it has now (``committed``: the end of what
        committed transactions hold, as every reader of the platform sees it), then until nothing new arrives
        for ``idle_s``. A slow first connection (SCRAM on a busy machine) cannot make it return early."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            allow_auto_create_topics=False,
            isolation_level="read_committed" if committed else "read_uncommitted",
            **admin_auth(),
        )
        try:
            name = self.topics.get(topic, topic)
            tps = [TopicPartition(name, part) for part in sorted(consumer.partitions_for_topic(name))]
            if not tps:
                return []
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
            records: list[Any] = []
            started = last_new = time.monotonic()
            while True:
                batch = consumer.poll(timeout_ms=250)
                for part in batch.values():
                    records.extend(part)
                now = time.monotonic()
                if batch:
                    last_new = now
                # (a read_committed position may stop short of a trailing transaction marker: after 30 s
                # the idle rule alone decides, as it always did)
                reached = all(consumer.position(tp) >= ends[tp] for tp in tps) or now - started > 30
                if reached and now - last_new >= idle_s:
                    records.sort(key=lambda r: (r.partition, r.offset))
                    return records
        finally:
            consumer.close(autocommit=False)

    def audit_topics(self) -> dict[str, str]:
        """This pipeline's audit topics → their writers: each writer's own and the shared one."""
        from esup.audit_writers import audit_topics
        from esup.settings import load_settings

        return audit_topics(load_settings(topic_audit=self.topics["audit"]))

    def audit_topic(self, principal: str) -> str:
        """The audit topic of this pipeline that ``principal`` alone writes."""
        from esup.audit_writers import audit_topic
        from esup.settings import load_settings

        return audit_topic(load_settings(topic_audit=self.topics["audit"]), principal)

    def audit_records(self) -> list[tuple[str, dict[str, Any]]]:
        """(writer, record) of every record on every audit topic of this pipeline."""
        return [(w, json.loads(r.value)) for t, w in self.audit_topics().items() for r in self.read(t, idle_s=1.0)]

    def findings(self) -> dict[str, dict[str, Any]]:
        """The findings on Kafka, without their chain entries (where a worker put them, not what they say)."""
        return {f["finding_id"]: f for f in (_unchained(json.loads(r.value)) for r in self.read("findings"))}

    def advance(self, to: str) -> None:
        self.esup("clock", "advance", "--to", to)


def wait_until(check: Callable[[], Any], *, timeout: float, every: float = 1.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def settle(fetch: Callable[[], dict[str, Any]], expected: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Fetch until the ids equal the expected ids or time runs out; returns the last fetch either way."""
    deadline = time.monotonic() + timeout
    got = fetch()
    while set(got) != set(expected) and time.monotonic() < deadline:
        time.sleep(1.0)
        got = fetch()
    return got


def diff(got: dict[str, Any], expected: dict[str, Any]) -> str:
    """A readable summary of two finding sets (by id), for assertion messages."""
    from collections import Counter

    def rule(f: Any) -> str:
        return f["rule"] if isinstance(f, dict) else str(f[1])

    missing = Counter(rule(expected[k]) for k in set(expected) - set(got))
    extra = Counter(rule(got[k]) for k in set(got) - set(expected))
    changed = [k for k in set(got) & set(expected) if got[k] != expected[k]]
    return (
        f"{len(got)} got, {len(expected)} expected; missing {dict(missing)}; extra {dict(extra)}; {len(changed)} differ"
    )


def reference(lines: list[bytes], at: str, catalog: Path = ROOT / "examples/catalog.yaml") -> dict[str, dict[str, Any]]:
    """What `esup evaluate` prints for the same events and --at."""
    src = Path(os.environ.get("TMPDIR", "/tmp")) / f"ref-{uuid.uuid4().hex}.jsonl"
    src.write_bytes(b"".join(line.rstrip(b"\n") + b"\n" for line in lines))
    try:
        res = subprocess.run(
            [*ESUP, "evaluate", str(src), "--catalog", str(catalog), "--at", at],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        src.unlink()
    assert res.returncode == 0, res.stderr
    return {f["finding_id"]: f for f in (_unchained(json.loads(line)) for line in res.stdout.splitlines())}


def _unchained(finding: dict[str, Any]) -> dict[str, Any]:
    finding.pop("chain", None)
    return finding


def committed_lag(bootstrap: str, group: str, topic: str) -> int:
    """Messages of ``topic`` the consumer group has not committed yet."""
    from kafka.errors import KafkaError

    from esup.lag import group_lag

    try:
        return sum(r.lag for r in group_lag(bootstrap, {group: [topic]}, auth=admin_auth()) if r.topic == topic)
    except KafkaError:
        # A fresh broker may answer NotCoordinator while the group's coordinator loads: not caught up yet.
        return 1 << 30


def worker_status(port: int) -> Any:
    """A worker's status page (owned partitions, counters…); raises OSError while it does not answer."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/esup/status/", timeout=10) as resp:
        return json.loads(resp.read())


def wait_for_split(ports: list[int], *, timeout: float = 90, hold_s: float = 0) -> None:
    """Until every worker owns some partitions and none owns another's: the group has settled.

    Publishing while a group of workers is still forming can stall a stream after the rebalance
    (faust-streaming #629/#640), so tests that start several workers wait for this first. With ``hold_s``
    the same split must also hold that long: a group that has just formed often rebalances once more.
    """
    seen: dict[str, Any] = {"split": None, "since": 0.0}

    def split() -> bool:
        try:
            owned = [set(worker_status(port)["partitions"]) for port in ports]
        except OSError:
            return False
        if not (all(owned) and sum(len(o) for o in owned) == len(set().union(*owned))):
            return False
        if owned != seen["split"]:
            seen.update(split=owned, since=time.monotonic())
        return time.monotonic() - seen["since"] >= hold_s

    wait_until(
        split, timeout=timeout, every=0.5 if hold_s else 1.0, what="the group to give each worker its partitions"
    )
