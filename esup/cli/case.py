"""`esup case CASE_ID`: one case in the terminal (rich tables) for a supervisor without Grafana."""

from __future__ import annotations

import shutil
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from esup.params import cli_settings as _settings
from sinks.case_view import Case, Clock, Event

SEVERITY_STYLE = {"notice": "cyan", "yellow": "bold yellow", "red": "bold red"}


def _t(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def _detail(payload: dict[str, Any], limit: int = 90) -> str:
    text = ", ".join(f"{k}={v}" for k, v in payload.items() if v not in ("", None, [], {}))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def state_table(case: Case) -> Table:
    """The case's current state: item, department, stage, outcome, staff, deadlines and calendar version."""
    s = case.state
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    dept = " ".join(x for x in (str(s.get("department_id", "")), case.department_name) if x) or "-"
    rows = [
        ("item", s.get("item_code")),
        ("department", dept),
        ("region", s.get("region_code")),
        ("stage", s.get("stage")),
        ("outcome", s.get("outcome")),
        ("open", None if "open" not in s else "yes" if s["open"] else "no"),
        ("responsible / first staff", f"{s.get('responsible_staff', '-')} / {s.get('first_staff', '-')}"),
        ("decision deadline", _t(s.get("decision_deadline"))),
        ("next due", _t(s.get("next_due"))),
        ("last event", _t(s.get("last_event_at"))),
        ("calendar", f"{s.get('calendar_version', '-')}" + (" (provisional)" if s.get("provisional") else "")),
        ("as of", _t(s.get("updated_at"))),
    ]
    for k, v in rows:
        grid.add_row(k, _t(v))
    return grid


def clocks_table(clocks: list[Clock]) -> Table:
    """The case's clocks in working days; overdue clocks in red, those with two days or less left in yellow."""
    t = Table(title="Clocks (working days; the start day is not counted)", title_justify="left")
    for col in ("clock", "started", "limit", "extension", "used", "remaining", "deadline", "state"):
        t.add_column(col, justify="right" if col in ("limit", "extension", "used", "remaining") else "left")
    for c in clocks:
        left = c.remaining_wd
        style = "bold red" if left < 0 else "yellow" if left <= 2 and not c.stopped else ""
        deadline = "suspended" if c.deadline is None and c.suspended else (c.deadline or "-")[:16].replace("T", " ")
        t.add_row(
            c.name,
            c.start,
            str(c.limit_wd),
            str(c.extension_wd),
            str(c.used_wd),
            f"[{style}]{left}[/]" if style else str(left),
            deadline,
            c.state,
        )
    return t


def pauses_table(events: list[Event]) -> Table:
    """The suspensions (with when each was resumed) and extensions of a case."""
    t = Table(title="Suspensions and extensions (arts. 42, 45)", title_justify="left")
    for col in ("time", "what", "staff", "until", "detail"):
        t.add_column(col)
    for i, e in enumerate(events):
        until = ""
        if e.kind == "suspend":
            resumed = next((r for r in events[i + 1 :] if r.kind == "resume"), None)
            until = _t(resumed.occurred_at) if resumed else "still suspended"
        t.add_row(_t(e.occurred_at), e.kind, e.staff_id, until, _detail(e.payload))
    return t


def timeline_table(case: Case) -> Table:
    """The case's events and findings in one timeline, each finding after the events of its time."""
    t = Table(title="Timeline", title_justify="left")
    for col in ("time", "", "what", "staff", "detail"):
        t.add_column(col)
    entries: list[tuple[datetime, int, list[str]]] = [
        (e.occurred_at, 0, [_t(e.occurred_at), "event", e.kind, e.staff_id, _detail(e.payload)]) for e in case.events
    ]
    for f in case.findings:
        style = SEVERITY_STYLE.get(f.severity, "")
        entries.append(
            (
                f.detected_at,
                1,
                [
                    _t(f.detected_at),
                    f"[{style}]{f.severity}[/]" if style else f.severity,
                    f.rule,
                    f.staff_id,
                    f.message,
                ],
            )
        )
    for _, _, row in sorted(entries, key=lambda x: (x[0], x[1])):
        t.add_row(*row)
    return t


def findings_table(case: Case) -> Table:
    """Each finding with its law article and deadline, and the events it cites as evidence."""
    t = Table(title="Findings and their evidence", title_justify="left", show_lines=True)
    for col in ("detected", "rule", "severity", "law", "deadline", "message", "evidence"):
        t.add_column(col)
    for f in case.findings:
        evidence = []
        for eid in f.evidence:
            e = case.event(eid)
            evidence.append(f"{eid}: {e.kind} {_t(e.occurred_at)} {e.staff_id}" if e else f"{eid}: (not in ClickHouse)")
        style = SEVERITY_STYLE.get(f.severity, "")
        t.add_row(
            _t(f.detected_at),
            f.rule,
            f"[{style}]{f.severity}[/]" if style else f.severity,
            f.law_article or "-",
            _t(f.deadline) + (" (provisional)" if f.provisional else ""),
            f.message,
            "\n".join(evidence) or "-",
        )
    return t


def render(case: Case, console: Console) -> None:
    """Print the whole case: state, clocks, suspensions, timeline and findings."""
    console.rule(f"[bold]Case {case.case_id}")
    console.print(state_table(case))
    if case.clocks:
        console.print(clocks_table(case.clocks))
    pauses = case.pauses
    console.print(pauses_table(pauses) if pauses else "No suspension or extension.")
    console.print(timeline_table(case))
    console.print(findings_table(case) if case.findings else "No finding on this case.")


@click.command("case")
@click.argument("case_id")
@click.option("--database", default=None, help="database (default: ESUP_CLICKHOUSE_DATABASE)")
@click.option("--width", type=click.IntRange(60, 400), default=None, help="columns (default: the terminal's)")
def case(case_id: str, database: str | None, width: int | None) -> None:
    """One case: its state, each clock's used and remaining working days, suspensions and extensions, the
    timeline of events and findings, and each finding's evidence.

    \b
      esup case 511702-ZJ-2026-00042
    """
    from sinks.case_view import load
    from sinks.clickhouse import connect

    s = _settings()
    client = connect(s, database or s.clickhouse_database, role="reader")
    try:
        found = load(client, case_id)
    except Exception as exc:  # connection refused, tables missing…
        raise click.ClickException(
            f"ClickHouse at {s.clickhouse_host}:{s.clickhouse_port}: "
            f"{type(exc).__name__}: {exc} (has `esup db migrate` run?)"
        ) from None
    finally:
        client.disconnect()
    if found is None:
        raise click.ClickException(f"no case {case_id!r} in {database or s.clickhouse_database}")
    render(found, Console(width=width or shutil.get_terminal_size((140, 40)).columns, highlight=False))
