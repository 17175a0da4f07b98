"""The working-day SQL of the views counts exactly what the rules engine's calendar counts (art. 82)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest

from esup.stack.servers import Provided
from sinks.clickhouse import connect_url
from sinks.workdays_sql import workdays_between_sql
from streams.rules import WorkCalendar

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(clickhouse_server: Provided) -> Any:
    return connect_url(clickhouse_server.address, "default")


def test_workdays_between_matches_the_calendar(client: Any) -> None:
    cal = WorkCalendar()
    rnd = random.Random(82)
    # Random pairs over 2024-2027, plus the spans of Spring Festival and National Day 2026 (调休 weekends).
    pairs = [
        (date(2026, 2, 10), date(2026, 2, 28)),
        (date(2026, 9, 25), date(2026, 10, 12)),
        (date(2026, 10, 12), date(2026, 9, 25)),
        (date(2026, 3, 2), date(2026, 3, 2)),
    ]
    for _ in range(400):
        a = date(2024, 1, 1) + timedelta(days=rnd.randrange(0, 4 * 365))
        pairs.append((a, a + timedelta(days=rnd.randrange(-3, 90))))
    sql = workdays_between_sql("a", "b", cal, (2024, 2027))
    rows = client.execute(
        f"SELECT a, b, {sql} FROM (SELECT toDate(tupleElement(p, 1)) AS a, toDate(tupleElement(p, 2)) AS b "
        "FROM system.one ARRAY JOIN %(pairs)s AS p)",
        {"pairs": [(a.isoformat(), b.isoformat()) for a, b in pairs]},
    )
    assert len(rows) == len(pairs)
    wrong = [(a, b, got, cal.workdays_between(a, b)) for a, b, got in rows if got != cal.workdays_between(a, b)]
    assert not wrong
