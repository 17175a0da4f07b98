"""Builds the case snapshot (stage, deadlines, working days used, responsibility) from a case's state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from schemas.snapshots import CaseSnapshot, ClockView
from streams.rules.calendar import end_of_day, local_date
from streams.rules.clocks import allowed, counted_day, deadline_of, next_due, used_workdays
from streams.rules.context import Context
from streams.rules.state import STAGE_NAMES, CaseState


class _Unset:
    pass


UNSET = _Unset()


def snapshot_dict(
    state: CaseState, as_of: datetime, ctx: Context, *, due: datetime | _Unset | None = UNSET
) -> dict[str, Any]:
    """The snapshot's fields as plain values (the worker serialises them directly, once per changed case)."""
    today = local_date(as_of)
    views = []
    provisional = False
    for clock in state.clocks.values():
        last = deadline_of(clock, ctx)
        promised = counted_day(clock, allowed(clock), ctx) if clock.promised is not None else None
        if last is not None:
            provisional = provisional or ctx.calendar.provisional_between(clock.start, last)
        views.append(
            {
                "name": clock.name,
                "start": clock.start.isoformat(),
                "deadline": end_of_day(last) if last else None,
                "promised_deadline": end_of_day(promised) if promised else None,
                "working_days_used": used_workdays(clock, max(min(today, clock.stopped_on or today), clock.start), ctx),
                "limit_wd": clock.statutory,
                "extension_wd": clock.extension,
                "suspended": clock.suspended,
                "stopped": clock.stopped,
            }
        )
    return {
        "case_id": state.case_id,
        "item_code": state.item_code,
        "department_id": state.department_id,
        "region_code": state.region_code,
        "responsible_staff": state.responsible_staff,
        "first_staff": state.first_staff,
        "stage": STAGE_NAMES[state.stage],
        "outcome": state.outcome,
        "open": not state.closed,
        "deemed_accepted": state.deemed_accepted,
        "clocks": views,
        "next_due": next_due(state, ctx) if isinstance(due, _Unset) else due,
        "last_event_at": state.last_event_at,
        "as_of": as_of,
        "provisional": provisional,
        "calendar_version": ctx.calendar.version,
        "version": state.seq,
    }


def snapshot_json(state: CaseState, as_of: datetime, ctx: Context, *, due: datetime | _Unset | None = UNSET) -> bytes:
    """The snapshot as the JSON `CaseSnapshot` reads, without building the model (orjson: ~10x faster)."""
    return orjson.dumps(snapshot_dict(state, as_of, ctx, due=due))


def snapshot(state: CaseState, as_of: datetime, ctx: Context, *, due: datetime | _Unset | None = UNSET) -> CaseSnapshot:
    """The case as of ``as_of``; pass ``due`` when the caller already computed the next due moment.

    Built with ``model_construct``: every value comes from validated state.
    """
    d = snapshot_dict(state, as_of, ctx, due=due)
    d["clocks"] = [ClockView.model_construct(**c) for c in d["clocks"]]
    return CaseSnapshot.model_construct(**d)
