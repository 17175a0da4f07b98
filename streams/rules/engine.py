"""``evolve(state, event, ctx)``: apply one case event, returning the new state and the findings it raises.

Pure: no clock, no I/O. The caller runs :func:`streams.rules.clocks.due` up to the event's
``occurred_at`` first (``step`` does both), so timers and events interleave in event time.
``evolve`` takes ownership of ``state`` and may update it in place.
"""

from __future__ import annotations

from schemas import events as ev
from schemas.catalog import LAW_ACCEPT_WD
from schemas.findings import Finding
from streams.rules import checks, integrity, offsystem, refusal
from streams.rules.calendar import local_date
from streams.rules.clocks import (
    deadline_of,
    due,
    new_clock,
    start_decision,
    start_delivery,
    start_step_decision,
    stop_steps,
)
from streams.rules.context import Context
from streams.rules.state import (
    ACCEPTED,
    APPLIED,
    CONCLUDED,
    DECIDED,
    NEW,
    REVIEWED,
    STAGE_NAMES,
    CaseState,
    Suspension,
)

EVIDENCE_LIMIT = 40  # ids kept in an evidence list: the first ones and the latest ones
# Distinct materials, conditions, reviewers or fee codes kept per case: a row must fit one Kafka record
# whatever a department sends (a real case has tens); past it a case is flagged, never a crash.
LIST_LIMIT = 500

# kind -> (lowest stage it may come at, highest stage, stage after it or None to keep)
_STAGES: dict[str, tuple[int, int, int | None]] = {
    "apply": (NEW, NEW, APPLIED),
    "supplement_notice": (APPLIED, APPLIED, None),
    "supplement_received": (APPLIED, ACCEPTED, None),
    "accept": (APPLIED, APPLIED, ACCEPTED),
    "refuse_accept": (APPLIED, APPLIED, DECIDED),
    "review": (ACCEPTED, REVIEWED, REVIEWED),
    "approve": (REVIEWED, REVIEWED, DECIDED),
    "refuse_license": (ACCEPTED, REVIEWED, DECIDED),
    "certificate_delivered": (DECIDED, DECIDED, None),
    "conclude": (DECIDED, DECIDED, CONCLUDED),
    "withdraw": (APPLIED, REVIEWED, DECIDED),
}


def new_state(event: ev.CaseEvent) -> CaseState:
    """A new case from its first event: its item, department and region, and its staff as first and responsible."""
    return CaseState(
        case_id=event.case_id,
        item_code=event.item_code,
        department_id=event.department_id,
        region_code=event.region_code,
        responsible_staff=event.staff_id,
        first_staff=event.staff_id,
        holders=[event.department_id],
    )


def step(state: CaseState | None, event: ev.CaseEvent, ctx: Context) -> tuple[CaseState, list[Finding]]:
    """Run the timers up to the event's time, then apply it."""
    found: list[Finding] = []
    if state is not None:
        state, found = due(state, event.occurred_at, ctx)
    state, more = evolve(state, event, ctx)
    return state, found + more


def evolve(state: CaseState | None, event: ev.CaseEvent, ctx: Context) -> tuple[CaseState, list[Finding]]:
    """Apply one event to the case (new when ``state`` is None): the state and the findings it raises.

    A resend with the same content changes nothing; a conflicting resend, or a new event past the case's event
    limit, is not applied, only reported. Timers are not run: :func:`step` does that first.
    """
    if state is None:
        state = new_state(event)
    d = integrity.digest(event)
    verdict = integrity.classify(state, event, d)
    if verdict == "duplicate":
        return state, []  # a redelivered event changes nothing, however old
    if verdict != "new":
        found = (
            [integrity.conflict_finding(state, event, d, ctx)]
            if verdict == "conflict"
            else integrity.limit_finding(state, event, ctx)
        )
        if found:
            state.seq += 1  # the case records the finding (flag or conflict), nothing of the event itself
        return state, found
    state.seen[event.event_id] = d
    state.seq += 1
    if state.last_event_at is None or event.occurred_at > state.last_event_at:
        state.last_event_at = event.occurred_at

    findings = checks.data_quality(state, event, ctx)
    findings += offsystem.batch_entry(state, event, ctx)
    if state.closed:
        findings.append(
            checks.event_finding(
                state,
                "PROC_AFTER_CONCLUSION",
                event,
                ctx,
                f"{event.kind} after the case was concluded",
                evidence=[*state.stage_events[-1:]],
                details={"kind": event.kind},
            )
        )
        return state, findings

    findings += _stage_order(state, event, ctx)
    handler = _HANDLERS.get(event.kind)
    if handler is not None:
        findings += handler(state, event, ctx)
    full = [n for n in ("materials", "conditions", "reviewers", "fee_codes") if len(getattr(state, n)) >= LIST_LIMIT]
    if full and "DQ_STATE_LIMIT" not in state.flagged:
        state.flagged.append("DQ_STATE_LIMIT")
        findings.append(
            checks.event_finding(
                state,
                "DQ_STATE_LIMIT",
                event,
                ctx,
                f"case holds {LIST_LIMIT} distinct {', '.join(full)}: further values are not kept",
                details={"lists": full, "limit": LIST_LIMIT},
            )
        )
    return state, findings


# ---- stage order ----------------------------------------------------------------------------------


def _stage_order(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    rng = _STAGES.get(event.kind)
    if rng is None:
        return []
    lo, hi, after = rng
    out: list[Finding] = []
    stage = state.stage
    accept_after_deemed = event.kind == "accept" and state.deemed_accepted and stage == ACCEPTED
    conclude_inquiry = event.kind == "conclude" and stage == NEW and state.inquiry
    if stage < lo and not conclude_inquiry:
        missing = [STAGE_NAMES[s] for s in range(max(stage + 1, APPLIED), lo + 1)]
        out.append(
            checks.event_finding(
                state,
                "PROC_STAGE_SKIPPED",
                event,
                ctx,
                f"{event.kind} at stage '{STAGE_NAMES[stage]}': skipped {', '.join(missing)}",
                evidence=[*state.stage_events],
                details={"kind": event.kind, "stage": STAGE_NAMES[stage], "skipped": missing},
            )
        )
    elif stage > hi and not accept_after_deemed:
        out.append(
            checks.event_finding(
                state,
                "PROC_STAGE_ORDER",
                event,
                ctx,
                f"{event.kind} at stage '{STAGE_NAMES[stage]}' (expected at most '{STAGE_NAMES[hi]}')",
                evidence=[*state.stage_events],
                details={"kind": event.kind, "stage": STAGE_NAMES[stage]},
            )
        )
    if after is not None:
        _remember(state.stage_events, event.event_id)
        # Once accepted (or deemed accepted, art. 32(4)) only a decision can end the case: a late
        # refusal to accept is flagged above and changes nothing, so the art. 42 clock keeps running.
        late_refusal = event.kind == "refuse_accept" and stage > hi
        if not late_refusal and (after > state.stage or after == CONCLUDED):
            state.stage = after
    return out


# ---- handlers -------------------------------------------------------------------------------------


def _inquiry(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    state.inquiry = True
    return []


def _apply(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    assert isinstance(event, ev.Apply)
    _add(state.materials, event.payload.materials)
    if state.applied_at is None:  # the first application is the one the off-system checks measure from
        state.applied_at, state.apply_recorded_at = event.occurred_at, event.recorded_at
    state.applicant_id = state.applicant_id or event.payload.applicant_id
    if "accept" not in state.clocks and "decision" not in state.clocks:
        item = ctx.catalog.get(state.item_code)
        lim = item.limits.accept if item else None
        new_clock(
            state,
            "accept",
            local_date(event.occurred_at),
            lim.statutory if lim else LAW_ACCEPT_WD,
            lim.promised if lim else None,
            [event.event_id],
        )
    return []


def _supplement_notice(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    out = offsystem.supplement_after_acceptance(state, event, ctx)
    state.supplement_notices += 1
    if state.supplement_notices > 1:
        out.append(
            checks.event_finding(
                state,
                "PROC_SUPPLEMENT_REPEATED",
                event,
                ctx,
                f"supplement notice no. {state.supplement_notices}: everything must be told at once",
                evidence=[*state.stage_events[:1]],
                details={"notices": state.supplement_notices},
            )
        )
    clock = state.clocks.get("accept")
    if clock is not None and not clock.stopped:
        # Told in time: the acceptance clock waits for the applicant (art. 32(4)).
        clock.stop(local_date(event.occurred_at))
        _remember(clock.evidence, event.event_id)
        state.awaiting_supplement = True
    return out


def _supplement_received(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    assert isinstance(event, ev.SupplementReceived)
    _add(state.materials, event.payload.materials)
    if state.awaiting_supplement and state.stage == APPLIED:
        state.awaiting_supplement = False
        old = state.clocks["accept"]
        # The acceptance period runs again from receipt of the supplemented materials.
        new_clock(
            state, "accept", local_date(event.occurred_at), old.statutory, old.promised, [*old.evidence, event.event_id]
        )
    return []


def _accept(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    clock = state.clocks.get("accept")
    if clock is not None:
        clock.stop(local_date(event.occurred_at))
    state.awaiting_supplement = False
    evidence = [*(clock.evidence if clock else []), event.event_id]
    start_decision(state, local_date(event.occurred_at), evidence, ctx)
    return []


def _stop_all(state: CaseState, event: ev.CaseEvent) -> None:
    for c in state.clocks.values():
        c.stop(local_date(event.occurred_at))


def _refuse_accept(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    assert isinstance(event, ev.RefuseAccept)
    out = refusal.refusal(state, event, ctx) + offsystem.decision_entry(state, event, ctx)
    if state.stage != DECIDED:
        return out  # out of order (already accepted): flagged by the stage check, nothing ends
    state.outcome = "not_accepted"
    _stop_all(state, event)
    return out


def _review(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    assert isinstance(event, ev.Review)
    _add(state.reviewers, [event.staff_id])
    _add(state.conditions, event.payload.conditions_met)
    day = local_date(event.occurred_at)
    for name in ("review", "step_review"):
        clock = state.clocks.get(name)
        if clock is not None:
            clock.stop(day)
    start_step_decision(state, day, [event.event_id], ctx)
    return []


def _decide(state: CaseState, event: ev.CaseEvent, ctx: Context, outcome: str) -> None:
    state.outcome = outcome
    for name in ("accept", "review", "decision"):
        c = state.clocks.get(name)
        if c is not None:
            c.stop(local_date(event.occurred_at))
    stop_steps(state, local_date(event.occurred_at))


def _approve(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    out = checks.approval(state, event, ctx) + offsystem.decision_entry(state, event, ctx)
    _decide(state, event, ctx, "granted")
    start_delivery(state, local_date(event.occurred_at), [event.event_id], ctx)
    return out


def _refuse_license(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    assert isinstance(event, ev.RefuseLicense)
    out = refusal.refusal(state, event, ctx) + offsystem.decision_entry(state, event, ctx)
    _decide(state, event, ctx, "refused")
    return out


def _delivered(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    state.delivered = True
    c = state.clocks.get("delivery")
    if c is not None:
        c.stop(local_date(event.occurred_at))
    return []


def _conclude(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    item = ctx.catalog.get(state.item_code)
    needs_cert = item.issues_certificate if item else True
    if state.outcome in ("granted", "deemed_approved") and needs_cert and not state.delivered:
        out.append(
            checks.event_finding(
                state,
                "PROC_NOT_DELIVERED",
                event,
                ctx,
                "concluded before the licence certificate was delivered",
                evidence=[*state.stage_events],
            )
        )
    _stop_all(state, event)
    return out


def _withdraw(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    state.outcome = "withdrawn"
    _stop_all(state, event)
    return []


def _suspend(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    assert isinstance(event, ev.Suspend)
    out = checks.suspension(state, event, ctx)
    if any(f.rule in ("PROC_SUSPENSION_NO_REASON", "PROC_STAGE_ORDER") for f in out):
        return out  # an unlawful suspension does not stop the clock
    state.open_suspensions += 1  # special procedures may overlap: the clock waits for the last one
    day = local_date(event.occurred_at)
    for clock in checks.suspendable(state):
        if clock.suspended:
            continue
        last = deadline_of(clock, ctx)
        if last is not None and day > last:
            continue  # already overdue: art. 45 cannot revive a period that has run out
        clock.suspensions.append(Suspension(start=day, end=None, event_id=event.event_id))
        _remember(clock.evidence, event.event_id)
    return out


def _resume(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    if state.open_suspensions == 0:
        return [
            checks.event_finding(
                state,
                "PROC_RESUME_WITHOUT_SUSPENSION",
                event,
                ctx,
                "resumption reported with no lawful suspension open",
                evidence=[],
            )
        ]
    state.open_suspensions -= 1
    if state.open_suspensions:
        return []  # another special procedure is still running
    day = local_date(event.occurred_at)
    for clock in state.clocks.values():
        if clock.suspended:
            s = clock.suspensions[-1]
            s.end = max(day, s.start)
            _remember(clock.evidence, event.event_id)
            if s.end == s.start:
                clock.suspensions.pop()  # nothing excluded: keep the state small
            elif len(clock.suspensions) > 1 and clock.suspensions[-2].end == s.start:
                prev = clock.suspensions[-2]  # back-to-back procedures: one interval
                prev.end = s.end
                clock.suspensions.pop()
    return offsystem.suspension_share(state, event, ctx)


def _extend(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    assert isinstance(event, ev.Extend)
    return checks.extension(state, event, ctx)


def _fee(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    assert isinstance(event, ev.FeeCharged)
    return checks.fee(state, event, ctx)


def _refer(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    assert isinstance(event, ev.Refer)
    state.referred = True
    if event.payload.to_department_id not in state.holders:
        state.holders.append(event.payload.to_department_id)  # the receiving department now writes the case
    # 首问负责制: the first handler (and their department) stay responsible unless a person is named.
    if event.payload.to_staff_id:
        state.responsible_staff = event.payload.to_staff_id
        state.department_id = event.payload.to_department_id
    return []


def _out_of_scope(state: CaseState, event: ev.CaseEvent, ctx: Context) -> list[Finding]:
    assert isinstance(event, ev.InquiryOutOfScope)
    out: list[Finding] = []
    if not state.referred and not event.payload.referred_to_department_id:
        out.append(
            ctx.finding(
                state,
                "FIRST_INQUIRY_NO_REFERRAL",
                occurrence=event.event_id,
                detected_at=event.occurred_at,
                evidence=[*list(state.seen)[:1], event.event_id],
                staff_id=state.responsible_staff,
                department_id=state.department_id,
                message="closed as 'not our business' without referring the applicant (首问负责制)",
                details={"closed_by": event.staff_id},
            )
        )
    if state.stage <= APPLIED:
        state.outcome = "out_of_scope"
        state.stage = CONCLUDED
        _remember(state.stage_events, event.event_id)
        _stop_all(state, event)
    return out


def _remember(ids: list[str], event_id: str) -> None:
    """Append to an evidence list, keeping the first and the latest ids when it grows long."""
    ids.append(event_id)
    if len(ids) > EVIDENCE_LIMIT:
        del ids[EVIDENCE_LIMIT // 4]


def _add(target: list[str], values: list[str]) -> None:
    """Add the values not there yet, up to LIST_LIMIT (a case then raises DQ_STATE_LIMIT once)."""
    for v in values:
        if len(target) >= LIST_LIMIT:
            return
        if v not in target:
            target.append(v)


_HANDLERS = {
    "inquiry": _inquiry,
    "apply": _apply,
    "supplement_notice": _supplement_notice,
    "supplement_received": _supplement_received,
    "accept": _accept,
    "refuse_accept": _refuse_accept,
    "review": _review,
    "approve": _approve,
    "refuse_license": _refuse_license,
    "certificate_delivered": _delivered,
    "conclude": _conclude,
    "withdraw": _withdraw,
    "suspend": _suspend,
    "resume": _resume,
    "extend": _extend,
    "fee_charged": _fee,
    "refer": _refer,
    "inquiry_out_of_scope": _out_of_scope,
}
