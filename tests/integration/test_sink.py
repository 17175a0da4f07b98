"""The ClickHouse sink on real servers: exact rows after a run, replays without duplicates, a ClickHouse outage."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner

from esup.lag import group_lag
from esup.settings import Settings, load_settings
from schemas.catalog import load_catalog
from schemas.config import RuleConfig
from schemas.control import DeadLetter
from schemas.events import occurred_sort_key, parse_event
from schemas.findings import Finding
from schemas.snapshots import CaseSnapshot
from sinks.clickhouse import connect_url, with_database
from sinks.runner import Backoff, SinkRunner, create_consumer, sink_topics, sink_writers
from sinks.writer import ClickHouseSink
from streams.batch import Message as ProcMessage
from streams.processor import CaseProcessor
from streams.rules import Context, WorkCalendar
from tests.ports import free_port
from tests.support import admin_auth, grant_platform

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BAD_EVENTS = [b"{not json", b'{"kind": "apply", "case_id": "C-bad"}', b"\xff\xfe"]

Message = tuple[str, bytes, bytes]  # (kind, key, value)


@dataclass
class Pipeline:
    """What the workers would publish for examples/events.jsonl, and what the tables must hold after it."""

    events: list[tuple[bytes, bytes]] = field(default_factory=list)
    findings: list[tuple[bytes, bytes]] = field(default_factory=list)
    snapshots: list[tuple[bytes, bytes]] = field(default_factory=list)
    dead_letters: list[tuple[bytes, bytes]] = field(default_factory=list)

    def messages(self) -> list[Message]:
        return (
            [("events", k, v) for k, v in self.events]
            + [("findings", k, v) for k, v in self.findings]
            + [("snapshots", k, v) for k, v in self.snapshots]
            + [("dead_letters", k, v) for k, v in self.dead_letters]
        )


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    """Run the real case processor (the workers' glue, without Faust) over the sample events and bad input."""
    ctx = Context.build(WorkCalendar(), load_catalog(EXAMPLES / "catalog.yaml"), RuleConfig())
    proc = CaseProcessor(
        ctx=ctx, clock="event", ticks_topic="ticks", wall_clock=lambda: datetime(2026, 11, 27, 12, tzinfo=UTC)
    )
    lines = [line for line in (EXAMPLES / "events.jsonl").read_bytes().splitlines() if line.strip()]
    events = sorted((parse_event(line) for line in lines), key=occurred_sort_key)
    p = Pipeline()
    inputs = [(e.case_id.encode(), e.model_dump_json().encode()) for e in events]
    inputs += [(f"bad-{i}".encode(), raw) for i, raw in enumerate(BAD_EVENTS)]
    for offset, (key, value) in enumerate(inputs):
        p.events.append((key, value))
        for kind, out_key, out_value in proc.handle([ProcMessage("events", 0, offset, key, value)]).outputs:
            getattr(p, kind).append((out_key, out_value))
    assert len(p.dead_letters) == len(BAD_EVENTS) and p.findings and p.snapshots
    return p


def produce(bootstrap: str, topics: dict[str, str], messages: list[Message]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=10, **admin_auth())
    try:
        futures = [producer.send(topics[kind], key=key, value=value) for kind, key, value in messages]
        producer.flush(timeout=30)
        for f in futures:
            f.get(timeout=30)
    finally:
        producer.close(timeout=10)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def total_lag(settings: Settings) -> int:
    return sum(
        r.lag
        for r in group_lag(
            settings.kafka_bootstrap, {settings.sink_group: list(sink_topics(settings))}, auth=admin_auth()
        )
    )


@pytest.fixture
def sink_settings(
    kafka_bootstrap: str, kafka_admin: Any, new_topic: Callable[..., str], new_audit_topic: Callable[..., str]
) -> Settings:
    """Settings naming topics and a consumer group of this test's own."""
    s = load_settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_case_events=new_topic(partitions=6, prefix="case-events"),
        topic_findings=new_topic(partitions=6, prefix="findings"),
        topic_case_snapshots=new_topic(partitions=6, prefix="snapshots", cleanup_policy="compact"),
        topic_dead_letters=new_topic(partitions=1, prefix="dead-letters"),
        sink_group=f"test-sink-{uuid.uuid4().hex[:10]}",
        sink_max_wait_s=0.3,
    )
    # The sink reads these as esup-sink, with the ACLs `esup access bootstrap` gives it. Bootstrap audits
    # itself on the admin's audit topic: it gets audit topics of its own, so the sink's start empty (their
    # grants below: the shared one and every writer's).
    grant_platform(s.model_copy(update={"topic_audit": new_audit_topic("bootstrap-audit")}))
    s = s.model_copy(update={"topic_audit": new_audit_topic("audit")})
    from esup.audit_writers import audit_topics

    if s.kafka_security_protocol != "PLAINTEXT":
        from esup.access.kafka_admin import create_acls
        from esup.access.table import Grant
        from esup.kafka_auth import SINK

        create_acls(kafka_admin, [Grant(SINK, "topic", t, "READ") for t in audit_topics(s)])
    return s


def topic_names(s: Settings) -> dict[str, str]:
    """Each topic the sink reads by its kind; an audit topic by `audit:<writer>` (the shared one `audit`)."""
    from esup.audit_writers import LEGACY, audit_topics

    writers = audit_topics(s)
    label = {t: "audit" if w == LEGACY else f"audit:{w}" for t, w in writers.items()}
    return {label.get(topic, kind): topic for topic, kind in sink_topics(s).items()}


class RunningSink:
    """A SinkRunner on its own thread, stopped (flush, commit) on exit."""

    def __init__(self, settings: Settings, clickhouse_url: str, backoff: Backoff | None = None) -> None:
        self.topics = sink_topics(settings)
        self.consumer = create_consumer(settings, self.topics)
        self.client = connect_url(clickhouse_url)
        self.runner = SinkRunner(
            self.consumer,
            ClickHouseSink(self.client),
            self.topics,
            writers=sink_writers(settings),
            max_rows=5000,
            max_wait_s=settings.sink_max_wait_s,
            backoff=backoff or Backoff(0.5, 10.0),
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.runner.run, args=(self.stop,), name="sink", daemon=True)

    def __enter__(self) -> SinkRunner:
        self.thread.start()
        return self.runner

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        self.consumer.close(autocommit=False)
        self.client.disconnect()
        assert not self.thread.is_alive(), "the sink did not stop"


def expected_snapshots(p: Pipeline) -> list[tuple[str, int, str]]:
    best: dict[str, CaseSnapshot] = {}
    for _, value in p.snapshots:
        s = CaseSnapshot.model_validate_json(value)
        if s.case_id not in best or s.version > best[s.case_id].version:
            best[s.case_id] = s
    return sorted((s.case_id, s.version, s.stage) for s in best.values())


def table_state(client: Any) -> dict[str, Any]:
    one = lambda sql: client.execute(sql)[0][0]  # noqa: E731
    return {
        "findings": one("SELECT count() FROM findings FINAL"),
        "finding_ids": one("SELECT uniqExact(finding_id) FROM findings"),
        "events": one("SELECT count() FROM case_events FINAL"),
        "dead_letters": one("SELECT count() FROM dead_letters FINAL"),
        # distinct: a replay's copies are other records (new offsets), each rejected once in its own row
        "rejects": sorted(
            {
                (kind, base64.b64decode(value))
                for kind, value in client.execute("SELECT kind, value_b64 FROM sink_rejects FINAL")
            }
        ),
        "snapshots": client.execute("SELECT case_id, version, stage FROM case_snapshots FINAL ORDER BY case_id"),
    }


def test_sink_writes_exact_rows_and_a_replay_adds_no_duplicates(
    sink_settings: Settings, clickhouse_url: str, clean_tables: Any, pipeline: Pipeline
) -> None:
    topics = topic_names(sink_settings)
    finding_ids = {Finding.model_validate_json(v).finding_id for _, v in pipeline.findings}
    valid_events = len(pipeline.events) - len(BAD_EVENTS)
    # The bad events: refused by the workers (dead letters) and by the sink (sink_rejects), never skipped.
    expected = {
        "findings": len(finding_ids),
        "finding_ids": len(finding_ids),
        "events": valid_events,
        "dead_letters": len(BAD_EVENTS),
        "snapshots": expected_snapshots(pipeline),
        "rejects": sorted(("events", raw) for raw in BAD_EVENTS),
    }

    with RunningSink(sink_settings, clickhouse_url) as runner:
        produce(sink_settings.kafka_bootstrap, topics, pipeline.messages())
        wait_for("the sink to catch up", lambda: total_lag(sink_settings) == 0)
        assert table_state(clean_tables) == expected
        first_rows = dict(runner.stats.rows)

        # A replay: every message again (as after a worker rebuilt its state, or a topic re-published).
        produce(sink_settings.kafka_bootstrap, topics, pipeline.messages())
        wait_for("the sink to catch up with the replay", lambda: total_lag(sink_settings) == 0)
        assert table_state(clean_tables) == expected

    assert runner.stats.rows == {t: 2 * n for t, n in first_rows.items()}  # the replay was written, and collapsed
    assert clean_tables.execute("SELECT count() FROM sink_rejects FINAL")[0][0] == 2 * len(BAD_EVENTS)
    assert first_rows == {
        "findings": len(pipeline.findings),
        "case_snapshots": len(pipeline.snapshots),
        "finding_chain": len(pipeline.findings),
        "case_events": valid_events,
        "dead_letters": len(BAD_EVENTS),
        "sink_rejects": len(BAD_EVENTS),
    }
    assert runner.stats.invalid == {topics["events"]: 2 * len(BAD_EVENTS)}
    assert runner.stats.unwritten == 0

    # The columns carry the messages faithfully.
    some = Finding.model_validate_json(pipeline.findings[0][1])
    row = clean_tables.execute(
        "SELECT rule, case_id, evidence_event_ids, details, detected_at FROM findings FINAL WHERE finding_id = %(id)s",
        {"id": some.finding_id},
    )
    assert row == [
        (
            some.rule,
            some.case_id,
            some.evidence_event_ids,
            json.dumps(some.details, ensure_ascii=False, sort_keys=True),
            some.detected_at.replace(microsecond=0),
        )
    ]
    letters = clean_tables.execute(
        "SELECT source_offset, reason, value_b64 FROM dead_letters FINAL ORDER BY source_offset"
    )
    sent = [DeadLetter.model_validate_json(v) for _, v in pipeline.dead_letters]
    assert letters == [(d.source_offset, d.reason, d.value_b64) for d in sent]
    assert [base64.b64decode(v) for _, _, v in letters] == BAD_EVENTS


def test_hostile_records_on_every_topic_land_in_sink_rejects_and_are_committed(
    sink_settings: Settings, clickhouse_url: str, clean_tables: Any, pipeline: Pipeline
) -> None:
    from tests.hostile import corpus

    topics = topic_names(sink_settings)
    hostile = corpus()
    newer = json.loads(pipeline.findings[0][1]) | {"added_by_a_newer_worker": {"x": 1}}  # a rolling upgrade
    # every audit topic too: the shared one and each writer's (audit:<writer>)
    assert {"audit", "audit:esup-api", "audit:esup-clock", "audit:admin"} <= set(topics)
    messages: list[Message] = [(label, h.key, h.raw) for label in topics for h in hostile]
    messages.append(("findings", pipeline.findings[0][0], json.dumps(newer).encode()))

    with RunningSink(sink_settings, clickhouse_url) as runner:
        produce(sink_settings.kafka_bootstrap, topics, messages)
        wait_for("the sink to commit every record", lambda: total_lag(sink_settings) == 0)
        assert runner.stats.unwritten == 0 and sum(runner.stats.invalid.values()) == len(topics) * len(hostile)

    rows = clean_tables.execute(
        "SELECT source_topic, kind, reason, value_length, value_sha256, value_b64 FROM sink_rejects FINAL"
    )
    assert sorted(r[1] for r in rows) == sorted(label.split(":")[0] for label in topics for _ in hostile)
    assert {r[0] for r in rows} == set(topics.values()) and all(r[2] for r in rows)
    big = max(hostile, key=lambda h: len(h.raw))
    kept = [r for r in rows if r[3] == len(big.raw)]
    assert len(kept) == len(topics) and all(len(base64.b64decode(r[5])) == 64 * 1024 for r in kept)
    assert {r[4] for r in kept} == {hashlib.sha256(big.raw).hexdigest()}
    events = {base64.b64decode(r[5]): r[2] for r in rows if r[1] == "events"}
    for h in hostile:  # the sink's reason names the field, as the workers' would
        assert f"{h.field}: " in events[h.raw[: 64 * 1024]], h.name
    assert clean_tables.execute("SELECT finding_id FROM findings FINAL") == [(newer["finding_id"],)]


def test_every_writers_audit_records_reach_audit_log_once(
    sink_settings: Settings, clickhouse_url: str, clean_tables: Any
) -> None:
    """`esup access`'s and the gateway's records (Kafka only) land in audit_log, each with its writer, the
    principal whose topic it came from; a redelivery stays one row per audit_id and writer. A record the clock
    writes claiming a supervisor's decision, or copying the gateway's audit id, is stored as the clock's: it
    replaces nothing and passes for no one else's."""
    from esup.access.audit import AccessAudit
    from esup.audit_writers import audit_topic
    from esup.kafka_auth import ADMIN, CLOCK, GATEWAY
    from gateway.audit import GatewayAuditor

    class Capture:  # the auditors' producer: keeps what they would send; the test produces it for real
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        def send(self, topic: str, key: bytes, value: bytes) -> Any:
            self.sent.append(value)
            return self

        def get(self, timeout: float) -> None:
            return None

    s = sink_settings
    cap = Capture()
    access = AccessAudit(cap, audit_topic(s, ADMIN), "admin", "esup access rotate esup-sink")
    first = access.record("access.rotate", {"principal": "esup-sink"})
    access.record("access.list", {})
    GatewayAuditor(cap, audit_topic(s, GATEWAY)).record(
        at=datetime.now(UTC), department_id="D1", token_id="t1", status=202, detail={"accepted": 3}
    )
    admin, gateway = [json.loads(v) for v in cap.sent[:2]], json.loads(cap.sent[2])
    forged = {**gateway, "audit_id": "forged-1", "actor_id": "jc-5117", "role": "supervisor", "action": "decide"}
    forged["writer"] = "esup-api"  # a claim the sink does not take
    topics = topic_names(s)
    messages: list[Message] = [(f"audit:{ADMIN}", b"k", v) for v in cap.sent[:2]]
    messages += [(f"audit:{GATEWAY}", b"k", cap.sent[2]), (f"audit:{ADMIN}", b"k", cap.sent[0])]  # again
    messages.append((f"audit:{ADMIN}", b"k", json.dumps({**first, "status": "202"}).encode()))  # a wrong type
    messages.append((f"audit:{CLOCK}", b"k", json.dumps(forged).encode()))
    messages.append((f"audit:{CLOCK}", b"k", json.dumps({**gateway, "actor_id": "someone"}).encode()))  # its id
    messages.append(("audit", b"k", json.dumps({**admin[0], "audit_id": "old-1"}).encode()))  # an earlier version's
    with RunningSink(s, clickhouse_url) as runner:
        produce(s.kafka_bootstrap, topics, messages)
        wait_for("the sink to commit every record", lambda: total_lag(s) == 0)
        assert runner.stats.invalid == {audit_topic(s, ADMIN): 1}
    rows = clean_tables.execute("SELECT action, actor_id, prev_hash, hash, writer FROM audit_log FINAL ORDER BY at")
    assert sorted((r[0], r[4]) for r in rows) == [
        ("access.list", ADMIN),
        ("access.rotate", ADMIN),
        ("access.rotate", "legacy"),
        ("decide", CLOCK),
        ("gateway.ingest", CLOCK),
        ("gateway.ingest", GATEWAY),
    ]
    by = {(r[0], r[4]): r for r in rows}
    assert by[("access.list", ADMIN)][2] == by[("access.rotate", ADMIN)][3]  # the chain as written
    assert by[("gateway.ingest", GATEWAY)][1] == "gateway-token:t1"  # the clock's copy replaced nothing
    assert by[("gateway.ingest", CLOCK)][1] == "someone"
    reason = clean_tables.execute("SELECT reason FROM sink_rejects FINAL WHERE kind = 'audit'")
    assert [r[0][:7] for r in reason] == ["status:"]


def test_sink_survives_a_clickhouse_outage_without_losing_or_committing_rows(
    sink_settings: Settings, pipeline: Pipeline, private_clickhouse: tuple[Any, str]
) -> None:
    launcher, url = private_clickhouse
    topics = topic_names(sink_settings)
    half = len(pipeline.findings) // 2
    first = [("findings", k, v) for k, v in pipeline.findings[:half]]
    second = [("findings", k, v) for k, v in pipeline.findings[half:]] + [
        ("snapshots", k, v) for k, v in pipeline.snapshots
    ]
    ids = lambda msgs: {Finding.model_validate_json(v).finding_id for kind, _, v in msgs if kind == "findings"}  # noqa: E731
    client = connect_url(url)

    with RunningSink(sink_settings, url, backoff=Backoff(0.2, 1.0)) as runner:
        produce(sink_settings.kafka_bootstrap, topics, first)
        wait_for("the first half", lambda: total_lag(sink_settings) == 0)
        assert client.execute("SELECT count() FROM findings FINAL")[0][0] == len(ids(first))

        launcher.stop()
        produce(sink_settings.kafka_bootstrap, topics, second)
        wait_for(
            "the sink to read the second half and fail to insert it",
            lambda: runner.stats.retries >= 3 and sum(runner.stats.records.values()) == len(first) + len(second),
        )
        # Read but not written: nothing of it is committed.
        assert total_lag(sink_settings) == len(second)
        assert runner.stats.commits > 0
        assert runner.stats.rows == {"findings": len(first), "finding_chain": len(first)}

        assert launcher.start().state == "running"
        wait_for("the sink to catch up after ClickHouse came back", lambda: total_lag(sink_settings) == 0)

    client = connect_url(url)
    assert client.execute("SELECT count() FROM findings FINAL")[0][0] == len(ids(first) | ids(second))
    assert client.execute(
        "SELECT case_id, version, stage FROM case_snapshots FINAL ORDER BY case_id"
    ) == expected_snapshots(pipeline)
    assert runner.stats.rows == {
        "findings": len(pipeline.findings),
        "case_snapshots": len(pipeline.snapshots),
        "finding_chain": len(pipeline.findings),
    }
    assert runner.stats.unwritten == 0
    client.disconnect()


@pytest.fixture
def private_clickhouse(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """A ClickHouse server of this test's own (the local launcher, state under tmp_path, free ports).

    The outage test stops and restarts it; the session's shared server, which other tests and other
    people's runs use at the same time, is never touched. Always stopped at the end.
    """
    from esup.stack.clickhouse import ClickHouseLauncher
    from esup.stack.errors import StackError
    from sinks.migrate import migrate
    from tests.conftest import unavailable

    settings = load_settings(
        home=tmp_path / "stack",
        clickhouse_port=free_port(),
        clickhouse_http_port=free_port(),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
    )
    launcher = ClickHouseLauncher(settings)
    if not launcher.installed():
        unavailable("a ClickHouse server to stop and start", "clickhouse-server is not installed on this machine")
    try:
        launcher.start()
    except StackError as exc:
        unavailable("a ClickHouse server to stop and start", exc)
    try:
        base = settings.clickhouse_url("default", role="admin")
        migrate(lambda db: connect_url(base, db), "esup")
        yield launcher, with_database(base, "esup")
    finally:
        launcher.stop()


def _cli_env(s: Settings, clickhouse_url: str) -> dict[str, str]:
    parts = urlsplit(clickhouse_url)
    return {
        "ESUP_KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap,
        "ESUP_SINK_GROUP": s.sink_group,
        "ESUP_SINK_MAX_WAIT_S": "0.3",
        "ESUP_TOPIC_CASE_EVENTS": s.topic_case_events,
        "ESUP_TOPIC_FINDINGS": s.topic_findings,
        "ESUP_TOPIC_CASE_SNAPSHOTS": s.topic_case_snapshots,
        "ESUP_TOPIC_DEAD_LETTERS": s.topic_dead_letters,
        "ESUP_TOPIC_AUDIT": s.topic_audit,
        "ESUP_CLICKHOUSE_HOST": parts.hostname or "127.0.0.1",
        "ESUP_CLICKHOUSE_PORT": str(parts.port or 9000),
        "ESUP_CLICKHOUSE_USER": unquote(parts.username or "default"),
        "ESUP_CLICKHOUSE_PASSWORD": unquote(parts.password or ""),
        "ESUP_CLICKHOUSE_DATABASE": parts.path.lstrip("/"),
    }


def test_esup_sink_runs_until_sigterm_and_esup_status_shows_the_lag(
    sink_settings: Settings,
    clickhouse_url: str,
    clean_tables: Any,
    pipeline: Pipeline,
    new_topic: Callable[..., str],
) -> None:
    from esup.cli import main

    env = _cli_env(sink_settings, clickhouse_url)
    env["ESUP_TOPIC_TICKS"] = new_topic(partitions=6, prefix="ticks")
    env["ESUP_WORKER_APP_ID"] = f"test-worker-{uuid.uuid4().hex[:8]}"  # a group that has committed nothing
    produce(sink_settings.kafka_bootstrap, topic_names(sink_settings), pipeline.messages())
    esup = Path(sys.executable).with_name("esup")
    proc = subprocess.Popen(
        [str(esup), "sink"], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for("`esup sink` to catch up", lambda: proc.poll() is None and total_lag(sink_settings) == 0)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "SIGTERM: flushing and stopping" in err and "sink stopped:" in err and "0 rows unwritten" in err
    assert clean_tables.execute("SELECT count() FROM case_snapshots FINAL")[0][0] == len(expected_snapshots(pipeline))

    result = CliRunner().invoke(main, ["status", "lag", "--json"], env=env)
    assert result.exit_code == 0, result.output
    groups = json.loads(result.output)["groups"]
    assert groups[sink_settings.sink_group]["total_lag"] == 0
    # and the audit topics: the shared one and each writer's
    assert len(groups[sink_settings.sink_group]["partitions"]) == 6 + 6 + 6 + 1 + 7
    worker = groups[env["ESUP_WORKER_APP_ID"]]
    assert worker["total_lag"] == len(pipeline.events)  # nothing committed: every event is still to do
    # the worker reads case events, ticks and applicant facts
    assert len(worker["partitions"]) == 18 and {p["committed"] for p in worker["partitions"]} == {None}

    table = CliRunner().invoke(main, ["status", "lag"], env=env)
    assert table.exit_code == 0
    assert f"{sink_settings.sink_group}  total lag 0 over 26 partitions" in table.output
    assert "COMMITTED" in table.output.splitlines()[0]
    # the old spelling, for one release: the same answer, and a note on stderr
    old = CliRunner().invoke(main, ["status", "--json"], env=env)
    assert old.exit_code == 0 and json.loads(old.stdout)["groups"].keys() == groups.keys()
    assert "`esup status` is an old spelling and goes in the next release: use `esup status lag`" in old.stderr
