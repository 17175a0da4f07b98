"""One simulated case in law: what each event means for its periods and which findings it must raise.

Each method emits one event as a department system would and records what the law says about it:
the event findings it raises (with the staff who acted) and how it starts, stops or pauses the periods.
Timer findings are derived at the end (:meth:`CaseBuilder.finish`) from the periods, for a given moment.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from schemas.catalog import CatalogItem
from sim.clock import LegalClock, Pause, Thresholds, end_of
from sim.province import Office, Staff
from sim.timeline import NoRoom, Timeline
from sim.truth import Expected
from streams.rules.calendar import WorkCalendar

TIMER_RULES = {
    "accept": {
        "notice": "TIME_ACCEPT_NOTICE",
        "promise": "TIME_ACCEPT_PROMISE_BREACHED",
        "statutory": "TIME_ACCEPT_DEEMED",
    },
    "review": {
        "notice": "TIME_REVIEW_NOTICE",
        "promise": "TIME_REVIEW_PROMISE_BREACHED",
        "statutory": "TIME_REVIEW_OVERDUE",
        "red": "TIME_REVIEW_RED",
    },
    "decision": {
        "notice": "TIME_DECISION_NOTICE",
        "promise": "TIME_DECISION_PROMISE_BREACHED",
        "statutory": "TIME_DECISION_OVERDUE",
        "red": "TIME_DECISION_RED",
    },
    "delivery": {
        "notice": "TIME_DELIVERY_NOTICE",
        "promise": "TIME_DELIVERY_PROMISE_BREACHED",
        "statutory": "TIME_DELIVERY_OVERDUE",
        "red": "TIME_DELIVERY_RED",
    },
    "step_review": {"notice": "TIME_STEP_NOTICE", "statutory": "TIME_STEP_BREACHED"},
    "step_decision": {"notice": "TIME_STEP_NOTICE", "statutory": "TIME_STEP_BREACHED"},
}
STEPS = ("step_review", "step_decision")
DECISIONS = ("approve", "refuse_license", "refuse_accept")


class CaseBuilder(Timeline):
    """A simulated case in law: emits each event as a department system would and records the findings it raises."""

    def __init__(
        self,
        case_id: str,
        item: CatalogItem,
        office: Office,
        rnd: random.Random,
        cal: WorkCalendar,
        th: Thresholds,
        *,
        known_item: bool = True,
        violation: str | None = None,
    ) -> None:
        super().__init__(case_id, item, office, rnd, cal, th, known_item=known_item, violation=violation)
        self.referred = False
        self.materials: set[str] = set()
        self.conditions: set[str] = set()
        self.reviewers: set[str] = set()
        self.fee_codes: set[str] = set()
        self.notices = 0
        self.awaiting = False
        self.accepted = False
        self.reviewed = False
        self.open_procedures = 0
        self.extensions = 0
        self.outcome: str | None = None
        self.delivered = False
        self.closed = False
        self.horizon: date | None = None  # by when an injected lapse has surely shown
        self.applied_at: datetime | None = None
        self.suspension_flagged = False

    # ---- first contact (首问负责制) --------------------------------------------------------------------

    def inquiry(self, when: datetime, staff: Staff, office: Office) -> None:
        """An inquiry (咨询) at ``office``: the staff who answers it becomes responsible (首问负责制)."""
        self.emit("inquiry", when, staff, {"subject": f"咨询：{self.item.name}"}, office=office)
        self._answerable(when, staff.staff_id)

    def refer(self, day: date, staff: Staff, office: Office, to: Office, to_staff: Staff | None) -> None:
        """Refer the case to the competent department ``to``; a named receiving staff takes over the responsibility."""
        payload: dict[str, Any] = {"to_department_id": to.department_id, "reason": "转至主管部门办理"}
        if to_staff is not None:
            payload["to_staff_id"] = to_staff.staff_id
        when = self.moment(day)
        self.emit("refer", when, staff, payload, office=office)
        if to_staff is not None:
            self._answerable(when, to_staff.staff_id)  # the named person takes the responsibility over
        self.referred = True

    def out_of_scope(self, day: date, staff: Staff, office: Office, referred_to: Office | None) -> None:
        """Close the inquiry as not this department's duty; unreferred, the first handler answers for it."""
        payload = {"note": "非本部门职责"} | (
            {"referred_to_department_id": referred_to.department_id} if referred_to else {}
        )
        event = self.emit("inquiry_out_of_scope", self.moment(day), staff, payload, office=office)
        if not self.referred and referred_to is None:
            assert self.responsible is not None
            self._expect("FIRST_INQUIRY_NO_REFERRAL", self.responsible, event)  # the first handler answers for it
        self.closed = True

    # ---- application and acceptance (art. 32) ---------------------------------------------------------

    def apply(self, when: datetime, staff: Staff, materials: list[str]) -> None:
        """The application, recorded as it comes in: its first handler answers for it; the acceptance period starts."""
        event = self.emit(
            "apply", when, staff, {"applicant_id": f"APP-{self.rnd.randrange(10**8):08d}", "materials": materials}
        )
        # Registered at the window as it comes in: nothing is decided before the application is in the system.
        self.cursor = when + timedelta(minutes=self.rnd.randint(0, 10))
        event["recorded_at"] = self.cursor.isoformat()
        if self.responsible is None:
            self._answerable(when, staff.staff_id)  # 首问负责制: the first handler answers to the end
        self.materials |= set(materials)
        self.applied_at = self.applied_at or when
        lim = self.item.limits.accept
        self._start(LegalClock("accept", when.date(), lim.statutory, lim.promised))

    def supplement_notice(self, day: date, staff: Staff, missing: list[str]) -> None:
        """A notice to supplement: before acceptance it stops the acceptance period; repeated or late, a finding."""
        when = self.moment(day)
        event = self.emit("supplement_notice", when, staff, {"missing_materials": missing, "note": "一次性告知"})
        decision = self.clocks.get("decision")
        if self.accepted and decision is not None and decision.stop is None:
            self._expect("DQ_SUPPLEMENT_AFTER_ACCEPTANCE", staff.staff_id, event)  # the period is not restarted
        self.notices += 1
        if self.notices > 1:
            self._expect("PROC_SUPPLEMENT_REPEATED", staff.staff_id, event)
        if self.accepted:
            self._expect("PROC_STAGE_ORDER", staff.staff_id, event)  # asking for more after acceptance
        else:
            self._stop(when, "accept")  # told in time: the acceptance period waits for the applicant
            self.awaiting = True

    def supplement_received(self, day: date, staff: Staff, materials: list[str]) -> None:
        """The missing materials received: an acceptance period waiting on the applicant starts again from ``day``."""
        when = self.moment(day)
        self.emit("supplement_received", when, staff, {"materials": materials})
        self.materials |= set(materials)
        if self.awaiting and not self.accepted:
            self.awaiting = False
            old = self.clocks["accept"]
            self._start(LegalClock("accept", day, old.statutory, old.promised))  # the period runs again

    def accept(self, day: date, staff: Staff) -> None:
        """Accept (art. 32); past the acceptance period the case counts as accepted from the materials' receipt."""
        clock = self.clocks["accept"]
        when = self.moment(day)
        last = clock.day_of(clock.statutory, self.cal)
        deemed = clock.stop is None and last is not None and end_of(last) <= when
        if deemed and last is not None:
            clock.stop = end_of(last)  # art. 32(4): accepted from the day the materials were received
        self.emit("accept", when, staff)
        self._stop(when, "accept")
        self.accepted = True
        self.awaiting = False
        self._start_decision(clock.start if deemed else day)

    def refuse_accept(
        self, day: date, staff: Staff, reason: str = "申请材料不符合法定形式", remedy: bool | None = True
    ) -> None:
        """Refuse to accept (不予受理): the refusal's findings (art. 38 ¶2); every period stops."""
        when = self.moment(day)
        event = self.emit("refuse_accept", when, staff, _refusal_payload(reason, remedy))
        self._refusal(event, staff, reason, remedy)
        self._stop(when)
        self.outcome = "not_accepted"

    def qualifies(self, kind: str) -> bool:
        """A complete application by the catalog's list, never told to supplement (and, for a licence refusal,
        every condition verified): its refusal is one for the supervisor to review (arts. 32, 38)."""
        need = set(self.item.required_materials)
        if not self.known_item or not need or self.notices or need - self.materials:
            return False
        return kind == "refuse_accept" or not set(self.item.required_conditions) - self.conditions

    def _refusal(self, event: dict[str, Any], staff: Staff, reason: str, remedy: bool | None) -> None:
        """Art. 38 ¶2: reasons stated and the right to review or litigation told (not stated is not told)."""
        if not reason:
            self._expect("PROC_REFUSAL_NO_REASON", staff.staff_id, event)
        if not remedy:
            self._expect("PROC_REFUSAL_NO_REMEDY", staff.staff_id, event)
        if self.qualifies(event["kind"]):
            self._expect("COND_QUALIFIED_REFUSED", staff.staff_id, event)

    def _too_fast(self, event: dict[str, Any], when: datetime, staff: Staff) -> None:
        least = self.item.min_decision_minutes if self.known_item else None
        if least is not None and self.applied_at is not None and when - self.applied_at < timedelta(minutes=least):
            self._expect("DQ_IMPLAUSIBLY_FAST", staff.staff_id, event)

    def _start_decision(self, start: date) -> None:
        lim = self.item.decision_limit
        self._start(
            LegalClock("decision", start, lim.statutory, lim.promised, deemed=self.item.deemed_approval is not None)
        )
        review = self.item.limits.review
        if review is not None and not self.reviewed:
            self._start(LegalClock("review", start, review.statutory, review.promised))  # art. 43
        if self.item.steps.review is not None and not self.reviewed:
            self._start(LegalClock("step_review", start, self.item.steps.review))  # 承办→审核

    # ---- the decision period (arts. 42-45) -------------------------------------------------------------

    def charge(self, day: date, staff: Staff, code: str, amount: int) -> None:
        """A fee charged: on a free item, not listed, over the standard (arts. 58-59), twice or after conclusion."""
        event = self.emit("fee_charged", self.moment(day), staff, {"fee_code": code, "amount_fen": amount})
        if self.closed:
            self._expect("PROC_AFTER_CONCLUSION", staff.staff_id, event)
            return
        sid = staff.staff_id
        if self.known_item and amount > 0:
            standard = self.item.fee(code)
            if not self.item.fees:
                self._expect("FEE_ON_FREE_ITEM", sid, event)  # art. 58
            elif standard is None:
                self._expect("FEE_NOT_LISTED", sid, event)  # art. 59
            elif amount > standard.standard_fen:
                self._expect("FEE_OVER_STANDARD", sid, event)
        if code in self.fee_codes:
            self._expect("FEE_DUPLICATE", sid, event)
        self.fee_codes.add(code)

    def suspend(self, day: date, staff: Staff, procedure: str | None, reason: str, notified: bool = True) -> None:
        """Suspend for a special procedure (art. 45): running periods not yet run out are held from ``day``."""
        payload: dict[str, Any] = {"reason": reason, "applicant_notified": notified}
        if procedure is not None:
            payload["procedure"] = procedure
        when = self.moment(day)
        event = self.emit("suspend", when, staff, payload)
        if procedure is None or not reason:
            self._expect("PROC_SUSPENSION_NO_REASON", staff.staff_id, event)
            return  # art. 45 lists the procedures: an unexplained pause stops nothing
        if not notified:
            self._expect("PROC_SUSPENSION_NOT_NOTIFIED", staff.staff_id, event)
        self.open_procedures += 1
        for clock in self.clocks.values():
            if clock.name == "accept" or clock.stop is not None or clock.held_from(day):
                continue
            last = clock.statutory_day(self.cal)
            if last is not None and day > last:
                continue  # a period that has already run out is not revived
            clock.suspensions.append(Pause(day, None, when))

    def resume(self, day: date, staff: Staff) -> None:
        """End the special procedures: once none is open the held periods run again; too long a hold is flagged."""
        when = self.moment(day)
        event = self.emit("resume", when, staff)
        if self.open_procedures == 0:
            self._expect("PROC_RESUME_WITHOUT_SUSPENSION", staff.staff_id, event)
            return
        self.open_procedures -= 1
        if self.open_procedures:
            return
        for clock in self.clocks.values():
            for s in clock.suspensions:
                if s.end is None:
                    s.end, s.ended_at = day, when
            clock.suspensions = [s for s in clock.suspensions if s.start != s.end]  # same day: nothing held
        decision = self.clocks.get("decision")
        if decision is not None and not self.suspension_flagged:
            held = decision.held_workdays(self.cal)
            if held > math.floor(self.th.suspension_share * decision.statutory):
                self.suspension_flagged = True
                self._expect("DQ_SUSPENSION_EXCESSIVE", staff.staff_id, event)

    def extend(self, day: date, staff: Staff, days: int, approver: str | None, notified: bool = True) -> None:
        """Art. 42: once, at most the item's maximum, approved by the head, before the deadline, applicant told."""
        clock = self.clocks["decision"]
        when = self.moment(day)
        payload: dict[str, Any] = {"days": days, "reason": "情况复杂，需延长审查期限", "applicant_notified": notified}
        if approver is not None:
            payload["approver_id"] = approver
        event = self.emit("extend", when, staff, payload)
        sid = staff.staff_id
        lawful = True
        if self.extensions >= 1:
            lawful = False
            self._expect("PROC_EXTENSION_REPEATED", sid, event)
        if not approver or approver == sid:
            lawful = False
            self._expect("PROC_EXTENSION_NO_APPROVER", sid, event)
        last = clock.statutory_day(self.cal)
        if last is not None and day > last:
            lawful = False
            self._expect(
                "PROC_EXTENSION_LATE", sid, event, deadline=last, provisional=clock.provisional(self.cal, last)
            )
        if days > self.item.extension_limit:
            self._expect("PROC_EXTENSION_EXCESS", sid, event)
            days = self.item.extension_limit
        if lawful and not notified:
            self._expect("PROC_EXTENSION_NOT_NOTIFIED", sid, event)
        if lawful:
            clock.extensions.append((when, days))
            self.extensions += 1

    def review(self, day: date, staff: Staff, conditions: list[str]) -> None:
        """The review (审查): conditions verified, review periods stopped, the 审核→批准 step period started."""
        when = self.moment(day)
        self.emit("review", when, staff, {"conditions_met": conditions, "opinion": "符合法定条件"})
        self.reviewers.add(staff.staff_id)
        self.conditions |= set(conditions)
        self.reviewed = True
        self._stop(when, "review", "step_review")
        decision = self.clocks.get("decision")
        if (
            self.item.steps.decision is not None
            and "step_decision" not in self.clocks
            and decision is not None
            and decision.stop is None
        ):
            self._start(LegalClock("step_decision", day, self.item.steps.decision))  # 审核→批准

    def approve(self, day: date, staff: Staff) -> None:
        """Approve (准予许可): findings on skipped review, same reviewer, missing materials or conditions, haste."""
        when = self.moment(day)
        event = self.emit("approve", when, staff, {"licence_no": f"{self.office.region_code}{when:%Y%m%d%H%M}"})
        sid = staff.staff_id
        if not self.reviewed:
            self._expect("PROC_STAGE_SKIPPED", sid, event)
        if self.known_item:
            if self.item.separate_review_approval and sid in self.reviewers:
                self._expect("PROC_SAME_REVIEWER_APPROVER", sid, event)
            if set(self.item.required_materials) - self.materials:
                self._expect("COND_MATERIALS_MISSING", sid, event)  # art. 38
            if set(self.item.required_conditions) - self.conditions:
                self._expect("COND_CONDITIONS_UNMET", sid, event)
        self._too_fast(event, when, staff)
        self._stop(when, "accept", "review", "decision", *STEPS)
        self.outcome = "granted"
        self._start_delivery(day)

    def refuse_license(
        self, day: date, staff: Staff, reason: str = "不符合法定条件、标准", remedy: bool | None = True
    ) -> None:
        """Refuse the licence (不予许可): the refusal's findings (art. 38 ¶2); the periods to the decision stop."""
        when = self.moment(day)
        event = self.emit("refuse_license", when, staff, _refusal_payload(reason, remedy))
        self._refusal(event, staff, reason, remedy)
        self._too_fast(event, when, staff)
        self._stop(when, "accept", "review", "decision", *STEPS)
        self.outcome = "refused"

    def withdraw(self, day: date, staff: Staff) -> None:
        """The applicant withdraws: every period stops, outcome withdrawn."""
        when = self.moment(day)
        self.emit("withdraw", when, staff, {"reason": "申请人主动撤回"})
        self._stop(when)
        self.outcome = "withdrawn"

    def deemed_approval(self) -> date:
        """No decision: the decision period's end approves (超时默认) and the delivery period starts then."""
        clock = self.clocks["decision"]
        last = clock.statutory_day(self.cal)
        assert last is not None and clock.deemed
        clock.stop = end_of(last)
        self._stop(end_of(last), "accept", "review", *STEPS)
        self.outcome = "deemed_approved"
        self._start_delivery(last)
        return last

    def _start_delivery(self, start: date) -> None:
        if self.item.issues_certificate:
            lim = self.item.limits.delivery
            self._start(LegalClock("delivery", start, lim.statutory, lim.promised))  # art. 44

    # ---- the end ----------------------------------------------------------------------------------------

    def deliver(self, day: date, staff: Staff) -> None:
        """Deliver the certificate (art. 44): the delivery period stops."""
        when = self.moment(day)
        self.emit(
            "certificate_delivered", when, staff, {"method": self.rnd.choice(["in_person", "post", "electronic"])}
        )
        self._stop(when, "delivery")
        self.delivered = True

    def conclude(self, day: date, staff: Staff) -> None:
        """Conclude (办结) the case; a grant whose certificate was never delivered is a finding (art. 44)."""
        when = self.moment(day)
        # The contract knows four outcomes; a deemed approval is reported as granted.
        outcome = "granted" if self.outcome == "deemed_approved" else self.outcome
        event = self.emit("conclude", when, staff, {"outcome": outcome} if outcome else {})
        if self.outcome in ("granted", "deemed_approved") and self.item.issues_certificate and not self.delivered:
            self._expect("PROC_NOT_DELIVERED", staff.staff_id, event)  # art. 44
        self._stop(when)
        self.closed = True

    def misdate(self, rule: str) -> None:
        """Make one event back-dated (entered days later) or future-dated (a clock ahead of the truth)."""
        event = self.rnd.choice(self.events)
        occurred = datetime.fromisoformat(event["occurred_at"])
        if rule == "DQ_BACKDATED":
            recorded = occurred + timedelta(hours=self.rnd.randint(30, 240))
        else:
            recorded = occurred - timedelta(minutes=self.rnd.randint(20, 300))
        event["recorded_at"] = recorded.isoformat()

    def enter_afterwards(self, batch: bool) -> None:
        """体外循环: the application recorded only after the decision, or the whole case entered at once later."""
        if batch:
            last = datetime.fromisoformat(self.events[-1]["occurred_at"])
            t = last + timedelta(hours=self.th.backdating_hours + self.rnd.randint(1, 200))
            for event in self.events:
                t += timedelta(minutes=self.rnd.randint(0, 3))
                event["recorded_at"] = t.isoformat()
            return
        decision = next(e for e in self.events if e["kind"] in DECISIONS)
        entered = datetime.fromisoformat(decision["occurred_at"]) + timedelta(minutes=self.rnd.randint(0, 90))
        self.events[0]["recorded_at"] = entered.isoformat()

    def _recorded(self) -> list[Expected]:
        """What the recorded times say, known only once every event is final: misdated events, a batch, an
        application recorded after its decision."""
        out: list[Expected] = []
        lagged: list[datetime] = []
        late, ahead = timedelta(hours=self.th.backdating_hours), timedelta(minutes=10)
        apply = next((e for e in self.events if e["kind"] == "apply"), None)
        batch = off = False
        for event in self.events:
            occurred, recorded = (datetime.fromisoformat(event[k]) for k in ("occurred_at", "recorded_at"))
            row = Expected(self.case_id, "", event["staff_id"], self.violation or "", event["event_id"])
            if recorded - occurred > late:
                out.append(replace(row, rule="DQ_BACKDATED"))
                lagged.append(recorded)
                n, window = self.th.batch_min_events, timedelta(minutes=self.th.batch_window_minutes)
                times = sorted(lagged)
                if not batch and any(times[i + n - 1] - times[i] <= window for i in range(len(times) - n + 1)):
                    batch = True
                    out.append(replace(row, rule="DQ_BATCH_ENTERED"))
            elif occurred - recorded > ahead:
                out.append(replace(row, rule="DQ_FUTURE_DATED"))
            decision = apply is not None and event["kind"] in DECISIONS and not self._after_close(event)
            if decision and not off and apply is not None and datetime.fromisoformat(apply["recorded_at"]) >= occurred:
                off = True
                out.append(replace(row, rule="DQ_APPLY_AFTER_DECISION"))
        return out

    def _after_close(self, event: dict[str, Any]) -> bool:
        ends = [e["occurred_at"] for e in self.events if e["kind"] in ("conclude", "inquiry_out_of_scope")]
        return bool(ends) and event["occurred_at"] > ends[0]

    def finish(self, at: datetime) -> list[Expected]:
        """Every finding expected of this case with the timers run to ``at``."""
        out = list(self.expected) + self._recorded()
        assert self.responsible is not None
        for clock in self.periods:
            for m in clock.milestones(self.cal, self.th, at):
                rule = TIMER_RULES[clock.name][m.name]
                if clock.deemed and m.name == "statutory":
                    rule = "TIME_DEEMED_APPROVAL"
                who = self.responsible_at(m.at)
                out.append(
                    Expected(
                        self.case_id,
                        rule,
                        who,
                        self.violation or "",
                        None,
                        m.at,
                        m.deadline,
                        clock.provisional(self.cal, max(m.day, m.deadline or m.day)),
                    )
                )
        return out


__all__ = ["CaseBuilder", "NoRoom"]


def _refusal_payload(reason: str, remedy: bool | None) -> dict[str, Any]:
    """A refusal's payload; ``remedy`` None leaves remedy_notified out, as a department system that never says."""
    return {"reason": reason} | ({} if remedy is None else {"remedy_notified": remedy})
