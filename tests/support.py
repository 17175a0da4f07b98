"""Builders shared by the unit and property tests: events, catalogs and a rules context."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from schemas.catalog import Catalog, parse_catalog
from schemas.config import RuleConfig
from schemas.events import CaseEvent, parse_event
from schemas.findings import Finding
from streams.rules import Context, WorkCalendar, due, evaluate, step
from streams.rules.state import CaseState

TZ = ZoneInfo("Asia/Shanghai")
_CAL: WorkCalendar | None = None
_ids = itertools.count(1)


def calendar() -> WorkCalendar:
    global _CAL
    if _CAL is None:
        _CAL = WorkCalendar()
    return _CAL


def at(text: str) -> datetime:
    """'2026-03-02T09:00' in Asia/Shanghai."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def catalog(*items: dict[str, Any]) -> Catalog:
    base = {"code": "ITEM", "name": "测试事项", "department_id": "D1"}
    return parse_catalog({"items": [{**base, **i} for i in items] or [base]})


def context(*items: dict[str, Any], **config: Any) -> Context:
    return Context.build(calendar(), catalog(*items), RuleConfig(**config))


def event(
    kind: str,
    when: str,
    *,
    case: str = "C1",
    staff: str = "s1",
    item: str = "ITEM",
    event_id: str | None = None,
    recorded: str | None = None,
    dept: str = "D1",
    region: str = "511702",
    **payload: Any,
) -> CaseEvent:
    occurred = at(when)
    return parse_event(
        {
            "event_id": event_id or f"e{next(_ids)}",
            "case_id": case,
            "item_code": item,
            "department_id": dept,
            "region_code": region,
            "staff_id": staff,
            "kind": kind,
            "occurred_at": occurred.isoformat(),
            "recorded_at": (at(recorded) if recorded else occurred + timedelta(minutes=1)).isoformat(),
            "payload": payload,
        }
    )


def run(events: list[CaseEvent], ctx: Context, until: str | None = None) -> list[Finding]:
    """Findings of the reference evaluation, timers run to ``until`` (default: the last event)."""
    return evaluate(events, ctx, at(until) if until else None).findings


def run_state(events: list[CaseEvent], ctx: Context, until: str | None = None) -> tuple[CaseState, list[Finding]]:
    state: CaseState | None = None
    out: list[Finding] = []
    for e in events:
        state, found = step(state, e, ctx)
        out += found
    assert state is not None
    if until:
        state, found = due(state, at(until), ctx)
        out += found
    return state, out


def rules(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


def only(findings: list[Finding], rule: str) -> Finding:
    hits = [f for f in findings if f.rule == rule]
    assert len(hits) == 1, f"expected one {rule}, got {[f.rule for f in findings]}"
    return hits[0]
