"""A clock's milestones are memoised per context: a context with another calendar never sees them."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

from streams.rules import Context, WorkCalendar
from streams.rules.calendar import YearOverride
from streams.rules.clocks import next_due
from tests.support import at, context, event, run_state

ITEM = {"code": "ITEM", "limits": {"decision": {"statutory": 5}}}


def _due_after_acceptance(ctx: Context) -> datetime | None:
    state, _ = run_state(
        [event("apply", "2026-03-02T09:00", item="ITEM"), event("accept", "2026-03-02T10:00", item="ITEM")], ctx
    )
    return next_due(state, ctx)


def test_a_new_calendar_is_a_new_memo() -> None:
    ctx = context(ITEM)
    before = _due_after_acceptance(ctx)
    assert ctx.memo, "the milestones were memoised"
    # The rest of the week declared holidays: every deadline counted across it moves later.
    week = frozenset(date(2026, 3, d) for d in range(3, 7))
    other = dataclasses.replace(ctx, calendar=WorkCalendar(overrides={2026: YearOverride(holidays=week)}))
    assert not other.memo
    after = _due_after_acceptance(other)
    assert before is not None and after is not None and after > before
    assert _due_after_acceptance(ctx) == before  # and the first context still answers with its own calendar


def test_a_suspension_is_part_of_the_key() -> None:
    ctx = context(ITEM)
    running = _due_after_acceptance(ctx)
    state, found = run_state(
        [
            event("apply", "2026-03-02T09:00", item="ITEM"),
            event("accept", "2026-03-02T10:00", item="ITEM"),
            event("suspend", "2026-03-03T10:00", item="ITEM", procedure="hearing", reason="听证"),
            event("resume", "2026-03-10T10:00", item="ITEM"),
        ],
        ctx,
    )
    resumed = next_due(state, ctx)
    assert found == []  # the hearing held the clock: nothing was due while it ran
    assert running is not None and resumed is not None and resumed > running
    assert resumed == next_due(state, context(ITEM))  # what a context that never saw the running case says
    assert resumed == at("2026-03-14T00:00")  # the notice: 4 of 5 days, the hearing's 03-03..03-09 not counted
