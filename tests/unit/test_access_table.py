"""The ACL table: least privilege per platform principal, and a department reaches its own ingest topic only."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from esup import kafka_auth as ka
from esup.access.table import Grant, changelog_topic, department_grants, grants_of, platform_grants, revoked_grants
from esup.audit_writers import LEGACY, WRITERS, audit_topic, audit_topics
from esup.settings import load_settings
from esup.topics import platform_topics

S = load_settings()
DEPT_IDS = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)


def writers(topic: str) -> set[str]:
    return {
        g.principal
        for g in platform_grants(S)
        if g.resource == "topic" and g.name == topic and g.operation in ("WRITE", "CREATE")
    }


@given(DEPT_IDS)
def test_a_department_writes_its_own_ingest_topic_and_nothing_else(dept: str) -> None:
    grants = department_grants(S, dept)
    assert {(g.resource, g.name, g.pattern) for g in grants} == {("topic", f"esup.ingest.{dept}", "literal")}
    assert {g.operation for g in grants} == {"WRITE", "DESCRIBE"}
    assert {g.principal for g in grants} == {f"dept-{dept}"}
    platform = {t.name for t in platform_topics(S)} | {changelog_topic(S)}
    assert not platform & {g.name for g in grants}


def test_a_department_id_that_cannot_name_a_topic_gets_no_grant() -> None:
    with pytest.raises(ValueError):
        department_grants(S, "a*")  # a wildcard or a prefix must never reach an ACL


def test_control_topics_have_only_their_platform_writers() -> None:
    assert writers(S.topic_catalog) == {ka.CATALOG}
    # Adopted configurations: written by the adopting principal only; the worker reads them and nothing else.
    assert writers(S.topic_config) == {ka.ADOPTER}
    assert {(g.name, g.operation) for g in grants_of(S, ka.ADOPTER)} == {
        (S.topic_config, "WRITE"),
        (audit_topic(S, ka.ADOPTER), "WRITE"),
    }
    assert {g.operation for g in grants_of(S, ka.WORKER) if g.name == S.topic_config} == {"READ"}
    # The clock advances time; a wall-clock worker schedules its own wake-ups.
    assert writers(S.topic_ticks) == {ka.CLOCK, ka.WORKER}
    assert writers(changelog_topic(S)) == {ka.WORKER}
    assert writers(S.topic_case_snapshots) == {ka.WORKER}
    # the loop raises supervision findings, the complaints service complaint cards
    assert writers(S.topic_findings) == {ka.WORKER, ka.LOOP, ka.COMPLAINTS}
    assert writers(S.topic_chain_heads) == {ka.WORKER, ka.LOOP, ka.COMPLAINTS}
    # the intake; the service only reads them (the clock ticks it on a topic of its own)
    assert writers(S.topic_complaints) == {ka.API}
    assert writers(S.topic_complaint_ticks) == {ka.CLOCK}
    assert writers(S.topic_case_events) == {ka.BRIDGE, ka.GATEWAY}


def test_only_the_api_writes_responses_and_decisions() -> None:
    """A decision dismisses a finding from the rankings: no principal but the API's may publish one. The
    loop's event clock ticks on a topic of its own, which only the clock writes and the loop reads."""
    assert writers(S.topic_responses) == {ka.API}
    assert writers(S.topic_loop_ticks) == {ka.CLOCK}
    readers = {g.principal for g in platform_grants(S) if g.name == S.topic_loop_ticks and g.operation == "READ"}
    assert readers == {ka.LOOP}  # the operator reads "*", not by name
    clock = {(g.name, g.operation) for g in platform_grants(S) if g.principal == ka.CLOCK}
    assert (S.topic_responses, "WRITE") not in clock


def test_each_audit_topic_has_exactly_one_writer_and_nobody_writes_the_shared_one() -> None:
    """A record's writer is the principal whose topic carries it: that holds only while each audit topic has
    one writer and none writes another's (or the shared topic of earlier versions)."""
    topics = audit_topics(S)
    assert topics[S.topic_audit] == LEGACY and len(topics) == len(WRITERS) + 1
    assert len(set(topics)) == len(topics)  # no two writers share a topic
    for topic, writer in topics.items():
        # the admin is Kafka's super user: it holds no grant, so its topic has no writer in the table
        assert writers(topic) == ({writer} if writer not in (LEGACY, ka.ADMIN) else set()), topic
        assert {g.operation for g in platform_grants(S) if g.name == topic and g.principal == ka.SINK} == {"READ"}
    written = {
        (g.principal, g.name)
        for g in platform_grants(S)
        if g.resource == "topic" and g.operation in ("WRITE", "CREATE") and g.name.startswith(S.topic_audit)
    }
    assert written == {(w.principal, audit_topic(S, w.principal)) for w in WRITERS if w.principal != ka.ADMIN}
    # bootstrap withdraws the shared topic's WRITE from every principal (earlier versions gave it to six), and
    # any WRITE on a writer's topic from every other platform principal, however it came about
    assert {g.principal for g in revoked_grants(S) if g.name == S.topic_audit and g.operation == "WRITE"} == (
        set(ka.PLATFORM) - {ka.ADMIN}
    )
    for w in WRITERS:
        if w.principal != ka.ADMIN:
            topic = audit_topic(S, w.principal)
            assert {g.principal for g in revoked_grants(S) if g.name == topic and g.operation == "WRITE"} == (
                set(ka.PLATFORM) - {ka.ADMIN, w.principal}
            ), topic
    with pytest.raises(ValueError):
        audit_topic(S, ka.LOOP)  # the loop writes no audit records


def test_audit_topics_follow_the_setting() -> None:
    s = load_settings(topic_audit="test.x.audit")
    assert audit_topic(s, ka.API) == "test.x.audit.api" and audit_topic(s, ka.CLOCK) == "test.x.audit.clock"
    assert {t.name for t in platform_topics(s)} >= set(audit_topics(s))


def test_bootstrap_deletes_the_grants_earlier_tables_made_and_this_one_withdrew() -> None:
    revoked = set(revoked_grants(S))
    assert Grant(ka.CLOCK, "topic", S.topic_responses, "WRITE") in revoked
    assert not revoked & set(platform_grants(S))  # never one the table still gives


def test_nobody_but_the_bridge_holds_a_prefixed_topic_grant_and_the_operator_writes_nothing() -> None:
    prefixed = {(g.principal, g.name) for g in platform_grants(S) if g.resource == "topic" and g.pattern == "prefixed"}
    assert prefixed == {(ka.BRIDGE, S.topic_ingest_prefix)}
    assert all(
        g.operation in ("READ", "DESCRIBE", "DESCRIBE_CONFIGS")
        for g in platform_grants(S)
        if g.principal == ka.OPERATOR
    )
    assert not any(g.principal in (ka.ADMIN, "broker") for g in platform_grants(S))  # super users need none


def test_the_worker_owns_only_its_own_transactional_ids_and_group() -> None:
    s = load_settings(worker_app_id="w7")
    mine = [g for g in platform_grants(s) if g.principal == ka.WORKER and g.resource != "topic"]
    assert {(g.resource, g.name, g.pattern) for g in mine} == {
        ("group", "w7", "literal"),
        ("transactional_id", "w7-p", "prefixed"),
    }


def test_credentials_are_written_owner_only_and_refused_when_others_can_read(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path, kafka_security_protocol="SASL_PLAINTEXT")
    path = ka.write_credentials(s, ka.SINK, "pw")
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert ka.kafka_python_auth(s, ka.SINK)["sasl_plain_username"] == ka.SINK
    path.chmod(0o640)
    with pytest.raises(ka.CredentialError):
        ka.kafka_python_auth(s, ka.SINK)
