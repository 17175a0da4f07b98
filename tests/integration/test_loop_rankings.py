"""Rankings count the loop's decisions (real ClickHouse): a dismissed finding leaves the ranking."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from esup.stack.servers import Provided
from schemas.scoring import load_scoring
from sinks.scoring import create_views
from streams.rules import WorkCalendar
from tests.integration.analytics_db import fresh_database, insert

pytestmark = pytest.mark.integration

DB = "esup_test_loop_rankings"
TZ = ZoneInfo("Asia/Shanghai")
_ids = itertools.count(1)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 6, day, hour, tzinfo=TZ)


def finding(fid: str, dept: str, staff: str, category: str = "fee") -> dict[str, Any]:
    return {
        "finding_id": fid,
        "schema_version": 1,
        "case_id": f"case-{fid}",
        "rule": "X",
        "category": category,
        "severity": "yellow",
        "title": "t",
        "message": "m",
        "staff_id": staff,
        "department_id": dept,
        "region_code": "511702",
        "item_code": "ITEM",
        "detected_at": at(3),
        "deadline": None,
        "law_article": None,
        "evidence_event_ids": [],
        "calendar_version": "test",
        "provisional": 0,
        "details": "{}",
        "version": 1,
    }


def decision(fid: str, outcome: str, day: int, **extra: Any) -> tuple[Any, ...]:
    row = {
        "message_id": f"m{next(_ids)}",
        "finding_id": fid,
        "type": "decision",
        "schema_version": 1,
        "actor_id": "sup-city",
        "department_id": "",
        "at": at(day),
        "kind": "",
        "outcome": outcome,
        "reason": f"reason {outcome}",
        "dismissal_reason": "data_error" if outcome == "dismissed" else "",
        "recommendation": "",
        "report_within_wd": 0,
        "measure": "",
        "target_kind": "",
        "target_id": "",
        "text": "",
        "attachments": "[]",
        "body": json.dumps({}),
        "source_partition": 0,
        "source_offset": 0,
    }
    row.update(extra)
    return row  # type: ignore[return-value]


def add_decisions(client: Any, rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    client.execute(f"INSERT INTO loop_messages ({', '.join(cols)}) VALUES", [tuple(r[c] for c in cols) for r in rows])


def ranking(client: Any) -> list[tuple[str, float]]:
    return [
        (d, s)
        for d, s in client.execute(
            "SELECT department_id, score FROM rankings_department WHERE period = 'month' AND level = 'county' "
            "AND region = '511702' ORDER BY rank"
        )
    ]


@pytest.fixture(scope="module")
def client(clickhouse_server: Provided) -> Iterator[Any]:
    c = fresh_database(clickhouse_server.address, DB)
    # DZ-1: one fee yellow (-5). DZ-2: a fee and a procedure yellow (-10). DZ-1 ranks first.
    insert(
        c,
        "findings",
        [finding("A", "DZ-1", "s1"), finding("B1", "DZ-2", "s2"), finding("B2", "DZ-2", "s2", "procedure")],
    )
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")


def test_dismissals_change_the_ranking_and_the_latest_decision_wins(client: Any) -> None:
    assert ranking(client) == [("DZ-1", 95.0), ("DZ-2", 90.0)]
    # B1 dismissed, then confirmed on a later day: the confirmation stands; B2 dismissed for a data error.
    add_decisions(
        client,
        [
            decision("B1", "dismissed", 5),
            decision("B1", "confirmed", 8),
            decision("B2", "dismissed", 6),
            decision("A", "confirmed", 6),
        ],
    )
    assert ranking(client) == [("DZ-1", 95.0), ("DZ-2", 95.0)]  # tie -> the smaller id first
    add_decisions(client, [decision("B1", "dismissed", 9)])
    # Nothing of DZ-2 counts any more: like a department without findings or finished cases, it has no row.
    assert ranking(client) == [("DZ-1", 95.0)]
    rows = client.execute(
        "SELECT finding_id, status, decided_by, toString(decided_at), decision_reason "
        "FROM finding_decisions ORDER BY finding_id"
    )
    assert rows == [
        ("A", "confirmed", "sup-city", "2026-06-06 10:00:00", "reason confirmed"),
        ("B1", "dismissed", "sup-city", "2026-06-09 10:00:00", "reason dismissed"),
        ("B2", "dismissed", "sup-city", "2026-06-06 10:00:00", "reason dismissed"),
    ]


def test_pending_findings_can_be_left_out(client: Any, clickhouse_server: Provided) -> None:
    insert(client, "findings", [finding("P", "DZ-3", "s3")])
    scores = dict(ranking(client))
    assert scores["DZ-3"] == 95.0  # pending counts, as before the loop (the default)
    model = load_scoring().model_copy(update={"pending_findings_count": False})
    create_views(client, model, WorkCalendar())
    try:
        assert "DZ-3" not in dict(ranking(client))
        assert dict(ranking(client))["DZ-1"] == 95.0  # confirmed still counts
    finally:
        create_views(client, load_scoring(), WorkCalendar())


def test_accountability_measures_per_department_and_staff(client: Any) -> None:
    add_decisions(
        client, [decision("A", "accountability", 10, measure="reminder_talk", target_kind="staff", target_id="s1")]
    )
    rows = client.execute(
        "SELECT department_id, staff_id, measure, target_kind, target_id, decided_by, reason "
        "FROM accountability_measures"
    )
    assert rows == [("DZ-1", "s1", "reminder_talk", "staff", "s1", "sup-city", "reason accountability")]
