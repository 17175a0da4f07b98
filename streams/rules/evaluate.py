"""The reference evaluation: a batch of events, case by case in event-time order, timers run to ``at``.

``esup evaluate`` prints what this returns; the streaming pipeline is checked against it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from schemas.events import CaseEvent, occurred_sort_key
from schemas.findings import Finding
from streams.rules.clocks import due
from streams.rules.context import Context
from streams.rules.engine import step
from streams.rules.integrity import foreign_department
from streams.rules.state import CaseState


@dataclass
class Evaluation:
    findings: list[Finding] = field(default_factory=list)
    states: dict[str, CaseState] = field(default_factory=dict)
    at: datetime | None = None
    refused: list[CaseEvent] = field(default_factory=list)  # another department's events on a case


def finding_order(f: Finding) -> tuple[datetime, str, str, str]:
    return (f.detected_at, f.case_id, f.rule, f.finding_id)


def evaluate(events: Iterable[CaseEvent], ctx: Context, at: datetime | None = None) -> Evaluation:
    """Evaluate every case; events after ``at`` are left out, timers fire up to ``at``."""
    by_case: dict[str, list[CaseEvent]] = defaultdict(list)
    latest: datetime | None = None
    for e in events:
        if at is not None and e.occurred_at > at:
            continue
        by_case[e.case_id].append(e)
        if latest is None or e.occurred_at > latest:
            latest = e.occurred_at
    until = at or latest
    result = Evaluation(at=until)
    for case_id in sorted(by_case):
        state: CaseState | None = None
        for e in sorted(by_case[case_id], key=occurred_sort_key):
            if foreign_department(state, e) is not None:
                result.refused.append(e)  # the stream dead-letters it
                continue
            state, found = step(state, e, ctx)
            result.findings.extend(found)
        assert state is not None and until is not None
        state, found = due(state, until, ctx)
        result.findings.extend(found)
        result.states[case_id] = state
    result.findings.sort(key=finding_order)
    return result
