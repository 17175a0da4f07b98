"""`esup case`: the terminal drill-down shows each clock's used and remaining days, pauses and evidence."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rich.console import Console

from esup.cli.case import render
from sinks.case_view import Case, Clock, Event, Finding

TZ = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 6, day, hour, tzinfo=TZ)


def sample() -> Case:
    case = Case(
        "C-1",
        {
            "case_id": "C-1",
            "item_code": "ITEM",
            "department_id": "511702-GA",
            "region_code": "511702",
            "stage": "accepted",
            "outcome": None,
            "open": 1,
            "responsible_staff": "s-1",
            "first_staff": "s-0",
            "updated_at": at(20),
        },
        "达州市通川区公安局",
    )
    case.clocks = [
        Clock("decision", "2026-06-02", 20, 10, 33, None, False, False),
        Clock("accept", "2026-06-01", 5, 0, 1, "2026-06-08T23:59:59+08:00", False, True),
    ]
    case.events = [
        Event("e1", at(1), "apply", "s-0", {}),
        Event("e2", at(2), "accept", "s-1", {}),
        Event("e3", at(3), "suspend", "s-1", {"procedure": "hearing", "reason": "听证"}),
        Event("e4", at(10), "resume", "s-1", {}),
        Event("e5", at(11), "extend", "s-1", {"days": 10, "approver_id": "boss"}),
    ]
    case.findings = [
        Finding(
            "F1",
            at(19, 0),
            "TIME_DECISION_OVERDUE",
            "yellow",
            "overdue",
            "决定超期",
            "s-1",
            "《行政许可法》第四十二条",
            None,
            False,
            ("e2", "e9"),
        )
    ]
    return case


def screen(case: Case) -> str:
    console = Console(width=220, record=True, highlight=False)
    render(case, console)
    return console.export_text()


def test_clocks_pauses_timeline_and_evidence() -> None:
    text = screen(sample())
    lines = text.splitlines()
    decision = next(line for line in lines if line.startswith("│ decision"))
    cells = [c.strip() for c in decision.split("│")]
    assert cells[3:9] == ["20", "10", "33", "-3", "-", "running"]  # limit, extension, used, remaining
    accept = [c.strip() for c in next(line for line in lines if line.startswith("│ accept")).split("│")]
    assert accept[6:9] == ["4", "2026-06-08 23:59", "stopped"]
    suspend = next(line for line in lines if "suspend" in line and "听证" in line)
    assert "2026-06-10 09:00" in suspend  # until the resume
    assert "extend" in text and "days=10" in text and "approver_id=boss" in text
    assert "达州市通川区公安局" in text and "第四十二条" in text
    assert "e2: accept 2026-06-02 09:00 s-1" in text and "e9: (not in ClickHouse)" in text


def test_a_case_without_pauses_or_findings_says_so() -> None:
    case = sample()
    case.events, case.findings = case.events[:2], []
    text = screen(case)
    assert "No suspension or extension." in text and "No finding on this case." in text
