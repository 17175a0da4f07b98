"""Refusals (不予受理 art. 32, 不予许可 art. 38): reasons and remedies stated, and complete applications refused."""

from __future__ import annotations

from schemas import events as ev
from schemas.findings import Finding
from streams.rules.checks import event_finding
from streams.rules.context import Context
from streams.rules.state import CaseState

_WHAT = {"refuse_accept": "不予受理 (refusal to accept)", "refuse_license": "不予许可 (refusal to license)"}


def refusal(state: CaseState, event: ev.RefuseAccept | ev.RefuseLicense, ctx: Context) -> list[Finding]:
    """Art. 38 ¶2 (and art. 32 for a refusal to accept, which must be a written, reasoned decision too): the
    refusal states its reasons and tells the applicant of the right to administrative review or litigation.
    A refusal of an application that looks complete is a notice for the supervisor to review."""
    out: list[Finding] = []
    p = event.payload
    what = _WHAT[event.kind]
    base: dict[str, object] = {"kind": event.kind, "reason": p.reason, "remedy_notified": p.remedy_notified}
    if not p.reason:
        out.append(
            event_finding(
                state,
                "PROC_REFUSAL_NO_REASON",
                event,
                ctx,
                f"{what} by {event.staff_id} gives no reasons; the written decision must state them",
                details=base,
            )
        )
    if p.remedy_notified is not True:  # False, or omitted: not stated is not told
        how = "without telling" if p.remedy_notified is False else "not stating that it told"
        out.append(
            event_finding(
                state,
                "PROC_REFUSAL_NO_REMEDY",
                event,
                ctx,
                f"{what} by {event.staff_id} {how} the applicant of the right to administrative review or litigation",
                details=base | {"remedy_stated": p.remedy_notified is not None},
            )
        )
    out += _qualified(state, event, ctx, what, base)
    return out


def _qualified(
    state: CaseState, event: ev.CaseEvent, ctx: Context, what: str, base: dict[str, object]
) -> list[Finding]:
    """对符合法定条件的申请不予受理/不予许可: every required material in and no supplement notice given (so the
    department never said anything was missing); a refused licence also had every condition verified. Only
    where the catalog lists the required materials: without the list, completeness cannot be judged."""
    item = ctx.catalog.get(state.item_code)
    if item is None or not item.required_materials or state.supplement_notices:
        return []
    if any(m not in state.materials for m in item.required_materials):
        return []
    conditions = event.kind == "refuse_license"
    if conditions and any(c not in state.conditions for c in item.required_conditions):
        return []
    verified = "; every required condition verified by the review" if conditions else ""
    return [
        event_finding(
            state,
            "COND_QUALIFIED_REFUSED",
            event,
            ctx,
            f"{what} of a complete application (no supplement notice{verified}): check the reasons",
            evidence=list(state.stage_events),
            details={
                **base,
                "required_materials": list(item.required_materials),
                "materials": list(state.materials),
                "required_conditions": list(item.required_conditions) if conditions else [],
                "conditions_verified": list(state.conditions) if conditions else [],
            },
        )
    ]
