"""`esup verify` names a finding deleted, edited or inserted behind the platform's back (issue 11)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.integration.pipeline import committed_lag, wait_until
from tests.integration.test_pipeline import EXAMPLES, EXAMPLES_AT, make_pipeline  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def _mutate(client: Any, sql: str, table: str, database: str) -> None:
    client.execute(sql)
    wait_until(
        lambda: (
            client.execute(
                f"SELECT count() FROM system.mutations WHERE database = '{database}' AND table = '{table}' "
                "AND is_done = 0"
            )[0][0]
            == 0
        ),
        timeout=60,
        what="the mutation",
    )


def test_verify_passes_untouched_and_names_each_planted_change(make_pipeline: Any, clickhouse_client: Any) -> None:  # noqa: F811
    p = make_pipeline().setup()
    p.publish_events(sorted(EXAMPLES.read_bytes().splitlines()))
    p.worker()
    p.sink()
    group = p.env["ESUP_WORKER_APP_ID"]
    wait_until(lambda: committed_lag(p.bootstrap, group, p.topics["case_events"]) == 0, timeout=120, what="worker")
    p.advance(EXAMPLES_AT)
    db = p.database
    count = lambda: clickhouse_client.execute(f"SELECT count() FROM {db}.findings FINAL")[0][0]  # noqa: E731
    wait_until(lambda: count() >= 39, timeout=120, what="the findings in ClickHouse")
    time.sleep(3)  # let the sink settle
    ok = p.esup("verify", check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    ids = [r[0] for r in clickhouse_client.execute(f"SELECT finding_id FROM {db}.findings FINAL ORDER BY finding_id")]
    deleted, edited, recategorised, redetailed = ids[0], ids[1], ids[2], ids[3]
    _mutate(clickhouse_client, f"ALTER TABLE {db}.findings DELETE WHERE finding_id = '{deleted}'", "findings", db)
    _mutate(
        clickhouse_client,
        f"ALTER TABLE {db}.findings UPDATE message = 'nothing happened' WHERE finding_id = '{edited}'",
        "findings",
        db,
    )
    # Moving a deduction to another scoring heading, and rewriting what the finding says it measured.
    _mutate(
        clickhouse_client,
        f"ALTER TABLE {db}.findings UPDATE category = if(category = 'fee', 'time', 'fee') "
        f"WHERE finding_id = '{recategorised}'",
        "findings",
        db,
    )
    _mutate(
        clickhouse_client,
        f"ALTER TABLE {db}.findings UPDATE details = '{{}}', provisional = 1 WHERE finding_id = '{redetailed}'",
        "findings",
        db,
    )
    forged = "00000000-0000-5000-8000-000000000001"
    clickhouse_client.execute(
        f"INSERT INTO {db}.findings (finding_id, schema_version, case_id, rule, category, severity, title, message, "
        "staff_id, department_id, region_code, item_code, detected_at, evidence_event_ids, calendar_version, "
        "provisional, details, version) SELECT %(id)s, 1, 'C-RIVAL', 'TIME_DECISION_RED', 'time', 'red', 't', 'm', "
        "'rival-staff', 'DZ-X', '511702', 'X', now(), [], 'v', 0, '{}', 1",
        {"id": forged},
    )
    # A dismissal written into ClickHouse behind the API's back (no audit record names it), beside one the
    # API accepted and audited: only the first is named.
    for mid, fid in (("forged-dismissal", ids[4]), ("api-dismissal", ids[5])):
        clickhouse_client.execute(
            f"INSERT INTO {db}.loop_messages (message_id, finding_id, type, actor_id, at, outcome, reason) "
            "SELECT %(mid)s, %(fid)s, 'decision', 'jc-5117', now(), 'dismissed', 'r'",
            {"mid": mid, "fid": fid},
        )
    clickhouse_client.execute(
        f"INSERT INTO {db}.audit_log (audit_id, at, actor_id, role, action, method, path, finding_id, status, "
        "detail, chain, prev_hash, hash) SELECT 'a1', now(), 'jc-5117', 'supervisor', 'decide', 'POST', "
        "'/findings/x/decisions', %(fid)s, 202, %(detail)s, 'c', '', 'h'",
        {"fid": ids[5], "detail": json.dumps({"message_id": "api-dismissal", "offset": 1, "partition": 0})},
    )
    bad = p.esup("verify", check=False)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert any(line.startswith("deleted") and deleted in line for line in lines), bad.stdout
    for fid in (edited, recategorised, redetailed):
        assert any(line.startswith("edited") and fid in line for line in lines), (fid, bad.stdout)
    assert any(line.startswith("inserted") and forged in line for line in lines), bad.stdout
    assert any(line.startswith("unaudited") and ids[4] in line and "forged-dismissal" in line for line in lines)
    assert len(lines) == 6, bad.stdout  # nothing else is blamed


def _card(i: int) -> Any:
    from datetime import datetime, timedelta

    from schemas.findings import Finding, finding_id
    from streams.rules.calendar import TZ

    case = f"CMP-{i}"
    return Finding(
        finding_id=finding_id(case, "CMP_REPLY_LATE", "1"),
        case_id=case,
        rule="CMP_REPLY_LATE",
        category="complaint_handling",
        severity="yellow",
        title="reply late",
        message="the complaint was not answered in time",
        staff_id="s1",
        department_id="D1",
        region_code="511702",
        item_code="",
        detected_at=datetime(2026, 3, 2, tzinfo=TZ) + timedelta(days=i),
        evidence_event_ids=[f"c{i}"],
        calendar_version="cn-2026",
        details={"complaint_id": case},
    )


def test_verify_checks_the_complaint_cards_chain_against_its_head(
    new_topic: Any, kafka_bootstrap: str, clean_tables: Any
) -> None:
    """The complaint service's chain head (`{group}/complaints`) is read from Kafka: cutting the tail off
    the complaint cards' chain in ClickHouse (the last card and its chain entry) is named."""
    from kafka import KafkaConsumer, KafkaProducer

    from complaints.service import COMPLAINTS_CHAIN
    from loop.runtime import publish_chained
    from sinks.rows import Record, finding_row
    from sinks.verify import read_heads, verify
    from sinks.writer import ClickHouseSink
    from streams.chain import Head
    from tests.conftest import TEST_DATABASE
    from tests.support import admin_auth

    findings, heads = new_topic(prefix="findings"), new_topic(prefix="heads", cleanup_policy="compact")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", **admin_auth())
    # As the complaint service publishes its cards (loop/runtime.py), in two sweeps.
    head = publish_chained(producer, findings, [_card(0), _card(1)], COMPLAINTS_CHAIN, Head(), heads, "grp/complaints")
    head = publish_chained(producer, findings, [_card(2), _card(3)], COMPLAINTS_CHAIN, head, heads, "grp/complaints")
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(
        findings,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
        **admin_auth(),
    )
    records = [Record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value) for r in consumer]
    consumer.close()
    assert len(records) == 4
    sink = ClickHouseSink(clean_tables)
    for r in records:  # as the sink stores them
        c = finding_row(r)
        assert c.row is not None and c.invalid is None
        sink.add(c.table, [c.row])
        for table, row in c.also:
            sink.add(table, [row])
    sink.flush()

    got = read_heads(kafka_bootstrap, heads, "grp", auth=admin_auth())
    assert got == {COMPLAINTS_CHAIN: head} and head.seq == 4
    assert verify(clean_tables, TEST_DATABASE, got) == []
    last = _card(3).finding_id
    for table in ("findings", "finding_chain"):
        _mutate(
            clean_tables,
            f"ALTER TABLE {TEST_DATABASE}.{table} DELETE WHERE finding_id = '{last}'",
            table,
            TEST_DATABASE,
        )
    problems = [str(p) for p in verify(clean_tables, TEST_DATABASE, got)]
    assert problems == [
        f"chain    {'-':36} partition {COMPLAINTS_CHAIN}: entries 4..4 are not in ClickHouse "
        "(deleted, or the sink is behind)"
    ], problems
