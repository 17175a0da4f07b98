"""On the real broker with SCRAM and ACLs: who is refused, and what a department may write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from esup import kafka_auth as ka
from esup.access.table import changelog_topic
from esup.audit_writers import WRITERS, audit_topic
from esup.settings import Settings, load_settings
from esup.topics import ensure_topics, platform_topics

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def s(kafka_admin: Any) -> Settings:
    settings = load_settings()
    if settings.kafka_security_protocol == "PLAINTEXT":
        pytest.skip("the session's Kafka is PLAINTEXT (ESUP_KAFKA_SECURITY_PROTOCOL)")
    ensure_topics(kafka_admin, platform_topics(settings))

    from esup.topics import TopicSpec

    ensure_topics(
        kafka_admin,
        [TopicSpec(changelog_topic(settings), settings.case_events_partitions, 1, {"cleanup.policy": "compact"})],
    )
    return settings


def esup(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esup.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )


def producer(s: Settings, **auth: Any) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=s.kafka_bootstrap, acks="all", max_block_ms=8000, retries=0, request_timeout_ms=8000, **auth
    )


def send(p: Any, topic: str) -> None:
    p.send(topic, key=b"k", value=b"{}").get(timeout=15)


def test_an_anonymous_client_and_a_wrong_password_are_refused(s: Settings) -> None:
    from kafka.errors import KafkaError

    with pytest.raises(KafkaError):  # PLAINTEXT on a SASL listener: no metadata, ever
        send(producer(s), s.topic_ticks)
    wrong = {**ka.kafka_python_auth(s, ka.CLOCK), "sasl_plain_password": "not-it"}
    with pytest.raises(KafkaError):
        send(producer(s, **wrong), s.topic_ticks)
    send(producer(s, **ka.kafka_python_auth(s, ka.CLOCK)), s.topic_ticks)  # the right one is let in


def test_a_department_writes_its_own_topic_only(s: Settings, tmp_path: Path) -> None:
    from kafka.errors import TopicAuthorizationFailedError

    a, b = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    made = esup("access", "add-department", a)
    assert made.returncode == 0, made.stderr
    assert esup("access", "add-department", b, "--store").returncode == 0
    printed = dict(line.split(None, 1) for line in made.stdout.splitlines())
    # Shown once, never stored: no file holds A's password.
    assert not ka.credentials_path(s, f"dept-{a}").exists()
    assert not any(printed["password"] in p.read_text() for p in s.kafka_credentials_dir.iterdir())
    stored = ka.credentials_path(s, f"dept-{b}")
    assert stored.stat().st_mode & 0o777 == 0o600
    auth = {
        **ka.kafka_python_auth(s, ka.CLOCK),
        "sasl_plain_username": f"dept-{a}",
        "sasl_plain_password": printed["password"],
    }
    p = producer(s, **auth)
    send(p, f"esup.ingest.{a}")
    for topic in (
        s.topic_ticks,
        s.topic_catalog,
        s.topic_findings,
        changelog_topic(s),
        f"esup.ingest.{b}",
        s.topic_case_events,
        s.topic_dead_letters,
    ):
        with pytest.raises(TopicAuthorizationFailedError):
            send(producer(s, **auth), topic)
    # Removed: its login no longer works.
    assert esup("access", "remove-department", a).returncode == 0
    from kafka.errors import KafkaError

    with pytest.raises(KafkaError):
        send(producer(s, **auth), f"esup.ingest.{a}")


def test_access_changes_are_audited(s: Settings) -> None:
    from kafka import KafkaConsumer

    dept = f"c{uuid.uuid4().hex[:8]}"
    assert esup("access", "add-department", dept).returncode == 0
    c = KafkaConsumer(
        audit_topic(s, ka.ADMIN),  # the admin's own audit topic
        bootstrap_servers=s.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
        **ka.kafka_python_auth(s, ka.OPERATOR),
    )
    records = [json.loads(r.value) for r in c]
    c.close()
    mine = [r for r in records if r["action"] == "access.add-department" and dept in r["detail"]]
    assert len(mine) == 1
    assert mine[0]["role"] == "kafka:admin" and mine[0]["actor_id"] and mine[0]["hash"]


def test_platform_principals_are_confined(s: Settings) -> None:
    from kafka.errors import TopicAuthorizationFailedError

    # The sink reads; it cannot write a finding. The catalog publisher cannot tick.
    for principal, topic in (
        (ka.SINK, s.topic_findings),
        (ka.CATALOG, s.topic_ticks),
        (ka.OPERATOR, s.topic_findings),
        (ka.CLOCK, s.topic_catalog),
    ):
        with pytest.raises(TopicAuthorizationFailedError):
            send(producer(s, **ka.kafka_python_auth(s, principal)), topic)


def test_only_the_api_writes_responses_and_the_clock_ticks_the_loop_on_its_own_topic(s: Settings) -> None:
    """Decisions (dismissals) travel on the responses topic: the clock, which once ticked the loop there,
    is refused, also on a cluster whose ACLs an earlier version made (bootstrap deletes the old grant).
    Likewise the complaints topic, where it once ticked the complaint service."""
    import time

    from kafka.errors import TopicAuthorizationFailedError

    from esup.access import kafka_admin as kad
    from esup.access import ops
    from esup.access.table import Grant
    from esup.topics import admin_client

    with admin_client(s.kafka_bootstrap, auth=ka.kafka_python_auth(s, ka.ADMIN)) as admin:
        old = [Grant(ka.CLOCK, "topic", t, "WRITE") for t in (s.topic_responses, s.topic_complaints)]
        kad.create_acls(admin, old)  # as before the upgrade
    ops.bootstrap(s, command="tests")
    deadline = time.monotonic() + 20
    while True:  # the authorizer applies the deletion within moments
        try:
            send(producer(s, **ka.kafka_python_auth(s, ka.CLOCK)), s.topic_responses)
        except TopicAuthorizationFailedError:
            break
        assert time.monotonic() < deadline, "the clock may still write the responses topic"
        time.sleep(1)
    for principal in (ka.LOOP, ka.OPERATOR, ka.COMPLAINTS, ka.WORKER):
        with pytest.raises(TopicAuthorizationFailedError):
            send(producer(s, **ka.kafka_python_auth(s, principal)), s.topic_responses)
    send(producer(s, **ka.kafka_python_auth(s, ka.API)), s.topic_responses)  # the API may
    send(producer(s, **ka.kafka_python_auth(s, ka.CLOCK)), s.topic_loop_ticks)  # the loop's clock
    send(producer(s, **ka.kafka_python_auth(s, ka.CLOCK)), s.topic_complaint_ticks)  # the complaint service's
    with pytest.raises(TopicAuthorizationFailedError):  # complaint messages: the intake (API) only
        send(producer(s, **ka.kafka_python_auth(s, ka.CLOCK)), s.topic_complaints)
    with pytest.raises(TopicAuthorizationFailedError):
        send(producer(s, **ka.kafka_python_auth(s, ka.API)), s.topic_loop_ticks)


def test_each_writer_writes_its_own_audit_topic_and_no_one_the_shared_one(s: Settings) -> None:
    """The clock cannot write the API's audit topic (so it cannot pass a record off as the API's), and on a
    cluster an earlier version set up, where every writer wrote the shared topic, bootstrap withdraws that."""
    import time

    from kafka.errors import TopicAuthorizationFailedError

    from esup.access import kafka_admin as kad
    from esup.access import ops
    from esup.access.table import Grant
    from esup.topics import admin_client

    writers = [w.principal for w in WRITERS if w.principal != ka.ADMIN]  # the admin is the super user
    with admin_client(s.kafka_bootstrap, auth=ka.kafka_python_auth(s, ka.ADMIN)) as admin:
        kad.create_acls(admin, [Grant(p, "topic", s.topic_audit, "WRITE") for p in writers])  # as before
    ops.bootstrap(s, command="tests")
    deadline = time.monotonic() + 20
    while True:  # the authorizer applies the deletion within moments
        try:
            send(producer(s, **ka.kafka_python_auth(s, ka.CLOCK)), s.topic_audit)
        except TopicAuthorizationFailedError:
            break
        assert time.monotonic() < deadline, "the clock may still write the shared audit topic"
        time.sleep(1)
    for writer in writers:
        send(producer(s, **ka.kafka_python_auth(s, writer)), audit_topic(s, writer))  # its own
        with pytest.raises(TopicAuthorizationFailedError):
            send(producer(s, **ka.kafka_python_auth(s, writer)), s.topic_audit)
        for other in writers:
            if other != writer:
                with pytest.raises(TopicAuthorizationFailedError):
                    send(producer(s, **ka.kafka_python_auth(s, writer)), audit_topic(s, other))
    for principal in (ka.LOOP, ka.OPERATOR, ka.SINK, ka.WORKER):
        with pytest.raises(TopicAuthorizationFailedError):
            send(producer(s, **ka.kafka_python_auth(s, principal)), audit_topic(s, ka.API))
