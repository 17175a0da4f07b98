"""The migrations and the tables on a real ClickHouse (Debian's 18.16 in CI, a current release in Docker)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from schemas.events import parse_event
from schemas.findings import Category, Finding, Severity, finding_id
from sinks.clickhouse import connect_url, database_of, with_database
from sinks.migrate import LEDGER, MigrationError, load_migrations, migrate, tables

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")
TABLES = ["case_events", "case_snapshots", "findings", LEDGER]


@pytest.fixture
def scratch_db(clickhouse_server: Any) -> Iterator[str]:
    """A database of its own for tests that migrate from nothing; dropped afterwards."""
    name = f"esup_scratch_{uuid.uuid4().hex[:10]}"
    yield name
    connect_url(clickhouse_server.address, "default").execute(f"DROP DATABASE IF EXISTS {name}")


def test_migrate_is_idempotent_and_creates_the_tables(clickhouse_server: Any, scratch_db: str) -> None:
    client_for = lambda db: connect_url(clickhouse_server.address, db)  # noqa: E731
    first = migrate(client_for, scratch_db)
    second = migrate(client_for, scratch_db)

    assert [m.version for m in first] == [m.version for m in load_migrations()]
    assert second == []
    client = client_for(scratch_db)
    shown = [r[0] for r in client.execute(f"SHOW TABLES FROM {scratch_db}")]
    assert set(TABLES) <= set(shown)  # later migrations add more
    assert tables(client, scratch_db) == sorted(shown)
    ledger = client.execute(f"SELECT version, count() FROM {LEDGER} GROUP BY version ORDER BY version")
    assert ledger == [(m.version, 1) for m in load_migrations()]


def test_an_applied_migration_that_changed_is_refused(clickhouse_server: Any, scratch_db: str, tmp_path: Path) -> None:
    client_for = lambda db: connect_url(clickhouse_server.address, db)  # noqa: E731
    (tmp_path / "0001_one.sql").write_text("CREATE TABLE IF NOT EXISTS one (x UInt8) ENGINE = MergeTree ORDER BY x;\n")
    migrate(client_for, scratch_db, load_migrations(tmp_path))
    (tmp_path / "0001_one.sql").write_text("CREATE TABLE IF NOT EXISTS one (x UInt16) ENGINE = MergeTree ORDER BY x;\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(client_for, scratch_db, load_migrations(tmp_path))


def test_esup_db_migrate_command(clickhouse_server: Any, scratch_db: str) -> None:
    from esup.cli import main

    parts = urlsplit(clickhouse_server.address)
    env = {
        "ESUP_CLICKHOUSE_HOST": parts.hostname or "127.0.0.1",
        "ESUP_CLICKHOUSE_PORT": str(parts.port or 9000),
        "ESUP_CLICKHOUSE_USER": unquote(parts.username or "default"),
        "ESUP_CLICKHOUSE_PASSWORD": unquote(parts.password or ""),
    }
    runner = CliRunner()
    first = runner.invoke(main, ["db", "migrate", "--database", scratch_db], env=env)
    second = runner.invoke(main, ["db", "migrate", "--database", scratch_db], env=env)
    assert first.exit_code == 0, first.output
    assert "applied 0001_init" in first.output
    assert second.exit_code == 0 and f"{scratch_db}: up to date" in second.output
    listed = second.output.split(f"tables in {scratch_db}: ", 1)[1].strip().split(", ")
    assert set(TABLES) <= set(listed)


def _finding(n: int, *, provisional: bool = False) -> Finding:
    return Finding(
        finding_id=finding_id(f"C{n}", "TIME_DECISION_OVERDUE", "decision#1"),
        case_id=f"C{n}",
        rule="TIME_DECISION_OVERDUE",
        category=Category.time,
        severity=Severity.red,
        title="逾期未决定",
        message="超过法定期限未作出决定",
        staff_id="s-wang",
        department_id="DZ-SCJG",
        region_code="511702",
        item_code="SC-FOOD-001",
        detected_at=datetime(2026, 3, 31, 0, 0, tzinfo=TZ),
        deadline=datetime(2026, 3, 30, 23, 59, 59, tzinfo=TZ) if n % 2 else None,
        law_article="行政许可法 第42条" if n % 2 else None,
        evidence_event_ids=[f"C{n}-e1", f"C{n}-e2"],
        calendar_version="cn-2026",
        provisional=provisional,
        details={"working_days": 21 + n},
    )


def _finding_row(f: Finding, version: int) -> dict[str, Any]:
    row = f.model_dump(mode="python")
    return {
        **row,
        "category": f.category.value,
        "severity": f.severity.value,
        "provisional": int(f.provisional),
        "details": json.dumps(f.details, ensure_ascii=False, sort_keys=True),
        "version": version,
    }


def test_replayed_findings_leave_one_row_each_in_final(clean_tables: Any) -> None:
    columns = (
        "finding_id, schema_version, case_id, rule, category, severity, title, message, staff_id, "
        "department_id, region_code, item_code, detected_at, deadline, law_article, evidence_event_ids, "
        "calendar_version, provisional, details, version"
    )
    findings = [_finding(n, provisional=True) for n in range(5)]
    for _replay in range(2):  # the same findings written twice, as after a worker restart
        clean_tables.execute(f"INSERT INTO findings ({columns}) VALUES", [_finding_row(f, 1) for f in findings])
    # A newer version of one finding (no longer provisional) replaces the older one.
    clean_tables.execute(f"INSERT INTO findings ({columns}) VALUES", [_finding_row(_finding(0), 2)])

    raw = clean_tables.execute("SELECT count() FROM findings")[0][0]
    final = clean_tables.execute(
        "SELECT finding_id, provisional, version, evidence_event_ids, deadline, law_article, details, detected_at "
        "FROM findings FINAL ORDER BY finding_id"
    )
    assert raw >= len(findings)  # background merges may or may not have run yet
    assert sorted(r[0] for r in final) == sorted(f.finding_id for f in findings)
    by_id = {r[0]: r for r in final}
    assert by_id[findings[0].finding_id][1:3] == (0, 2)
    assert all(by_id[f.finding_id][1:3] == (1, 1) for f in findings[1:])
    one = by_id[findings[1].finding_id]
    assert one[3] == ["C1-e1", "C1-e2"] and one[4] == datetime(2026, 3, 30, 23, 59, 59, tzinfo=TZ)
    assert one[5] == "行政许可法 第42条" and json.loads(one[6]) == {"working_days": 22}
    assert one[7] == datetime(2026, 3, 31, 0, 0, tzinfo=TZ)
    assert by_id[findings[0].finding_id][4] is None and by_id[findings[0].finding_id][5] is None


def test_replayed_case_events_leave_one_row_each_in_final(clean_tables: Any) -> None:
    sample = Path(__file__).resolve().parents[2] / "examples" / "events.jsonl"
    lines = sample.read_text(encoding="utf-8").splitlines()[:20] if sample.is_file() else []
    events = [parse_event(line) for line in lines if line.strip()] or [
        parse_event(
            {
                "event_id": "E1",
                "case_id": "C1",
                "item_code": "I",
                "department_id": "D",
                "region_code": "511702",
                "staff_id": "s",
                "kind": "apply",
                "occurred_at": "2026-03-02T09:10:00+08:00",
                "recorded_at": "2026-03-02T09:11:00+08:00",
            }
        )
    ]
    rows = [
        {
            "event_id": e.event_id,
            "case_id": e.case_id,
            "kind": e.kind,
            "schema_version": e.schema_version,
            "item_code": e.item_code,
            "department_id": e.department_id,
            "region_code": e.region_code,
            "staff_id": e.staff_id,
            "occurred_at": e.occurred_at,
            "recorded_at": e.recorded_at,
            "payload": e.payload.model_dump_json(),
            "source_partition": 0,
            "source_offset": i,
        }
        for i, e in enumerate(events)
    ]
    columns = ", ".join(rows[0])
    for _replay in range(3):
        clean_tables.execute(f"INSERT INTO case_events ({columns}) VALUES", rows)
    got = clean_tables.execute("SELECT event_id, occurred_at, payload FROM case_events FINAL ORDER BY event_id")
    assert [r[0] for r in got] == sorted(e.event_id for e in events)
    first = min(events, key=lambda e: e.event_id)
    assert got[0][1] == first.occurred_at and json.loads(got[0][2]) == first.payload.model_dump(mode="json")


def test_case_snapshots_keep_the_highest_version(clean_tables: Any) -> None:
    def snap(version: int, stage: str, open_: int) -> dict[str, Any]:
        return {
            "case_id": "C1",
            "item_code": "I",
            "department_id": "D",
            "region_code": "511702",
            "responsible_staff": "s",
            "first_staff": "s",
            "stage": stage,
            "outcome": None if open_ else "granted",
            "open": open_,
            "deemed_accepted": 0,
            "decision_deadline": datetime(2026, 3, 31, tzinfo=TZ),
            "working_days_used": version,
            "next_due": None,
            "last_event_at": None,
            "provisional": 0,
            "calendar_version": "cn-2026",
            "clocks": "[]",
            "updated_at": datetime(2026, 3, 2, 9, version, tzinfo=TZ),
            "version": version,
        }

    columns = ", ".join(snap(1, "applied", 1))
    # Out of order, and the last one replayed: the highest version wins, whatever arrives last.
    for v, stage, open_ in [(1, "applied", 1), (3, "concluded", 0), (2, "accepted", 1), (1, "applied", 1)]:
        clean_tables.execute(f"INSERT INTO case_snapshots ({columns}) VALUES", [snap(v, stage, open_)])
    assert clean_tables.execute("SELECT case_id, stage, open, outcome, version FROM case_snapshots FINAL") == [
        ("C1", "concluded", 0, "granted", 3)
    ]


def test_fixture_url_points_at_the_migrated_test_database(clickhouse_url: str) -> None:
    from tests.conftest import TEST_DATABASE  # esup_test unless ESUP_TEST_DATABASE names another

    assert database_of(clickhouse_url) == TEST_DATABASE
    assert with_database(clickhouse_url, "x").endswith("/x")
    assert set(TABLES) <= set(tables(connect_url(clickhouse_url), TEST_DATABASE))


def test_platform_settings_reach_the_session_servers(platform_settings: Any, kafka_bootstrap: str) -> None:
    from sinks.clickhouse import connect

    assert platform_settings.kafka_bootstrap == kafka_bootstrap
    client = connect(platform_settings, role="sink")  # the URL's user: it is given explicitly
    from tests.conftest import TEST_DATABASE

    assert client.execute("SELECT currentDatabase()") == [(TEST_DATABASE,)]
    client.disconnect()
