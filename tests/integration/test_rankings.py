"""Scores and ranks on the real ClickHouse against figures worked out by hand from esup/config/scoring.yaml.

Four departments in two cities of Sichuan, June 2026 (1-15 June has no holiday: 6-7 and 13-14 are the
weekends). The default model: yellow -5, red -10, every full 3 notices -3, per-heading caps (time 14,
fees 8, ...), +1 per 10 % of finished cases finished early (>= 5 working days of the decision period left).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from esup.cli import main
from esup.stack.servers import Provided
from tests.integration.analytics_db import fresh_database, insert, refresh_board

pytestmark = pytest.mark.integration

DB = "esup_test_rankings"
TZ = ZoneInfo("Asia/Shanghai")
JUNE = date(2026, 6, 1)
_ids = itertools.count(1)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 6, day, hour, tzinfo=TZ)


def finding(
    case: str, rule: str, category: str, severity: str, staff: str, dept: str, region: str, day: int
) -> dict[str, Any]:
    return {
        "finding_id": f"F{next(_ids)}",
        "schema_version": 1,
        "case_id": case,
        "rule": rule,
        "category": category,
        "severity": severity,
        "title": rule,
        "message": rule,
        "staff_id": staff,
        "department_id": dept,
        "region_code": region,
        "item_code": "ITEM",
        "detected_at": at(day),
        "deadline": None,
        "law_article": None,
        "evidence_event_ids": [],
        "calendar_version": "test",
        "provisional": 0,
        "details": "{}",
        "version": 1,
    }


def snapshot(
    case: str,
    dept: str,
    region: str,
    staff: str,
    *,
    finished: datetime | None,
    deadline: int,
    outcome: str | None = "granted",
) -> dict[str, Any]:
    return {
        "case_id": case,
        "item_code": "ITEM",
        "department_id": dept,
        "region_code": region,
        "responsible_staff": staff,
        "first_staff": staff,
        "stage": "concluded" if finished else "accepted",
        "outcome": outcome if finished else None,
        "open": 0 if finished else 1,
        "deemed_accepted": 0,
        "decision_deadline": datetime(2026, 6, deadline, 23, 59, 59, tzinfo=TZ),
        "working_days_used": 0,
        "next_due": None,
        "last_event_at": finished or at(1),
        "provisional": 0,
        "calendar_version": "test",
        "clocks": "[]",
        "updated_at": finished or at(1),
        "version": 1,
    }


def events(case: str, dept: str, region: str, staff: str, *steps: tuple[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{case}-{kind}",
            "case_id": case,
            "kind": kind,
            "schema_version": 1,
            "item_code": "ITEM",
            "department_id": dept,
            "region_code": region,
            "staff_id": staff,
            "occurred_at": at(day, 9),
            "recorded_at": at(day, 9),
            "payload": "{}",
            "source_partition": 0,
            "source_offset": n,
        }
        for n, (kind, day) in enumerate(steps)
    ]


def notices(n: int, case: str, staff: str, dept: str, region: str) -> list[dict[str, Any]]:
    return [finding(case, "TIME_DECISION_NOTICE", "time", "notice", staff, dept, region, 2 + i) for i in range(n)]


def fixture_rows() -> dict[str, list[dict[str, Any]]]:
    """The rows of every table, the same on each call (also run on a current engine: test_current_clickhouse)."""
    global _ids
    _ids = itertools.count(1)
    rows = [
        # DZ-1, Tongchuan 511702 (city 511700): 6 notices -> 2 x 3 = 6; one fee yellow 5. Deduction 11.
        *notices(6, "A1", "s-a1", "DZ-1", "511702"),
        finding("A1", "FEE_OVER_STANDARD", "fee", "yellow", "s-a1", "DZ-1", "511702", 3),
        # DZ-2, Dachuan 511703 (city 511700): 4 notices -> 1 x 3 = 3; two fee yellows 10, capped at 8.
        # Deduction 11: the same score as DZ-1, and neither finished a case -> the smaller id ranks first.
        *notices(4, "B1", "s-b1", "DZ-2", "511703"),
        finding("B2", "FEE_NOT_LISTED", "fee", "yellow", "s-b2", "DZ-2", "511703", 4),
        finding("B2", "FEE_DUPLICATE", "fee", "yellow", "s-b2", "DZ-2", "511703", 5),
        # CD-1, Jinjiang 510104 (city 510100): Y1 deemed approved (a time yellow: late) 5; two fee yellows
        # 10 capped at 8. Deduction 13. Finished Y1 (late) and Y2 (on time, 1 working day left: not early).
        finding("Y1", "TIME_DEEMED_APPROVAL", "time", "yellow", "s-c1", "CD-1", "510104", 6),
        finding("Y2", "FEE_ON_FREE_ITEM", "fee", "yellow", "s-c1", "CD-1", "510104", 8),
        finding("Y2", "FEE_OVER_STANDARD", "fee", "yellow", "s-c1", "CD-1", "510104", 8),
        # CD-2, Qingyang 510105 (city 510100): open case X4 yellow 5 + red 10 = 15, capped at 14; X1 a
        # procedure yellow 5. Deduction 19. Finished X1, X2, X3, all on time, X1 and X2 early.
        finding("X4", "TIME_DECISION_OVERDUE", "time", "yellow", "s-d2", "CD-2", "510105", 9),
        finding("X4", "TIME_DECISION_RED", "time", "red", "s-d2", "CD-2", "510105", 10),
        finding("X1", "PROC_STAGE_SKIPPED", "procedure", "yellow", "s-d1", "CD-2", "510105", 2),
    ]
    snapshots = [
        snapshot("A1", "DZ-1", "511702", "s-a1", finished=None, deadline=30),
        snapshot("Y1", "CD-1", "510104", "s-c1", finished=at(10), deadline=5, outcome="deemed_approved"),
        snapshot("Y2", "CD-1", "510104", "s-c1", finished=at(11), deadline=12),
        snapshot("X1", "CD-2", "510105", "s-d1", finished=at(5), deadline=30),  # 17 WD left: early
        snapshot("X2", "CD-2", "510105", "s-d1", finished=at(9), deadline=30),  # 15 WD left: early
        snapshot("X3", "CD-2", "510105", "s-d1", finished=at(12), deadline=15),  # 1 WD left (15th): not early
        snapshot("X4", "CD-2", "510105", "s-d2", finished=None, deadline=10),
        # Withdrawn: closed but not finished by the office, so neither on time nor late.
        snapshot("X5", "CD-2", "510105", "s-d1", finished=at(3), deadline=30, outcome="withdrawn"),
    ]
    case_events = [
        # Working days (start day not counted): accept 1, decision (accept->approve) 2, delivery 1.
        *events(
            "X1", "CD-2", "510105", "s-d1", ("apply", 1), ("accept", 2), ("approve", 4), ("certificate_delivered", 5)
        ),
        # accept 1st->3rd = 2nd, 3rd = 2; decision 3rd->8th = 4th, 5th, 8th = 3; delivery 8th->9th = 1.
        *events(
            "X2", "CD-2", "510105", "s-d1", ("apply", 1), ("accept", 3), ("approve", 8), ("certificate_delivered", 9)
        ),
        # accept 0 (same day), decision 1st->10th = 2,3,4,5,8,9,10 = 7, delivery 10th->12th = 11, 12 = 2.
        *events(
            "X3", "CD-2", "510105", "s-d1", ("apply", 1), ("accept", 1), ("approve", 10), ("certificate_delivered", 12)
        ),
    ]
    return {"findings": rows, "case_snapshots": snapshots, "case_events": case_events}


@pytest.fixture(scope="module")
def client(clickhouse_server: Provided) -> Iterator[Any]:
    c = fresh_database(clickhouse_server.address, DB)
    for table, rows in fixture_rows().items():
        insert(c, table, rows)
    refresh_board(c)  # `esup rankings` reads the scoreboard
    yield c
    c.disconnect()


RANK_COLUMNS = "rank, department_id, score, on_time_rate, notices, yellows, reds, deemed_approvals, cases_finished"


def ranking(
    client: Any,
    level: str,
    region: str,
    kind: str = "department",
    columns: str = RANK_COLUMNS,
    period: str = "month",
    start: date = JUNE,
) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in client.execute(
            f"SELECT {columns} FROM rankings_{kind} WHERE period = %(p)s AND period_start = %(s)s "
            "AND level = %(l)s AND region = %(r)s ORDER BY rank",
            {"p": period, "s": start, "l": level, "r": region},
        )
    ]


def test_province_ranking_by_score_then_on_time_rate_then_id(client: Any) -> None:
    assert ranking(client, "province", "510000") == [
        # 100 - 11 = 89; no finished case, on-time rate none; DZ-1 < DZ-2 breaks the tie.
        (1, "DZ-1", 89.0, None, 6, 1, 0, 0, 0),
        (2, "DZ-2", 89.0, None, 4, 2, 0, 0, 0),
        # 100 - 19 + bonus: 2 of 3 early = 66 % -> 6 full tens -> +6 = 87; on time 3/3.
        (3, "CD-2", 87.0, 1.0, 0, 2, 1, 0, 3),
        # 100 - 13 + 0 (no early case) = 87, the same score: on time 1/2 = 0.5 < 1.0 ranks it after CD-2
        # although its id is smaller.
        (4, "CD-1", 87.0, 0.5, 0, 3, 0, 1, 2),
    ]


def test_city_and_county_rankings_use_the_region_code(client: Any) -> None:
    assert [r[:3] for r in ranking(client, "city", "511700")] == [(1, "DZ-1", 89.0), (2, "DZ-2", 89.0)]
    assert [r[:3] for r in ranking(client, "city", "510100")] == [(1, "CD-2", 87.0), (2, "CD-1", 87.0)]
    assert [r[:3] for r in ranking(client, "county", "510104")] == [(1, "CD-1", 87.0)]
    assert ranking(client, "county", "510199") == []


def test_deductions_bonus_and_working_days_per_stage(client: Any) -> None:
    rows = client.execute(
        "SELECT deduction_time_limits, deduction_procedure, deduction_fees, deduction, bonus, cases_early, "
        "cat_time, cat_procedure, avg_wd_accept, avg_wd_review, avg_wd_decision, avg_wd_delivery "
        "FROM scores_department WHERE period = 'month' AND period_start = %(s)s AND level = 'county' "
        "AND department_id = 'CD-2'",
        {"s": JUNE},
    )
    ((time_cap, proc, fees, total, bonus, early, cat_time, cat_proc, acc, rev, dec, dlv),) = rows
    assert (time_cap, proc, fees, total, bonus, early, cat_time, cat_proc) == (14.0, 5.0, 0.0, 19.0, 6.0, 2, 2, 1)
    # accept (1 + 2 + 0) / 3 = 1; no review events; decision (2 + 3 + 7) / 3 = 4; delivery (1 + 1 + 2) / 3.
    assert (acc, rev, dec) == (1.0, None, 4.0)
    assert dlv == pytest.approx(4 / 3)


def test_staff_ranking(client: Any) -> None:
    assert ranking(client, "province", "510000", "staff", "rank, staff_id, department_id, score, on_time_rate") == [
        (1, "s-d1", "CD-2", 101.0, 1.0),  # 100 - 5 (procedure) + 6 (2 of 3 early)
        (2, "s-b1", "DZ-2", 97.0, None),  # 4 notices -> 3
        (3, "s-b2", "DZ-2", 92.0, None),  # 2 fee yellows, 10 capped at 8
        (4, "s-a1", "DZ-1", 89.0, None),  # 6 notices -> 6, fee yellow 5
        (5, "s-c1", "CD-1", 87.0, 0.5),  # 5 + 8, on time 1 of 2
        (6, "s-d2", "CD-2", 86.0, None),  # yellow 5 + red 10 = 15, capped at 14
    ]


def test_week_and_day_periods(client: Any) -> None:
    # Week of Monday 1 June: DZ-1's 6 notices fall on the 2nd-7th, its fee yellow on the 3rd.
    week = ranking(client, "county", "511702", period="week", start=date(2026, 6, 1))
    assert [r[:3] for r in week] == [(1, "DZ-1", 89.0)]
    # 2 June alone: one notice (costs nothing yet).
    day = ranking(client, "county", "511702", period="day", start=date(2026, 6, 2))
    assert [r[:5] for r in day] == [(1, "DZ-1", 100.0, None, 1)]


def test_esup_rankings_command(client: Any, clickhouse_server: Provided) -> None:
    from urllib.parse import urlsplit

    url = urlsplit(clickhouse_server.address)
    env = {
        "ESUP_CLICKHOUSE_HOST": url.hostname or "127.0.0.1",
        "ESUP_CLICKHOUSE_PORT": str(url.port or 9000),
        "ESUP_CLICKHOUSE_USER": url.username or "default",
        "ESUP_CLICKHOUSE_PASSWORD": url.password or "",
    }
    run = CliRunner().invoke(
        main, ["rankings", "--region", "510100", "--at", "2026-06-20", "--json", "--database", DB], env=env
    )
    assert run.exit_code == 0, run.output
    assert [(r["rank"], r["id"], r["score"]) for r in json.loads(run.output)] == [(1, "CD-2", 87.0), (2, "CD-1", 87.0)]
    table = CliRunner().invoke(
        main, ["rankings", "--by", "staff", "--region", "510000", "--at", "2026-06-20", "--database", DB], env=env
    )
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[1].split() == [
        "rank",
        "staff",
        "department",
        "region",
        "score",
        "on-time",
        "notice",
        "yellow",
        "red",
        "deemed",
    ]
    assert lines[3].split() == ["1", "s-d1", "CD-2", "510000", "101.00", "100%", "0", "1", "0", "0"]
