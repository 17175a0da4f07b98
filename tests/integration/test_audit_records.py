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

    records = [json.loads(r.value) for r in p.read("audit")]
    by_action = {r["action"]: r for r in records}
    counts = Counter(r["action"] for r in records)
    for action in ("catalog.publish", "clock.advance", "gateway.token-add", "gateway.token-revoke"):
        assert counts[action] == 1, counts
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
