"""One case as ClickHouse holds it, for `esup case`: state, clocks, events, suspensions, findings and evidence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sinks.departments import TABLE as DEPARTMENTS

# The events that stop or lengthen a clock (arts. 42, 45): the supervisor's first question on a late case.
PAUSES = ("suspend", "resume", "extend")


@dataclass(frozen=True)
class Clock:
    """One of the case's clocks as its snapshot holds it: period, extension, days used, deadline, paused or not."""

    name: str
    start: str
    limit_wd: int
    extension_wd: int
    used_wd: int
    deadline: str | None
    suspended: bool
    stopped: bool

    @property
    def remaining_wd(self) -> int:
        """Working days left of the period (with its extension); negative once overdue."""
        return self.limit_wd + self.extension_wd - self.used_wd

    @property
    def state(self) -> str:
        """The clock's state in one word: stopped, suspended or running."""
        return "stopped" if self.stopped else "suspended" if self.suspended else "running"


@dataclass(frozen=True)
class Event:
    """One of the case's events as `case_events` holds it."""

    event_id: str
    occurred_at: datetime
    kind: str
    staff_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Finding:
    """One finding on the case as `findings` holds it, with the ids of its evidence events."""

    finding_id: str
    detected_at: datetime
    rule: str
    severity: str
    title: str
    message: str
    staff_id: str
    law_article: str | None
    deadline: datetime | None
    provisional: bool
    evidence: tuple[str, ...]


@dataclass
class Case:
    """Everything `esup case` shows of one case: its snapshot row, department name, clocks, events and findings."""

    case_id: str
    state: dict[str, Any]  # the case_snapshots row (without clocks)
    department_name: str
    clocks: list[Clock] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def event(self, event_id: str) -> Event | None:
        """The case's event with this id; None when the case has none."""
        return next((e for e in self.events if e.event_id == event_id), None)

    @property
    def pauses(self) -> list[Event]:
        """The events that suspended, resumed or extended a clock, in the case's event order."""
        return [e for e in self.events if e.kind in PAUSES]


_STATE = (
    "case_id",
    "item_code",
    "department_id",
    "region_code",
    "responsible_staff",
    "first_staff",
    "stage",
    "outcome",
    "open",
    "deemed_accepted",
    "decision_deadline",
    "working_days_used",
    "next_due",
    "last_event_at",
    "provisional",
    "calendar_version",
    "updated_at",
)


def load(client: Any, case_id: str) -> Case | None:
    """The case from ClickHouse (None when neither a snapshot nor an event has it)."""
    args = {"case": case_id}
    snaps = client.execute(
        f"SELECT {', '.join(_STATE)}, clocks FROM case_snapshots FINAL WHERE case_id = %(case)s", args
    )
    events = client.execute(
        "SELECT event_id, occurred_at, kind, staff_id, payload FROM case_events FINAL "
        "WHERE case_id = %(case)s ORDER BY occurred_at, event_id",
        args,
    )
    if not snaps and not events:
        return None
    state = dict(zip(_STATE, snaps[0][:-1], strict=True)) if snaps else {"case_id": case_id}
    dept = str(state.get("department_id", ""))
    names = client.execute(f"SELECT name FROM {DEPARTMENTS} WHERE department_id = %(d)s", {"d": dept})
    case = Case(case_id, state, str(names[0][0]) if names else "")
    if snaps:
        case.clocks = [
            Clock(
                c["name"],
                c["start"],
                int(c["limit_wd"]),
                int(c["extension_wd"]),
                int(c["working_days_used"]),
                c.get("deadline"),
                bool(c["suspended"]),
                bool(c["stopped"]),
            )
            for c in json.loads(snaps[0][-1] or "[]")
        ]
    case.events = [Event(str(r[0]), r[1], str(r[2]), str(r[3]), _object(r[4])) for r in events]
    rows = client.execute(
        "SELECT finding_id, detected_at, rule, severity, title, message, staff_id, law_article, "
        "deadline, provisional, evidence_event_ids FROM findings FINAL WHERE case_id = %(case)s "
        "ORDER BY detected_at, rule",
        args,
    )
    case.findings = [
        Finding(
            str(r[0]), r[1], str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]), r[7], r[8], bool(r[9]), tuple(r[10])
        )
        for r in rows
    ]
    return case


def _object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"payload": text}
    return value if isinstance(value, dict) else {"payload": value}
