"""Case lifecycles: a clean path through the five stages with realistic variations, and each injected violation.

A clean case acts on every period before its first warning, so it raises nothing; an injected case deviates
in one way (and in what that way entails: a late acceptance can make the decision late too), and
:class:`sim.case.CaseBuilder` records every finding the deviation must raise.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sim.case import CaseBuilder
from sim.catalog import procedures
from sim.province import County, Staff


@dataclass(frozen=True)
class Profile:
    """How often clean cases take each lawful variation."""

    inquiry_only: float = 0.04  # a question, answered or referred, no application
    inquiry_first: float = 0.08  # asked first (maybe at another office), then applied
    named_referral: float = 0.5  # a referral that names the person who takes over
    on_the_spot: float = 0.45  # accepted the day the materials came in
    supplement: float = 0.12  # materials incomplete: told once, supplied later
    refuse_accept: float = 0.02
    suspension: float = 0.08  # expert review, inspection… (art. 45)
    extension: float = 0.05  # art. 42, approved by the head
    refuse_license: float = 0.04
    withdraw: float = 0.02
    handover: float = 0.04  # reassigned after acceptance to a named colleague, who answers from then on
    still_open: float = 0.01  # a special procedure still running when the run ends (the periods wait)


_NO_SUPPLEMENT = {
    "materials_missing",
    "stage_order",
    "late_accept",
    "unknown_item",
    "refused_qualified",
    "implausibly_fast",
    "supplement_restart",
}
_NO_SUSPENSION = {
    "suspension_no_reason",
    "suspension_not_notified",
    "resume_without_suspension",
    "extension_late",
    "implausibly_fast",
    "suspension_excessive",
    "withdraw_reapply",
}
# Lateness that may carry over into the next steps: those steps then take the first day they can.
_CASCADE = {"late_accept", "late_review", "suspension_no_reason", "extension_late", "late_step"}
_MUST_APPROVE = {
    "same_reviewer_approver",
    "materials_missing",
    "conditions_unmet",
    "stage_skipped",
    "late_delivery",
    "not_delivered",
    "after_conclusion",
    "late_decision",
    "late_review",
    "apply_after_decision",
    "implausibly_fast",
    "late_step",
}
_REFUSALS = {"refusal_no_reason", "refusal_no_remedy", "refused_qualified"}
# The periods a step must not overrun: the decision, the preliminary review and the internal steps (环节时限).
_RUNNING = ("decision", "review", "step_review", "step_decision")


def _terms(kind: str | None, default: str, case_id: str) -> tuple[str, bool | None]:
    """A refusal's reason and whether the applicant was told of the right to review or litigation: a refusal
    without the remedy says "no" in half the cases and says nothing in the others (by the case id: the
    random stream stays the same)."""
    if kind != "refusal_no_remedy":
        return ("" if kind == "refusal_no_reason" else default), True
    return default, (False if zlib.crc32(case_id.encode()) % 2 else None)


def build_case(b: CaseBuilder, arrival: datetime, county: County, p: Profile) -> None:
    """Write the case's events into ``b``; ``b.violation`` says what, if anything, goes wrong."""
    kind, rnd = b.violation, b.rnd
    if kind == "no_referral" or (kind is None and rnd.random() < p.inquiry_only):
        _inquiry_only(b, arrival, county, p)
        return
    window = b.office.window_staff(rnd)
    when = arrival
    if rnd.random() < p.inquiry_first:
        first_office = rnd.choice(list(county.offices.values()))
        first = first_office.window_staff(rnd)
        b.inquiry(arrival, first, first_office)
        if first_office is not b.office:
            b.refer(b.day, first, first_office, b.office, window if rnd.random() < p.named_referral else None)
        when = b.moment(b.within(5))
    required = list(b.item.required_materials)
    missing = (
        [rnd.choice(required)] if required and (kind == "materials_missing" or rnd.random() < p.supplement) else []
    )
    if kind in ("refused_qualified", "implausibly_fast"):
        missing = []
    b.apply(when, window, [m for m in required if m not in missing] + ["application_letter"])
    if not _acceptance(b, window, missing, p):
        return
    _decision(b, window, p)
    if kind in ("backdated", "future_dated"):
        b.misdate("DQ_BACKDATED" if kind == "backdated" else "DQ_FUTURE_DATED")
    elif kind in ("apply_after_decision", "batch_entered"):
        b.enter_afterwards(batch=kind == "batch_entered")


def _inquiry_only(b: CaseBuilder, arrival: datetime, county: County, p: Profile) -> None:
    staff = b.office.window_staff(b.rnd)
    b.inquiry(arrival, staff, b.office)
    others = [o for o in county.offices.values() if o is not b.office]
    other = b.rnd.choice(others)
    if b.violation == "no_referral":
        b.out_of_scope(b.within(3), b.office.window_staff(b.rnd), b.office, None)
        return
    x = b.rnd.random()
    if x < 0.4:
        b.refer(b.day, staff, b.office, other, other.window_staff(b.rnd) if b.rnd.random() < p.named_referral else None)
        b.out_of_scope(b.day, staff, b.office, None)
    elif x < 0.7:
        b.out_of_scope(b.within(2), staff, b.office, other)
    else:
        b.conclude(b.day, staff)  # answered on the spot


def _acceptance(b: CaseBuilder, window: Staff, missing: list[str], p: Profile) -> bool:
    """Art. 32: accept, refuse, or tell once what is missing. False when the case ends here."""
    kind, rnd, acc = b.violation, b.rnd, b.clocks["accept"]
    strict = kind not in _CASCADE
    if kind == "implausibly_fast":
        b.hurry = True  # accepted, reviewed and approved minutes after the application
        b.accept(b.day, window)
        return True
    if kind == "late_accept":
        if missing and rnd.random() < 0.3:  # told in time, then the supplemented file is left lying
            b.supplement_notice(b.pick(b.safe("accept")), window, missing)
            b.supplement_received(b.within(rnd.randint(1, 14)), window, missing)
            acc = b.clocks["accept"]
        k = rnd.randint(acc.first_warning(b.th) + 1, acc.statutory + 2)  # past the promise, or deemed accepted
        b.accept(b.at_or_after(acc.day_of(k, b.cal)), window)
        return True
    if kind == "supplement_repeated" or (missing and kind not in _NO_SUPPLEMENT):
        asked = missing or ["supplementary_statement"]
        b.supplement_notice(b.pick(b.safe("accept"), strict=strict), window, asked)
        b.supplement_received(b.within(rnd.randint(1, 14)), window, asked)
        if kind == "supplement_repeated":
            b.supplement_notice(b.pick(b.safe("accept"), strict=strict), window, ["notarised_copy"])
            b.supplement_received(b.within(rnd.randint(1, 10)), window, ["notarised_copy"])
    limit = b.workday_from(b.day) if rnd.random() < p.on_the_spot else b.safe("accept")
    day = b.pick(min(limit, b.safe("accept")), strict=strict)
    if kind in _REFUSALS and rnd.random() < 0.5:
        b.refuse_accept(day, window, *_terms(kind, "申请材料不齐全、不符合法定形式", b.case_id))
        b.conclude(b.within(2), window)
        return False
    # A clean refusal is of an incomplete file (after a supplement notice): a complete one is for review.
    if kind is None and rnd.random() < p.refuse_accept and not b.qualifies("refuse_accept"):
        b.refuse_accept(day, window)
        b.conclude(b.within(2), window)
        return False
    b.accept(day, window)
    return True


def _decision(b: CaseBuilder, window: Staff, p: Profile) -> None:
    """Fees, special procedures, extension, review, decision, certificate and conclusion."""
    kind, rnd, office = b.violation, b.rnd, b.office
    strict = kind not in _CASCADE
    reviewer, approver, head = rnd.choice(office.reviewers), rnd.choice(office.approvers), office.head
    assert head is not None

    def running() -> date:
        return b.safe(*_RUNNING)

    if kind == "implausibly_fast":
        b.review(b.day, reviewer, list(b.item.required_conditions))
        b.approve(b.day, approver)
        b.hurry = False
        _delivery(b, window)
        return
    _fees(b, window)
    if rnd.random() < p.handover:
        colleague = office.window_staff(rnd)
        b.refer(b.pick(running(), strict=strict), window, office, office, colleague)  # 转办 within the office
        window = colleague
    if kind in ("stage_order", "supplement_restart"):
        b.supplement_notice(b.pick(running(), strict=strict), window, ["site_photos"])
        if kind == "supplement_restart":  # supplied: a department system would restart its clock here
            b.supplement_received(b.pick(running(), strict=strict), window, ["site_photos"])
    if kind == "resume_without_suspension":
        b.resume(b.pick(running(), strict=strict), reviewer)
    procedure = kind in ("suspension_no_reason", "suspension_not_notified", "suspension_excessive") or (
        kind not in _NO_SUSPENSION and rnd.random() < p.suspension
    )
    if procedure and not _special_procedure(b, reviewer, running(), p):
        return  # a procedure still running when the run ends
    if (kind or "").startswith("extension_") or (kind is None and rnd.random() < p.extension):
        _extension(b, window, head, strict)
    ending = "refuse" if kind in _REFUSALS else None
    if kind not in _MUST_APPROVE and kind not in _REFUSALS and rnd.random() < p.refuse_license + p.withdraw:
        ending = "refuse" if rnd.random() < p.refuse_license / (p.refuse_license + p.withdraw) else "withdraw"
    if kind == "withdraw_reapply":
        ending = "withdraw"  # and the applicant comes back (sim/reapply.py)
    if kind != "stage_skipped":
        if kind == "late_step":
            step = b.clocks["step_review"]
            k = rnd.randint(step.first_warning(b.th) + 1, step.statutory + 2)
            day = b.at_or_after(step.day_of(k, b.cal))
        elif kind == "late_review":
            rev = b.clocks["review"]
            k = rnd.randint(rev.first_warning(b.th) + 1, rev.statutory + b.th.follow_up_wd + 2)
            day = b.at_or_after(rev.day_of(k, b.cal))
        else:
            day = b.pick(running(), strict=strict)
        conditions = list(b.item.required_conditions)
        if kind == "conditions_unmet" or (ending == "refuse" and kind is None and conditions):
            conditions.remove(rnd.choice(conditions))  # a clean refusal: a condition the review found unmet
        b.review(day, reviewer, conditions)
    if kind == "abandoned":
        b.horizon = running()  # the first warning is due then; nothing happens any more
        return
    if kind == "deemed_approval":
        last = b.deemed_approval()
        b.deliver(b.pick(b.safe("delivery"), not_before=last + timedelta(days=1)), window)
        b.conclude(b.within(3), window)
        return
    if kind == "late_decision":
        dec = b.clocks["decision"]
        final = dec.statutory_day(b.cal)
        if final is not None and b.at_or_after(final) == final and rnd.random() < 0.4:
            if not b.extensions and rnd.random() < 0.5:
                # Lawful after the promise broke, up to the last day. A promise too short for a notice of its
                # own may leave one due at once under the extended limit (or moot, if that has run out too).
                k = rnd.randint(min((dec.promised or dec.statutory) + 1, dec.statutory), dec.statutory)
                day = b.at_or_after(dec.day_of(k, b.cal))
                b.extend(day, window, rnd.randint(2, b.item.extension_limit), head.staff_id)
            else:  # a special procedure opened on the last day, which still holds the period
                b.suspend(final, reviewer, rnd.choice(procedures(b.item.code)), "组织专家评审")
                b.resume(_after(b, final, rnd.randint(1, 8)), reviewer)
        k = rnd.randint(dec.first_warning(b.th) + 1, dec.statutory + dec.extension() + b.th.follow_up_wd + 2)
        day = b.at_or_after(dec.day_of(k, b.cal))
    else:
        day = b.pick(running(), strict=strict, not_before=_decide_from(b))
    if ending == "refuse" and kind not in _REFUSALS and b.qualifies("refuse_license"):
        ending = "withdraw"  # a clean case does not refuse a file its review found complete
    if ending is not None:
        if ending == "refuse":
            b.refuse_license(day, approver, *_terms(kind, "不符合法定条件、标准", b.case_id))
        else:
            b.withdraw(day, window)
        _close(b, window)
        return
    b.approve(day, reviewer if kind == "same_reviewer_approver" else approver)
    _delivery(b, window)


def _decide_from(b: CaseBuilder) -> date | None:
    """An item with a plausible minimum (min_decision_minutes) is decided the next day at the earliest."""
    if b.item.min_decision_minutes is None or b.applied_at is None:
        return None
    return b.applied_at.date() + timedelta(days=1)


def _fees(b: CaseBuilder, staff: Staff) -> None:
    kind, rnd, item = b.violation, b.rnd, b.item
    day = b.pick(b.day, strict=False)  # charged at the window when the file is accepted
    if b.known_item and item.fees:
        for i, fee in enumerate(item.fees):
            if i and rnd.random() < 0.3:
                continue  # not every applicant needs every listed service
            extra = rnd.choice([500, 1000, 2000, 5000]) if kind == "fee_over_standard" and i == 0 else 0
            b.charge(day, staff, fee.code, fee.standard_fen + extra)
        if kind == "fee_duplicate":
            b.charge(b.pick(b.safe(*_RUNNING)), staff, item.fees[0].code, item.fees[0].standard_fen)
        if kind == "fee_not_listed":
            b.charge(day, staff, rnd.choice(["SURVEY", "SERVICE", "EXPEDITE"]), rnd.choice([2000, 5000, 10000]))
    elif kind == "fee_on_free_item":
        b.charge(day, staff, rnd.choice(["MATERIAL", "FORM", "REVIEW"]), rnd.choice([1000, 2000, 5000]))


def _special_procedure(b: CaseBuilder, staff: Staff, limit: date, p: Profile) -> bool:
    """Art. 45: a procedure whose time is not counted, with its reason and the applicant told in writing."""
    kind, rnd = b.violation, b.rnd
    procedure: str | None = rnd.choice(procedures(b.item.code))
    reason = {
        "expert_review": "组织专家评审",
        "inspection": "现场核查检验",
        "testing": "委托检测",
        "appraisal": "委托鉴定",
        "hearing": "依申请举行听证",
    }.get(procedure or "", "特别程序")
    if kind == "suspension_no_reason":
        procedure, reason = (None, reason) if rnd.random() < 0.5 else (procedure, "")
    start = b.pick(limit, strict=kind not in _CASCADE)
    b.suspend(start, staff, procedure, reason, notified=kind != "suspension_not_notified")
    most = max(1, math.floor(b.th.suspension_share * b.clocks["decision"].statutory))
    if kind == "suspension_excessive":
        b.resume(_after(b, start, most + rnd.randint(2, 8)), staff)  # longer than the decision period allows
        return True
    cap = _after(b, start, most)  # everything else stays within the share of the period (nothing to review)
    if kind is None and rnd.random() < p.still_open / max(p.suspension, 1e-9):
        return False  # still under expert review when the run ends: nothing more happens, nothing is late
    end = min(cap, _after(b, start, rnd.randint(1, 6) if kind == "suspension_no_reason" else rnd.randint(2, 25)))
    shape = rnd.random() if kind is None else 1.0
    if shape < 0.05:
        b.resume(start, staff)  # a hearing held and closed the same day: nothing is excluded
    elif shape < 0.2:
        # A second procedure overlapping the first: the period waits for the last one to end.
        second = b.pick(end, skew=1.0)
        b.suspend(second, staff, rnd.choice(procedures(b.item.code)), "另行委托检测", notified=True)
        other = min(cap, _after(b, second, rnd.randint(0, 10)))
        b.resume(min(end, other), staff)
        b.resume(max(end, other), staff)
    elif shape < 0.3:
        b.resume(end, staff)  # back to back: the next procedure starts the day the first one ends
        b.suspend(end, staff, rnd.choice(procedures(b.item.code)), "补充专家评审", notified=True)
        b.resume(min(cap, _after(b, end, rnd.randint(1, 10))), staff)
    else:
        b.resume(end, staff)
    return True


def _after(b: CaseBuilder, day: date, workdays: int) -> date:
    for _ in range(workdays):
        day = b.workday_from(day + timedelta(days=1))
    return day


def _extension(b: CaseBuilder, staff: Staff, head: Staff, strict: bool) -> None:
    kind, rnd, dec = b.violation, b.rnd, b.clocks["decision"]
    most = b.item.extension_limit
    if kind == "extension_late":
        k = rnd.randint(dec.statutory + 1, dec.statutory + b.th.follow_up_wd)
        b.extend(b.at_or_after(dec.day_of(k, b.cal)), staff, rnd.randint(3, most), head.staff_id)
        return
    day = b.pick(b.safe(*_RUNNING), strict=strict)
    days = most + rnd.randint(1, 10) if kind == "extension_excess" else rnd.randint(3, most)
    approver: str | None = head.staff_id
    if kind == "extension_no_approver":
        approver = rnd.choice([None, staff.staff_id])
    b.extend(day, staff, days, approver, notified=kind != "extension_not_notified")
    if kind == "extension_repeated":
        b.extend(b.pick(b.safe(*_RUNNING), strict=strict), staff, rnd.randint(2, most), head.staff_id)


def _delivery(b: CaseBuilder, window: Staff) -> None:
    kind, rnd = b.violation, b.rnd
    if b.item.issues_certificate:
        if kind == "not_delivered":
            b.conclude(b.pick(b.safe("delivery")), window)
            return
        if kind == "late_delivery":
            dl = b.clocks["delivery"]
            if rnd.random() < 0.3:
                b.horizon = b.safe("delivery")  # never handed over
                return
            k = rnd.randint(dl.first_warning(b.th) + 1, dl.statutory + b.th.follow_up_wd + 2)
            b.deliver(b.at_or_after(dl.day_of(k, b.cal)), window)
        else:
            b.deliver(b.pick(b.safe("delivery"), strict=kind not in _CASCADE), window)
    _close(b, window)


def _close(b: CaseBuilder, window: Staff) -> None:
    b.conclude(b.within(3), window)
    if b.violation == "after_conclusion":
        code = b.item.fees[0].code if b.item.fees else "SERVICE"
        b.charge(b.within(20), window, code, b.rnd.choice([1000, 2000, 5000]))
