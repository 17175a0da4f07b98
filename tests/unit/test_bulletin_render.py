"""The bulletin's pure parts: months, the staff table's two ends, escaping, an empty month."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bulletin.data import Bulletin, month_start, months_back, staff_extremes
from bulletin.render import department_table, fair_table, html
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


def test_the_fair_section_stands_beside_the_official_ranking() -> None:
    """The bulletin's fifth section: the plain-words text, then each department's fair figures next to its
    official rank; a department without a licensing case to compare shows dashes, not made-up figures."""
    from sinks.fair import Cell, fair_rankings
    from sinks.fair_reader import FairEntry
    from sinks.fair_table import EXPLAIN_ZH

    cells = [Cell(f"D{i}", "ITEM", "", 20 + 10 * i, 2 + i) for i in range(3)]
    fair = {f.entity: f for f in fair_rankings(cells)}
    b = bulletin([row(0), row(1), row(2), row(3)])
    b.fair = [
        *(FairEntry(f"D{i}", f"D{i}", "510000", i + 1, 100.0 - i, fair[f"D{i}"]) for i in range(3)),
        FairEntry("D3", "D3", "510000", 4, 97.0, None),
    ]
    rows = fair_table(b)
    assert rows[0][:6] == ["公平名次", "名次范围", "并列组", "部门", "正式名次", "正式得分"]
    d1 = next(r for r in rows if r[3] == "D1")
    assert d1[4:6] == ["2", "99.00"] and d1[0] == str(fair["D1"].rank) and d1[7] == str(fair["D1"].observed)
    assert rows[-1][3:6] == ["D3", "4", "97.00"] and set(rows[-1][6:]) == {"—"}
    page = html(b, datetime(2026, 12, 1, tzinfo=TZ))
    assert page.index("一、部门排名") < page.index("五、公平比较") and EXPLAIN_ZH in page
    b.fair = None
    assert "公平比较暂不可用" in html(b, datetime(2026, 12, 1, tzinfo=TZ))
