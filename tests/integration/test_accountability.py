"""Findings joined to the directory on the real ClickHouse: names, heads, and the heads' red cards and deemed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from directory.clickhouse import names, sync
from directory.index import DirectoryIndex
from directory.model import parse_directory
from directory.views import create_views
from esup.stack.servers import Provided
from tests.integration.analytics_db import fresh_database, insert
from tests.unit.test_directory import small

pytestmark = pytest.mark.integration
DB = "esup_test_accountability"
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def db(clickhouse_server: Provided) -> Iterator[Any]:
    client = fresh_database(clickhouse_server.address, DB)
    create_views(client)
    yield client
    client.execute(f"DROP DATABASE IF EXISTS {DB}")
    client.disconnect()


def finding(fid: str, rule: str, severity: str, staff: str, dept: str) -> dict[str, Any]:
    return {
        "finding_id": fid,
        "schema_version": 1,
        "case_id": "C" + fid,
        "rule": rule,
        "category": "time",
        "severity": severity,
        "title": rule,
        "message": rule,
        "staff_id": staff,
        "department_id": dept,
        "region_code": "511700",
        "item_code": "ITEM",
        "detected_at": datetime(2026, 6, 3, 10, tzinfo=TZ),
        "deadline": None,
        "law_article": None,
        "evidence_event_ids": [],
        "calendar_version": "t",
        "provisional": 0,
        "details": "{}",
        "version": 1,
    }


def test_findings_carry_names_heads_and_the_heads_account(db: Any) -> None:
    index = DirectoryIndex.of(parse_directory(small()))
    sync(db, index)
    insert(
        db,
        "findings",
        [
            finding("1", "TIME_DECISION_OVERDUE", "yellow", "S1", "D1"),
            finding("2", "TIME_DECISION_RED", "red", "S1", "D1"),
            finding("3", "TIME_DEEMED_APPROVAL", "yellow", "S1", "D1"),
            finding("4", "TIME_ACCEPT_DEEMED", "yellow", "nobody", "D1"),
            finding("5", "TIME_DECISION_RED", "red", "X", "D9"),  # unknown to the directory: ids stand in
        ],
    )
    rows = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT finding_id, staff_name, department_name, head_id, head_name, head_accountable "
            "FROM findings_accountability"
        )
    }
    assert rows["1"] == ("李娜", "达州市市场监督管理局", "H1", "王伟", 0)
    assert rows["2"][-1] == 1 and rows["3"][-1] == 1
    assert rows["4"] == ("nobody", "达州市市场监督管理局", "H1", "王伟", 1)
    assert rows["5"] == ("X", "D9", "", "", 1)
    heads = db.execute(
        "SELECT department_id, head_name, reds, deemed, findings FROM head_accountability ORDER BY department_id"
    )
    assert heads == [("D1", "王伟", 1, 2, 3), ("D9", "", 1, 0, 1)]
    # A department removed from the directory loses its name; the next sync wins in FINAL.
    doc = small()
    doc["departments"][0]["name"] = "达州市市场监管局"
    sync(db, DirectoryIndex.of(parse_directory(doc)))
    depts, staff = names(db)
    assert depts["D1"] == "达州市市场监管局" and staff["S1"] == "李娜"
    doc["departments"].pop(1)
    doc["staff"] = [s for s in doc["staff"] if s["department"] != "D2"]
    sync(db, DirectoryIndex.of(parse_directory(doc)))
    depts, staff = names(db)
    assert "D2" not in depts and "S1" not in staff
