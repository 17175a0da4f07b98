"""The bulletin's pure parts: months, the staff table's two ends, escaping, an empty month."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bulletin.data import Bulletin, month_start, months_back, staff_extremes
from bulletin.render import department_table, html
from sinks.rankings import RankRow

TZ = ZoneInfo("Asia/Shanghai")


def row(i: int, **kw: object) -> RankRow:
    return RankRow("511700", i + 1, f"D{i}", f"D{i}", 100.0 - i, None, 0, 0, 0, 0, 0, **kw)  # type: ignore[arg-type]


def bulletin(departments: list[RankRow], staff: list[RankRow] | None = None) -> Bulletin:
    return Bulletin(date(2026, 11, 1), None, "v1", [("time_limits", "时限")], departments, staff or [], {}, {}, [], [])


def test_months() -> None:
    assert month_start("2026-11") == date(2026, 11, 1)
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_start("11/2026")
    assert months_back(date(2026, 2, 1), 4) == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]


def test_the_staff_table_names_the_best_and_the_lowest_ten() -> None:
    staff = [row(i) for i in range(50)]
    picked = staff_extremes(bulletin([], staff))
    assert [r.rank for r in picked] == [*range(1, 11), *range(41, 51)]


def test_names_are_escaped_and_an_empty_month_says_so() -> None:
    page = html(bulletin([row(0, name="<script>alert(1)</script>")]), datetime(2026, 12, 1, tzinfo=TZ))
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "（无）" in html(bulletin([]), datetime(2026, 12, 1, tzinfo=TZ))


def test_a_department_without_deductions_shows_zero_under_each_heading() -> None:
    rows = department_table(bulletin([row(0)]))
    assert rows[0][-1] == "时限扣分" and rows[1][-1] == "0" and rows[1][2] == "100.00" and rows[1][3] == "—"
