"""Event-triggered checks: fees (arts. 58-59), conditions (art. 38), extensions (art. 42),
suspensions (art. 45) and data quality. Each returns the findings one event raises."""

from __future__ import annotations

from datetime import timedelta

from schemas import events as ev
from schemas.findings import Finding
from streams.rules.calendar import end_of_day, local_date
from streams.rules.clocks import deadline_of, settle_notice
from streams.rules.context import Context
from streams.rules.state import CaseState, Clock


def event_finding(
    state: CaseState,
    code: str,
    event: ev.CaseEvent,
    ctx: Context,
    message: str,
    evidence: list[str] | None = None,
    suffix: str = "",
    **kw: object,
) -> Finding:
    """A finding an event raises: detected at its time, attributed to who acted, the event last in evidence."""
    return ctx.finding(
        state,
        code,
        occurrence=event.event_id + suffix,
        detected_at=event.occurred_at,
        evidence=[*(evidence or []), event.event_id],
        staff_id=event.staff_id,
        department_id=event.department_id,
        message=message,
        **kw,  # type: ignore[arg-type]
    )


def data_quality(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    """Any event's data-quality findings: back-dated or future-dated, and (once per case) an item not in the catalog."""
    out: list[Finding] = []
    cfg = ctx.config
    lag = event.recorded_at - event.occurred_at
    if lag > timedelta(hours=cfg.backdating_hours):
        hours = round(lag.total_seconds() / 3600, 1)
        out.append(
            event_finding(
                state,
                "DQ_BACKDATED",
                event,
                ctx,
                f"{event.kind} recorded {hours} h after it occurred (limit {cfg.backdating_hours} h)",
                details={"lag_hours": hours, "limit_hours": cfg.backdating_hours},
            )
        )
    elif -lag > timedelta(minutes=cfg.future_tolerance_minutes):
        minutes = round(-lag.total_seconds() / 60, 1)
        out.append(
            event_finding(
                state,
                "DQ_FUTURE_DATED",
                event,
                ctx,
                f"{event.kind} occurs {minutes} min after it was recorded",
                details={"ahead_minutes": minutes},
            )
        )
    if "DQ_UNKNOWN_ITEM" not in state.flagged and ctx.catalog.get(state.item_code) is None:
        state.flagged.append("DQ_UNKNOWN_ITEM")
        out.append(
            ctx.finding(
                state,
                "DQ_UNKNOWN_ITEM",
                occurrence="item",
                detected_at=event.occurred_at,
                evidence=[event.event_id],
                staff_id=event.staff_id,
                department_id=event.department_id,
                message=f"item {state.item_code!r} is not in the catalog: statutory defaults applied",
            )
        )
    return out


def fee(state: CaseState, event: ev.FeeCharged, ctx: Context) -> list[Finding]:
    """Fee findings (arts. 58-59): a fee on a free item, not listed, over the standard, or charged twice."""
    out: list[Finding] = []
    p = event.payload
    item = ctx.catalog.get(state.item_code)
    details = {"fee_code": p.fee_code, "amount_fen": p.amount_fen}
    if item is not None and p.amount_fen > 0:
        if not item.fees:
            out.append(
                event_finding(
                    state,
                    "FEE_ON_FREE_ITEM",
                    event,
                    ctx,
                    f"{p.amount_fen} fen charged as {p.fee_code!r} on a free item (no legal fee basis)",
                    details=details,
                )
            )
        else:
            standard = item.fee(p.fee_code)
            if standard is None:
                out.append(
                    event_finding(
                        state,
                        "FEE_NOT_LISTED",
                        event,
                        ctx,
                        f"fee {p.fee_code!r} is not a published fee of item {item.code}",
                        details={**details, "allowed": [f.code for f in item.fees]},
                    )
                )
            elif p.amount_fen > standard.standard_fen:
                out.append(
                    event_finding(
                        state,
                        "FEE_OVER_STANDARD",
                        event,
                        ctx,
                        f"fee {p.fee_code!r}: {p.amount_fen} fen charged, standard {standard.standard_fen} fen",
                        details={**details, "standard_fen": standard.standard_fen, "basis": standard.basis},
                    )
                )
    if p.fee_code in state.fee_codes:
        out.append(
            event_finding(
                state,
                "FEE_DUPLICATE",
                event,
                ctx,
                f"fee {p.fee_code!r} charged a second time on this case",
                details=details,
            )
        )
    else:
        if len(state.fee_codes) < 500:  # engine.LIST_LIMIT: a case past it is flagged by the engine
            state.fee_codes.append(p.fee_code)
    return out


def approval(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    """An approval's findings: reviewer as approver where forbidden, required materials missing, conditions unmet."""
    out: list[Finding] = []
    item = ctx.catalog.get(state.item_code)
    if item is None:
        return out
    if item.separate_review_approval and event.staff_id in state.reviewers:
        out.append(
            event_finding(
                state,
                "PROC_SAME_REVIEWER_APPROVER",
                event,
                ctx,
                f"{event.staff_id} both reviewed and approved; item {item.code} requires separate staff",
                evidence=list(state.stage_events),
            )
        )
    missing = [m for m in item.required_materials if m not in state.materials]
    if missing:
        out.append(
            event_finding(
                state,
                "COND_MATERIALS_MISSING",
                event,
                ctx,
                f"approved without required materials: {', '.join(missing)}",
                evidence=list(state.stage_events),
                details={"missing": missing},
            )
        )
    unmet = [c for c in item.required_conditions if c not in state.conditions]
    if unmet:
        out.append(
            event_finding(
                state,
                "COND_CONDITIONS_UNMET",
                event,
                ctx,
                f"approved without verifying conditions: {', '.join(unmet)}",
                evidence=list(state.stage_events),
                details={"unmet": unmet},
            )
        )
    return out


def suspendable(state: CaseState) -> list[Clock]:
    """Art. 45 stops the periods of its section (arts. 42-44), not the acceptance period of art. 32."""
    return [c for c in state.active_clocks() if c.name != "accept"]


def suspension(state: CaseState, event: ev.Suspend, ctx: Context) -> list[Finding]:
    """Findings on a suspension (art. 45): no period running, no procedure or reason, applicant not told in writing."""
    out: list[Finding] = []
    if not suspendable(state):
        out.append(
            event_finding(
                state,
                "PROC_STAGE_ORDER",
                event,
                ctx,
                "suspension with no legal period running",
                evidence=list(state.stage_events),
                details={"kind": event.kind},
            )
        )
        return out
    p = event.payload
    if p.procedure is None or not p.reason:
        what = "procedure" if p.procedure is None else "reason"
        out.append(
            event_finding(
                state,
                "PROC_SUSPENSION_NO_REASON",
                event,
                ctx,
                f"time suspended without its {what}: the clock keeps running (art. 45 lists the procedures)",
            )
        )
    elif not p.applicant_notified:
        out.append(
            event_finding(
                state,
                "PROC_SUSPENSION_NOT_NOTIFIED",
                event,
                ctx,
                f"{p.procedure.value} suspension: the applicant was not told in writing",
            )
        )
    return out


def extension(state: CaseState, event: ev.Extend, ctx: Context) -> list[Finding]:
    """Art. 42: one extension, of at most the item's maximum, approved by the head, before the deadline."""
    p = event.payload
    clock = state.clocks.get("decision")
    if clock is None or clock.stopped:
        return [
            event_finding(
                state,
                "PROC_STAGE_ORDER",
                event,
                ctx,
                "extension with no decision period running",
                evidence=list(state.stage_events),
                details={"kind": event.kind},
            )
        ]
    out: list[Finding] = []
    day = local_date(event.occurred_at)
    last = deadline_of(clock, ctx)
    base: dict[str, object] = {"requested_wd": p.days, "max_wd": clock.max_extension}
    if last is not None:
        base["deadline"] = end_of_day(last).isoformat()
    evidence = list(clock.evidence)
    lawful = True
    if clock.extensions >= 1:
        lawful = False
        out.append(
            event_finding(
                state,
                "PROC_EXTENSION_REPEATED",
                event,
                ctx,
                "a second extension: the law allows one",
                evidence=evidence,
                details=base,
            )
        )
    if not p.approver_id or p.approver_id == event.staff_id:
        lawful = False
        out.append(
            event_finding(
                state,
                "PROC_EXTENSION_NO_APPROVER",
                event,
                ctx,
                "extension without approval by the head of the office",
                evidence=evidence,
                details=base,
            )
        )
    if last is not None and day > last:
        lawful = False
        out.append(
            event_finding(
                state,
                "PROC_EXTENSION_LATE",
                event,
                ctx,
                f"extension on {day} after the deadline {last}",
                evidence=evidence,
                details=base,
                deadline=end_of_day(last),
                provisional=ctx.calendar.provisional_between(clock.start, last),
            )
        )
    days = p.days
    # Art. 42 ¶1: "经本行政机关负责人批准，可以延长十日" — the head's approval lawfully extends the period by at most
    # the maximum. An approved, timely first extension asking for more is unlawful only in its excess: it is
    # flagged and applied capped at the maximum (never the days asked for). Extensions unlawful as such —
    # late, a second one, or without the head's approval — are flagged and not applied at all.
    if days > clock.max_extension:
        out.append(
            event_finding(
                state,
                "PROC_EXTENSION_EXCESS",
                event,
                ctx,
                f"{days} working days requested, at most {clock.max_extension}",
                evidence=evidence,
                details=base,
            )
        )
        days = clock.max_extension
    if lawful and not p.applicant_notified:
        out.append(
            event_finding(
                state,
                "PROC_EXTENSION_NOT_NOTIFIED",
                event,
                ctx,
                "the applicant was not told the reason for the extension",
                evidence=evidence,
                details=base,
            )
        )
    if lawful:
        clock.extension += days
        clock.extensions += 1
        clock.evidence.append(event.event_id)
        if len(clock.evidence) > 40:  # engine.EVIDENCE_LIMIT: the first ids and the latest
            del clock.evidence[10]
        out += settle_notice(state, clock, event.occurred_at, ctx)
    return out
