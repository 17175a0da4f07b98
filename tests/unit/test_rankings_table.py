"""`esup rankings` without a server: period starts and the fixed-width table."""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner

from esup.cli import main
from sinks.rankings import RankRow, format_table, period_start


def test_period_start() -> None:
    d = date(2026, 5, 14)  # a Thursday
    assert period_start("day", d) == d
    assert period_start("week", d) == date(2026, 5, 11)
    assert period_start("month", d) == date(2026, 5, 1)
    with pytest.raises(ValueError):
        period_start("year", d)


def test_table_is_fixed_width_with_a_dash_for_no_finished_case() -> None:
    rows = [
        RankRow("511700", 1, "DZ-ZJ", "DZ-ZJ", 110.0, 1.0, 0, 0, 0, 0, 1),
        RankRow("511700", 2, "DZ-FGW", "DZ-FGW", 90.5, None, 12, 0, 1, 1, 0),
    ]
    text = format_table(rows, "department").splitlines()
    assert text[0].split() == ["rank", "department", "region", "score", "on-time", "notice", "yellow", "red", "deemed"]
    assert text[2].split() == ["1", "DZ-ZJ", "511700", "110.00", "100%", "0", "0", "0", "0"]
    assert text[3].split() == ["2", "DZ-FGW", "511700", "90.50", "-", "12", "0", "1", "1"]
    assert len({len(line) for line in text[:2]}) == 1  # header and rule line up
    assert text[2].index("110.00") + len("110.00") == text[3].index("90.50") + len("90.50")  # right-aligned


def test_staff_table_has_the_department() -> None:
    text = format_table([RankRow("510000", 1, "s-xu", "DZ-ZRZY", 97.0, 0.5, 1, 2, 0, 0, 2)], "staff")
    assert text.splitlines()[2].split() == ["1", "s-xu", "DZ-ZRZY", "510000", "97.00", "50%", "1", "2", "0", "0"]


def test_bad_region_is_refused_before_connecting() -> None:
    run = CliRunner().invoke(main, ["rankings", "--region", "51"])
    assert run.exit_code == 2 and "6-digit" in run.output


def test_names_from_the_directory_follow_the_ids() -> None:
    from sinks.rankings import with_names

    rows = with_names(
        [
            RankRow("511700", 1, "s-xu", "DZ-ZRZY", 97.0, 0.5, 1, 2, 0, 0, 2),
            RankRow("511700", 2, "s-li", "DZ-X", 90.0, None, 0, 0, 0, 0, 0),
        ],
        {"DZ-ZRZY": "达州市自然资源和规划局"},
        {"s-xu": "徐丽"},
        "staff",
    )
    text = format_table(rows, "staff").splitlines()
    assert text[0].split()[-3:] == ["name", "department", "name"]  # names last (CJK widths)
    assert text[2].split()[:3] == ["1", "s-xu", "DZ-ZRZY"]
    assert text[2].split()[-2:] == ["徐丽", "达州市自然资源和规划局"]
    assert text[3].split()[:3] == ["2", "s-li", "DZ-X"] and text[3].split()[-2:] == ["-", "-"]  # unknown: a dash
    depts = with_names(
        [RankRow("511700", 1, "DZ-ZRZY", "DZ-ZRZY", 97.0, 0.5, 1, 2, 0, 0, 2)],
        {"DZ-ZRZY": "达州市自然资源和规划局"},
        {},
        "department",
    )
    assert format_table(depts, "department").splitlines()[2].split()[-1] == "达州市自然资源和规划局"


def test_department_names_come_last_when_known() -> None:
    rows = [
        RankRow("511700", 1, "511702-GA", "511702-GA", 99.0, 1.0, 0, 0, 0, 0, 1, "达州市通川区公安局"),
        RankRow("511700", 2, "511703-GA", "511703-GA", 98.0, 1.0, 0, 0, 0, 0, 1, ""),
    ]
    text = format_table(rows, "department").splitlines()
    assert text[0].split()[-1] == "name"
    assert text[2].split() == ["1", "511702-GA", "511700", "99.00", "100%", "0", "0", "0", "0", "达州市通川区公安局"]
    assert text[3].split()[-1] == "-"  # no name known: a dash
    assert "name" not in format_table(rows[1:], "department").splitlines()[0]
