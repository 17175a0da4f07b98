"""The reference evaluation: a batch of events, case by case in event-time order, timers run to ``at``;
then the cross-case check (withdraw-and-reapply) over the facts every case gave.

``esup evaluate`` prints what this returns; the streaming pipeline is checked against it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from schemas.events import CaseEvent, occurred_sort_key
from schemas.findings import Finding
from streams.rules.clocks import due
from streams.rules.context import Context
from streams.rules.engine import step
from streams.rules.integrity import foreign_department
from streams.rules.reapply import Fact, case_facts, cross_case
from streams.rules.state import CaseState


class Timeline(Protocol):
    """Configurations adopted from moments (streams.configs.Contexts): the context in effect at a moment, and the
    last moments before each boundary in (after, now]."""

    def at(self, moment: datetime) -> Context:
        """The context in effect at ``moment``."""

    def crossings(self, now: datetime, after: datetime | None = None) -> list[datetime]:
        """The last moment before each configuration boundary in (``after``, ``now``]."""


def run_timers(
    state: CaseState, now: datetime, ctx: Context, timeline: Timeline | None
) -> tuple[CaseState, list[Finding]]:
    """The case's timers up to ``now``; with a timeline, those due before each boundary since the case's last
    event under the configuration in effect then, the rest under the one in effect at ``now`` (as the workers)."""
    if timeline is None:
        return due(state, now, ctx)
    found: list[Finding] = []
    for before in timeline.crossings(now, state.last_event_at):
        state, fired = due(state, before, timeline.at(before))
        found += fired
    state, fired = due(state, now, timeline.at(now))
    return state, found + fired


@dataclass
class Evaluation:
    """The reference evaluation's result: findings, each case's state, the time timers ran to, refused events, facts."""

    findings: list[Finding] = field(default_factory=list)
    states: dict[str, CaseState] = field(default_factory=dict)
    at: datetime | None = None
    refused: list[CaseEvent] = field(default_factory=list)  # another department's events on a case
    facts: list[Fact] = field(default_factory=list)  # applications and withdrawals, for the cross-case check


def finding_order(f: Finding) -> tuple[datetime, str, str, str]:
    """Sort key of findings: detection time, case, rule, id."""
    return (f.detected_at, f.case_id, f.rule, f.finding_id)


def evaluate(
    events: Iterable[CaseEvent], ctx: Context, at: datetime | None = None, timeline: Timeline | None = None
) -> Evaluation:
    """Evaluate every case; events after ``at`` are left out, timers fire up to ``at``; ``timeline``: the
    configurations adopted from moments (each step judged under the one in effect at its moment)."""
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
        state, found = judge_case(by_case[case_id], ctx, result.refused, result.facts, timeline)
        result.findings.extend(found)
        assert until is not None
        state, found = run_timers(state, until, ctx, timeline)
        result.findings.extend(found)
        result.states[case_id] = state
    # After every case: it spans cases; each pair under the configuration in effect at its moment.
    result.findings.extend(cross_case(result.facts, ctx if timeline is None else timeline.at))
    result.findings.sort(key=finding_order)
    return result


def judge_case(
    events: list[CaseEvent],
    ctx: Context,
    refused: list[CaseEvent],
    facts: list[Fact],
    timeline: Timeline | None = None,
) -> tuple[CaseState, list[Finding]]:
    """One case's events in event-time order (timers not run past the last): its state and findings; another
    department's events go to ``refused``, the case's application and withdrawal facts to ``facts``."""
    state: CaseState | None = None
    findings: list[Finding] = []
    for e in sorted(events, key=occurred_sort_key):
        if foreign_department(state, e) is not None:
            refused.append(e)  # the stream dead-letters it
            continue
        applied = state is not None and state.applied_at is not None
        withdrawn = state is not None and state.outcome == "withdrawn"
        if timeline is not None and state is not None:  # timers due before a boundary: the old configuration
            for before in timeline.crossings(e.occurred_at, state.last_event_at):
                state, fired = due(state, before, timeline.at(before))
                findings.extend(fired)
        state, found = step(state, e, ctx if timeline is None else timeline.at(e.occurred_at))
        findings.extend(found)
        facts.extend(case_facts(applied, withdrawn, state, e))
    assert state is not None
    return state, findings
