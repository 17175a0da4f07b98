"""Administrative actions reach the audit topic and ClickHouse's audit_log, and `esup verify --audit` names an
audit row deleted, edited or inserted in ClickHouse (issue 11: catalog publishes, clock advances, credentials)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.integration.pipeline import wait_until
from tests.integration.test_pipeline import make_pipeline  # noqa: F401 - fixture
from tests.integration.test_verify import _mutate

pytestmark = pytest.mark.integration


def test_administrative_actions_are_audited_and_verify_audit_names_tampering(
    make_pipeline: Any,  # noqa: F811
    clickhouse_client: Any,
) -> None:
    p = make_pipeline().setup()  # topics, access bootstrap, migrations and a catalog publish
    p.sink()
    p.advance("2026-03-01T00:00:00+08:00")
    added = p.esup("gateway", "token", "add", "DZ-AUDIT")
    token_id = added.stdout.strip().splitlines()[-1].split(".")[1]
    p.esup("gateway", "token", "revoke", "--token-id", token_id)

    written = p.audit_records()
    records = [r for _, r in written]
    by_action = {r["action"]: r for r in records}
    counts = Counter(r["action"] for r in records)
    for action in ("catalog.publish", "clock.advance", "gateway.token-add", "gateway.token-revoke"):
        assert counts[action] == 1, counts
    # each on its writer's own topic; nothing on the shared one
    assert {(w, r["action"]) for w, r in written} >= {
        ("esup-catalog", "catalog.publish"),
        ("esup-clock", "clock.advance"),
        ("admin", "gateway.token-add"),
        ("admin", "access.bootstrap"),
    }
    assert "legacy" not in {w for w, _ in written}
    assert by_action["catalog.publish"]["role"] == "kafka:esup-catalog"
    assert by_action["clock.advance"]["role"] == "kafka:esup-clock"
    assert json.loads(by_action["clock.advance"]["detail"])["to"] == "2026-03-01T00:00:00+08:00"
    assert by_action["gateway.token-add"]["role"] == "kafka:admin"
    assert json.loads(by_action["gateway.token-add"]["detail"]) == {"owner": "DZ-AUDIT", "token_id": token_id}
    assert json.loads(by_action["gateway.token-revoke"]["detail"])["token_ids"] == [token_id]
    assert all(r["actor_id"] and r["hash"] for r in records)

    db = p.database

    def table() -> dict[str, str]:
        return dict(clickhouse_client.execute(f"SELECT audit_id, action FROM {db}.audit_log FINAL"))

    wait_until(lambda: len(table()) == len(records), timeout=90, what="the audit records in ClickHouse")
    assert set(table().values()) >= {"catalog.publish", "clock.advance", "gateway.token-add"}
    stored = set(clickhouse_client.execute(f"SELECT writer, action FROM {db}.audit_log FINAL"))
    assert stored == {(w, r["action"]) for w, r in written}
    ok = p.esup("verify", "--audit", check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    deleted, edited = by_action["catalog.publish"]["audit_id"], by_action["clock.advance"]["audit_id"]
    _mutate(clickhouse_client, f"ALTER TABLE {db}.audit_log DELETE WHERE audit_id = '{deleted}'", "audit_log", db)
    _mutate(
        clickhouse_client,
        f"ALTER TABLE {db}.audit_log UPDATE actor_id = 'someone-else' WHERE audit_id = '{edited}'",
        "audit_log",
        db,
    )
    clickhouse_client.execute(
        f"INSERT INTO {db}.audit_log (audit_id, at, actor_id, role, action, method, path, finding_id, status, "
        "detail, chain, prev_hash, hash) SELECT 'forged-audit', now(), 'jc-5117', 'supervisor', 'decide', 'POST', "
        "'/findings/x/decisions', 'x', 202, '{\"message_id\": \"m\"}', 'c', '', 'h'"
    )
    bad = p.esup("verify", "--audit", check=False)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert any(line.startswith("deleted") and deleted in line for line in lines), bad.stdout
    assert any(line.startswith("edited") and edited in line and "actor_id" in line for line in lines), bad.stdout
    assert any(line.startswith("inserted") and "forged-audit" in line for line in lines), bad.stdout
    assert len(lines) == 3, bad.stdout


def test_a_writer_cannot_pass_a_record_off_as_another_writers_and_verify_names_a_forged_one(
    make_pipeline: Any,  # noqa: F811
    clickhouse_client: Any,
) -> None:
    """The clock may not write the API's audit topic; what it writes on its own, claiming a supervisor's
    decision through the API, is stored as the clock's and `esup verify` names it forged. The API's own
    record of the same decision verifies clean."""
    from datetime import UTC, datetime

    from kafka import KafkaProducer
    from kafka.errors import TopicAuthorizationFailedError

    from api.audit import Auditor
    from esup import kafka_auth as ka
    from esup.audit_writers import audit_topic
    from esup.settings import load_settings

    p = make_pipeline().setup()
    p.sink()
    outer = load_settings()  # the session's logins
    if outer.kafka_security_protocol == "PLAINTEXT":
        pytest.skip("the session's Kafka is PLAINTEXT: no principal is told apart")
    s = load_settings(topic_audit=p.topics["audit"])
    api_topic, clock_topic = audit_topic(s, ka.API), audit_topic(s, ka.CLOCK)

    def login(principal: str) -> Any:
        auth = ka.kafka_python_auth(outer, principal)
        return KafkaProducer(bootstrap_servers=p.bootstrap, acks="all", retries=0, max_block_ms=10000, **auth)

    clock, api = login(ka.CLOCK), login(ka.API)
    try:
        decision = {
            "at": datetime.now(UTC),
            "actor": "jc-5117",
            "role": "supervisor",
            "action": "decide",
            "method": "POST",
            "path": "/findings/f-1/decisions",
            "finding_id": "f-1",
            "status": 202,
            "detail": {"message_id": "m-1", "outcome": "dismissed"},
        }
        with pytest.raises(TopicAuthorizationFailedError):  # the API's topic: not the clock's to write
            Auditor(None, clock, api_topic).record(**decision)
        forged = Auditor(None, clock, clock_topic).record(**decision)
        genuine = Auditor(None, api, api_topic).record(**decision)
    finally:
        clock.close(timeout=10)
        api.close(timeout=10)
    db = p.database

    def stored() -> dict[str, tuple[str, str]]:
        rows = clickhouse_client.execute(f"SELECT audit_id, writer, action FROM {db}.audit_log FINAL")
        return {r[0]: (r[1], r[2]) for r in rows}

    wait_until(
        lambda: {forged["audit_id"], genuine["audit_id"]} <= set(stored()), timeout=90, what="both records stored"
    )
    assert stored()[forged["audit_id"]] == (ka.CLOCK, "decide")  # the topic's writer, not what it claims
    assert stored()[genuine["audit_id"]] == (ka.API, "decide")
    for args in (("verify",), ("verify", "--audit")):
        bad = p.esup(*args, check=False)
        assert bad.returncode == 1, bad.stdout + bad.stderr
        lines = bad.stdout.splitlines()
        assert len(lines) == 1, bad.stdout  # the genuine record and the pipeline's own are not named
        assert lines[0].startswith("forged") and forged["audit_id"] in lines[0], lines
        assert clock_topic in lines[0] and "decide" in lines[0], lines
