"""Off-system handling (体外循环) and clock manipulation: data-quality findings for the supervisor's review.

Each is a per-case signal; none changes a clock. "Many cases entered at once" needs cross-case knowledge the
per-case engine has not got: it is read per case instead, as several back-dated events of one case recorded
within a short window (the case was entered afterwards in one go); the state holds at most ``BATCH_LIMIT``
of them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from schemas import events as ev
from schemas.findings import Finding
from streams.rules.calendar import local_date
from streams.rules.checks import event_finding
from streams.rules.clocks import suspended_days, used_workdays
from streams.rules.context import Context
from streams.rules.state import ACCEPTED, DECIDED, CaseState

BATCH_LIMIT = 16  # back-dated events remembered per case while looking for a batch


def _once(state: CaseState, code: str) -> bool:
    """True the first time ``code`` is raised on this case (and remembers it)."""
    if code in state.flagged:
        return False
    state.flagged.append(code)
    return True


def batch_entry(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    """``batch_min_events`` back-dated events recorded within ``batch_window_minutes`` of one another."""
    cfg = ctx.config
    if event.recorded_at - event.occurred_at <= timedelta(hours=cfg.backdating_hours):
        return []
    if "DQ_BATCH_ENTERED" in state.flagged:
        return []
    state.backdated.append([event.recorded_at.isoformat(), event.event_id])
    if len(state.backdated) > BATCH_LIMIT:
        del state.backdated[0]
    marks = sorted((datetime.fromisoformat(t), i) for t, i in state.backdated)
    n, window = cfg.batch_min_events, timedelta(minutes=cfg.batch_window_minutes)
    for k in range(len(marks) - n + 1):
        group = marks[k : k + n]
        if group[-1][0] - group[0][0] <= window and any(i == event.event_id for _, i in group):
            _once(state, "DQ_BATCH_ENTERED")
            state.backdated.clear()
            lag = round((event.recorded_at - event.occurred_at).total_seconds() / 3600, 1)
            return [
                event_finding(
                    state,
                    "DQ_BATCH_ENTERED",
                    event,
                    ctx,
                    f"{n} events of this case, back-dated by more than {cfg.backdating_hours} h, were recorded "
                    f"between {group[0][0].isoformat()} and {group[-1][0].isoformat()}: handled off the system "
                    "and entered afterwards",
                    evidence=[i for _, i in group if i != event.event_id],
                    details={
                        "recorded_from": group[0][0].isoformat(),
                        "recorded_to": group[-1][0].isoformat(),
                        "events": n,
                        "window_minutes": cfg.batch_window_minutes,
                        "lag_hours": lag,
                    },
                )
            ]
    return []


def decision_entry(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    """At a decision: the application recorded only at or after it, or a decision implausibly fast."""
    out: list[Finding] = []
    applied, recorded = state.applied_at, state.apply_recorded_at
    if recorded is not None and recorded >= event.occurred_at and _once(state, "DQ_APPLY_AFTER_DECISION"):
        out.append(
            event_finding(
                state,
                "DQ_APPLY_AFTER_DECISION",
                event,
                ctx,
                f"the application was recorded at {recorded.isoformat()}, not before the {event.kind} of "
                f"{event.occurred_at.isoformat()}: the case was not handled in the system",
                evidence=state.stage_events[:1],
                details={
                    "applied_at": applied.isoformat() if applied else None,
                    "apply_recorded_at": recorded.isoformat(),
                    "decided_at": event.occurred_at.isoformat(),
                    "decision": event.kind,
                },
            )
        )
    item = ctx.catalog.get(state.item_code)
    least = item.min_decision_minutes if item else None
    if event.kind == "refuse_accept" or least is None or applied is None:
        return out
    took = (event.occurred_at - applied).total_seconds() / 60
    if took < least and _once(state, "DQ_IMPLAUSIBLY_FAST"):
        out.append(
            event_finding(
                state,
                "DQ_IMPLAUSIBLY_FAST",
                event,
                ctx,
                f"{event.kind} {round(took)} min after the application; item {state.item_code} needs at least "
                f"{least} min: check whether it was handled off the system",
                evidence=state.stage_events[:1],
                details={"minutes": round(took, 1), "min_minutes": least, "applied_at": applied.isoformat()},
            )
        )
    return out


def suspension_share(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    """After the last open procedure ends: suspended working days of the decision period above the share."""
    clock = state.clocks.get("decision")
    if clock is None or "DQ_SUSPENSION_EXCESSIVE" in state.flagged:
        return []
    used = suspended_days(clock, ctx)
    share = ctx.config.suspension_share
    limit = math.floor(share * clock.statutory + 1e-9)  # decimal share: 0.7 of 10 days is 7, not 7.000…1
    if used <= limit:
        return []
    _once(state, "DQ_SUSPENSION_EXCESSIVE")
    return [
        event_finding(
            state,
            "DQ_SUSPENSION_EXCESSIVE",
            event,
            ctx,
            f"{used} working days suspended (art. 45) in a {clock.statutory}-day decision period (review above "
            f"{limit}): check each procedure's need and written notice",
            evidence=[s.event_id for s in clock.suspensions],
            details={
                "suspended_wd": used,
                "limit_wd": limit,
                "statutory_wd": clock.statutory,
                "share": share,
                "suspensions": [
                    {"start": s.start.isoformat(), "end": s.end.isoformat() if s.end else None}
                    for s in clock.suspensions
                ],
            },
        )
    ]


def supplement_after_acceptance(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    """A supplement notice once accepted: the usual way to restart a department system's clock. The law's period
    keeps running from acceptance; the finding tells the supervisor how much of it is gone."""
    clock = state.clocks.get("decision")
    if not ACCEPTED <= state.stage < DECIDED or clock is None or clock.stopped:
        return []
    used = used_workdays(clock, local_date(event.occurred_at), ctx)
    return [
        event_finding(
            state,
            "DQ_SUPPLEMENT_AFTER_ACCEPTANCE",
            event,
            ctx,
            f"materials requested after acceptance, {used} working days into the decision period: the period "
            f"is not restarted (art. 32 allows one notice, before acceptance)",
            evidence=list(clock.evidence),
            details={"decision_start": clock.start.isoformat(), "working_days_used": used},
        )
    ]
