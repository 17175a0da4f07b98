"""Whether an event is new, a resend, or a conflicting resend; and whether its time can be trusted.

An event id is the department's idempotency key. The case remembers, for every event id it applied, a
digest of the event's canonical content: the same id with the same content changes nothing however old
it is; the same id with other content is a data-quality finding and the first version stands. A case
remembers at most ``EVENT_LIMIT`` ids (real cases have tens of events): further new events are not
applied and the case is flagged once, so nothing is ever re-applied silently and a row stays bounded.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal

from schemas import events as ev
from schemas.findings import Finding
from streams.rules.context import Context
from streams.rules.state import CaseState

EVENT_LIMIT = 1000

Verdict = Literal["new", "duplicate", "conflict", "over_limit"]


def digest(event: ev.CaseEvent) -> str:
    """A short digest of the event's canonical content (its wire form after validation)."""
    return hashlib.blake2b(ev.event_to_json(event).encode(), digest_size=8).hexdigest()


def classify(state: CaseState, event: ev.CaseEvent, d: str) -> Verdict:
    """Whether the event is new, a duplicate (same id and content), a conflict (other content) or over the limit."""
    known = state.seen.get(event.event_id)
    if known is not None:
        return "duplicate" if known in ("", d) else "conflict"  # "": remembered before digests were kept
    return "over_limit" if len(state.seen) >= EVENT_LIMIT else "new"


def foreign_department(state: CaseState | None, event: ev.CaseEvent) -> str | None:
    """Why an event may not touch this case, or None: a case belongs to the department of its first event
    and to each one a `refer` handed it to; another department's event (a forged withdraw, a rival's staff
    named on it) is refused whole, naming both, before it can change a clock or fire a finding."""
    if state is None:
        return None
    holders = state.holders or [state.department_id]  # rows written before holders were kept
    if event.department_id in holders:
        return None
    return (
        f"department_id: {event.department_id!r} may not write case {event.case_id!r}, which belongs to "
        f"{', '.join(repr(h) for h in holders)} (fixed by its first event; only a refer hands it over)"
    )


def conflict_finding(state: CaseState, event: ev.CaseEvent, d: str, ctx: Context) -> Finding:
    """The same event id resent with other content: the first version stands; both are evidence."""
    from streams.rules.checks import event_finding

    return event_finding(
        state,
        "DQ_CONFLICTING_RESEND",
        event,
        ctx,
        f"event {event.event_id} resent with different content; the first version stands",
        suffix=f"#{d}",
        details={
            "first_digest": state.seen[event.event_id],
            "resent_digest": d,
            "resent": ev.event_to_json(event)[:4000],
        },
    )


def limit_finding(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    """Once per case: it reached the bound of remembered events; later new events are not applied."""
    from streams.rules.checks import event_finding

    if "DQ_EVENT_LIMIT" in state.flagged:
        return []
    state.flagged.append("DQ_EVENT_LIMIT")
    return [
        event_finding(
            state,
            "DQ_EVENT_LIMIT",
            event,
            ctx,
            f"case reached {EVENT_LIMIT} events: later events are refused for review, not applied",
            details={"limit": EVENT_LIMIT},
        )
    ]


def ahead_of_receipt(
    state: CaseState, event: ev.CaseEvent, received_at: datetime, tolerance: timedelta, ctx: Context
) -> list[Finding]:
    """The event claims a time after the broker received it (plus ``tolerance``): it cannot have happened
    yet. Flagged; the caller does not let such a time move the event clock."""
    from streams.rules.checks import event_finding

    ahead = event.occurred_at - received_at
    if ahead <= tolerance:
        return []
    minutes = round(ahead.total_seconds() / 60, 1)
    return [
        event_finding(
            state,
            "DQ_AHEAD_OF_RECEIPT",
            event,
            ctx,
            f"{event.kind} dated {minutes} min after the platform received it",
            details={
                "received_at": received_at.isoformat(),
                "ahead_minutes": minutes,
                "tolerance_s": tolerance.total_seconds(),
            },
        )
    ]
