"""`esup verify` names a finding deleted, edited or inserted behind the platform's back (issue 11)."""

from __future__ import annotations

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
    deleted, edited = ids[0], ids[1]
    _mutate(clickhouse_client, f"ALTER TABLE {db}.findings DELETE WHERE finding_id = '{deleted}'", "findings", db)
    _mutate(
        clickhouse_client,
        f"ALTER TABLE {db}.findings UPDATE message = 'nothing happened' WHERE finding_id = '{edited}'",
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
    bad = p.esup("verify", check=False)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert any(line.startswith("deleted") and deleted in line for line in lines), bad.stdout
    assert any(line.startswith("edited") and edited in line for line in lines), bad.stdout
    assert any(line.startswith("inserted") and forged in line for line in lines), bad.stdout
    assert len(lines) == 3, bad.stdout  # nothing else is blamed
