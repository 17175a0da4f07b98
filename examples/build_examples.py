"""Writes examples/events.jsonl (sample cases for every rule category and severity) and examples/triggers.jsonl
(the remaining triggers of published e-supervision measures: refusals, step limits, off-system handling, clocks).

Run: python examples/build_examples.py   (the committed files are its output; a test checks they agree)
Each case's comment says what it is meant to show.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
OUT = Path(__file__).with_name("events.jsonl")
TRIGGERS = Path(__file__).with_name("triggers.jsonl")

ITEM_DEPT = {
    "SC-FOOD-001": "DZ-SCJG",
    "SC-LAND-002": "DZ-ZRZY",
    "SC-BUILD-003": "DZ-ZJ",
    "SC-INVEST-004": "DZ-FGW",
    "SC-HEALTH-005": "DZ-WJW",
    "SC-UNKNOWN-999": "DZ-SCJG",
    "SC-HYGIENE-006": "DZ-WJW",
}


class Case:
    """A sample case being written: its id, item and region, and the events added so far."""

    def __init__(self, case_id: str, item: str, region: str) -> None:
        self.case_id, self.item, self.region = case_id, item, region
        self.n = 0
        self.events: list[dict[str, Any]] = []

    def ev(
        self, kind: str, when: str, staff: str, *, lag_hours: float = 0.1, recorded: str | None = None, **payload: Any
    ) -> Case:
        """Add an event recorded ``lag_hours`` after it occurred (or at ``recorded``); returns the case for chaining."""
        self.n += 1
        occurred = datetime.fromisoformat(when).replace(tzinfo=TZ)
        if recorded is not None:
            lag_hours = (datetime.fromisoformat(recorded).replace(tzinfo=TZ) - occurred).total_seconds() / 3600
        self.events.append(
            {
                "schema_version": 1,
                "event_id": f"{self.case_id}-e{self.n:02d}",
                "case_id": self.case_id,
                "item_code": self.item,
                "department_id": ITEM_DEPT[self.item],
                "region_code": self.region,
                "staff_id": staff,
                "kind": kind,
                "occurred_at": occurred.isoformat(),
                "recorded_at": (occurred + timedelta(hours=lag_hours)).isoformat(),
                "payload": payload,
            }
        )
        return self


FOOD_MATERIALS = ["application_form", "business_licence", "floor_plan"]
LAND_MATERIALS = ["application_form", "identity", "title_deed"]


def cases() -> list[Case]:
    """The sample cases of events.jsonl, one or more for every rule category and severity."""
    out = []
    # 1. A clean food licence: every stage in order, in time, separate reviewer and approver → no finding.
    out.append(
        Case("DZ2026-0001", "SC-FOOD-001", "511702")
        .ev("apply", "2026-03-02T09:10", "s-wang", materials=FOOD_MATERIALS)
        .ev("accept", "2026-03-02T10:00", "s-wang")
        .ev("review", "2026-03-05T15:00", "s-li", conditions_met=["premises_inspected"])
        .ev("approve", "2026-03-09T11:00", "s-zhao", licence_no="JY15117020001")
        .ev("certificate_delivered", "2026-03-10T09:30", "s-wang")
        .ev("conclude", "2026-03-10T09:40", "s-wang", outcome="granted")
    )
    # 2. A construction permit accepted before the Spring Festival and never decided: notice, promise
    #    breached (7 WD), statutory breach (20 WD, art. 42) and red card after the follow-up period.
    out.append(
        Case("DZ2026-0002", "SC-BUILD-003", "511703")
        .ev("apply", "2026-02-09T09:00", "s-chen")
        .ev("accept", "2026-02-10T10:00", "s-chen")
        .ev("review", "2026-02-12T16:00", "s-liu", conditions_met=["land_use_approved"])
    )
    # 3. Nobody acts on an application: notice, then deemed acceptance (art. 32(4)), then the decision
    #    clock counts from the day of receipt.
    out.append(
        Case("DZ2026-0003", "SC-FOOD-001", "511722").ev("apply", "2026-04-13T14:00", "s-he", materials=FOOD_MATERIALS)
    )
    # 4. A fee on a free item (art. 58).
    out.append(
        Case("DZ2026-0004", "SC-FOOD-001", "511702")
        .ev("apply", "2026-03-16T09:00", "s-wang", materials=FOOD_MATERIALS)
        .ev("fee_charged", "2026-03-16T09:05", "s-wang", fee_code="MATERIAL", amount_fen=2000)
        .ev("accept", "2026-03-16T09:30", "s-wang")
        .ev("review", "2026-03-18T10:00", "s-li", conditions_met=["premises_inspected"])
        .ev("approve", "2026-03-20T10:00", "s-zhao")
        .ev("certificate_delivered", "2026-03-23T10:00", "s-wang")
        .ev("conclude", "2026-03-23T10:10", "s-wang")
    )
    # 5. Land registration: fee above the standard, an unlisted fee, the same fee twice (art. 59).
    out.append(
        Case("DZ2026-0005", "SC-LAND-002", "511703")
        .ev("apply", "2026-05-06T09:00", "s-xu", materials=LAND_MATERIALS)
        .ev("accept", "2026-05-06T09:20", "s-xu")
        .ev("fee_charged", "2026-05-06T09:30", "s-xu", fee_code="REG-HOUSE", amount_fen=12000)
        .ev("fee_charged", "2026-05-06T09:31", "s-xu", fee_code="SURVEY", amount_fen=5000)
        .ev("fee_charged", "2026-05-06T09:32", "s-xu", fee_code="CERT", amount_fen=1000)
        .ev("fee_charged", "2026-05-07T09:00", "s-xu", fee_code="CERT", amount_fen=1000)
        .ev("review", "2026-05-07T15:00", "s-xu")
        .ev("approve", "2026-05-08T10:00", "s-gao")
        .ev("certificate_delivered", "2026-05-08T16:00", "s-xu")
        .ev("conclude", "2026-05-08T16:10", "s-xu")
    )
    # 6. Procedure: reviewed before acceptance (stage skipped), the reviewer approves his own review
    #    where separation is required, and an event after conclusion.
    out.append(
        Case("DZ2026-0006", "SC-BUILD-003", "511702")
        .ev("apply", "2026-03-23T09:00", "s-chen")
        .ev(
            "review",
            "2026-03-24T09:00",
            "s-liu",
            conditions_met=["land_use_approved", "planning_permit", "safety_measures"],
        )
        .ev("accept", "2026-03-24T10:00", "s-chen")
        .ev("approve", "2026-03-25T10:00", "s-liu")
        .ev("certificate_delivered", "2026-03-26T10:00", "s-chen")
        .ev("conclude", "2026-03-26T11:00", "s-chen")
        .ev("review", "2026-03-27T09:00", "s-liu")
    )
    # 7. Two supplement notices (一次性告知 broken), a suspension with no reason, an extension with no
    #    approver, and a second extension beyond the maximum.
    out.append(
        Case("DZ2026-0007", "SC-FOOD-001", "511722")
        .ev("apply", "2026-04-01T09:00", "s-he", materials=["application_form"])
        .ev("supplement_notice", "2026-04-02T09:00", "s-he", missing_materials=["business_licence"])
        .ev("supplement_received", "2026-04-07T09:00", "s-he", materials=["business_licence"])
        .ev("supplement_notice", "2026-04-08T09:00", "s-he", missing_materials=["floor_plan"])
        .ev("supplement_received", "2026-04-09T09:00", "s-he", materials=["floor_plan"])
        .ev("accept", "2026-04-09T10:00", "s-he")
        .ev("suspend", "2026-04-10T10:00", "s-he", reason="")
        .ev("extend", "2026-04-13T10:00", "s-he", days=10, reason="complex premises")
        .ev("extend", "2026-04-14T10:00", "s-he", days=15, approver_id="s-boss", reason="again")
        .ev("review", "2026-04-15T10:00", "s-li", conditions_met=["premises_inspected"])
        .ev("approve", "2026-04-16T10:00", "s-zhao")
        .ev("certificate_delivered", "2026-04-17T10:00", "s-he")
        .ev("conclude", "2026-04-17T11:00", "s-he")
    )
    # 8. Conditions: approved without the floor plan and without the premises inspection (art. 38).
    out.append(
        Case("DZ2026-0008", "SC-FOOD-001", "511703")
        .ev("apply", "2026-05-11T09:00", "s-sun", materials=["application_form", "business_licence"])
        .ev("accept", "2026-05-11T09:30", "s-sun")
        .ev("review", "2026-05-12T09:00", "s-li")
        .ev("approve", "2026-05-13T09:00", "s-zhao")
        .ev("certificate_delivered", "2026-05-14T09:00", "s-sun")
        .ev("conclude", "2026-05-14T09:10", "s-sun")
    )
    # 9. First inquiry: closed as "not our business" with no referral (首问负责制).
    out.append(
        Case("DZ2026-0009", "SC-LAND-002", "511702")
        .ev("inquiry", "2026-05-18T10:00", "s-xu", subject="farmland conversion")
        .ev("inquiry_out_of_scope", "2026-05-18T10:05", "s-xu")
    )
    # 10. First inquiry done right: referred to the responsible department → no finding.
    out.append(
        Case("DZ2026-0010", "SC-LAND-002", "511702")
        .ev("inquiry", "2026-05-18T11:00", "s-xu", subject="forest land")
        .ev("refer", "2026-05-18T11:05", "s-xu", to_department_id="DZ-LCJ", reason="forestry remit")
        .ev("inquiry_out_of_scope", "2026-05-18T11:06", "s-xu", referred_to_department_id="DZ-LCJ")
    )
    # 11. Back-dated: an approval entered nine days after it happened (handled outside the system).
    out.append(
        Case("DZ2026-0011", "SC-LAND-002", "511722")
        .ev("apply", "2026-05-19T09:00", "s-zhou", materials=LAND_MATERIALS)
        .ev("accept", "2026-05-19T09:10", "s-zhou")
        .ev("review", "2026-05-20T09:00", "s-zhou")
        .ev("approve", "2026-05-21T09:00", "s-gao", lag_hours=24 * 9)
        .ev("certificate_delivered", "2026-05-22T09:00", "s-zhou")
        .ev("conclude", "2026-05-22T09:10", "s-zhou")
    )
    # 12. Joint approval with deemed approval (超时默认): 45 WD pass without a decision → deemed approved,
    #     attributed to the late department; then the certificate is not delivered in time (art. 44).
    out.append(
        Case("DZ2026-0012", "SC-INVEST-004", "511700")
        .ev("apply", "2026-02-02T09:00", "s-fan")
        .ev("accept", "2026-02-03T09:00", "s-fan")
        .ev("review", "2026-03-02T09:00", "s-ma")
    )
    # 13. Lawful expert review (art. 45) and a lawful extension (art. 42) → decided in time, no finding.
    out.append(
        Case("DZ2026-0013", "SC-BUILD-003", "511703")
        .ev("apply", "2026-05-06T09:00", "s-chen")
        .ev("accept", "2026-05-06T10:00", "s-chen")
        .ev("suspend", "2026-05-07T10:00", "s-chen", procedure="expert_review", reason="structural safety")
        .ev("resume", "2026-05-20T10:00", "s-chen")
        .ev("extend", "2026-05-21T10:00", "s-chen", days=5, approver_id="s-boss", reason="expert findings")
        .ev(
            "review",
            "2026-05-22T10:00",
            "s-liu",
            conditions_met=["land_use_approved", "planning_permit", "safety_measures"],
        )
        .ev("approve", "2026-05-25T10:00", "s-boss")
        .ev("certificate_delivered", "2026-05-26T10:00", "s-chen")
        .ev("conclude", "2026-05-26T11:00", "s-chen")
    )
    # 14. An item code not in the catalog: data quality, statutory defaults applied.
    out.append(
        Case("DZ2026-0014", "SC-UNKNOWN-999", "511702")
        .ev("apply", "2026-06-22T09:00", "s-wang")
        .ev("accept", "2026-06-22T09:30", "s-wang")
    )
    # 15. Granted on time but the certificate is never delivered: promise (3 WD) and law (10 WD, art. 44).
    out.append(
        Case("DZ2026-0015", "SC-LAND-002", "511703")
        .ev("apply", "2026-06-01T09:00", "s-xu", materials=LAND_MATERIALS)
        .ev("accept", "2026-06-01T09:10", "s-xu")
        .ev("review", "2026-06-02T09:00", "s-xu")
        .ev("approve", "2026-06-03T09:00", "s-gao")
    )
    # 16. Preliminary review (art. 43) overdue at the lower office, and the latest event of the file.
    out.append(
        Case("DZ2026-0016", "SC-HEALTH-005", "511722")
        .ev("apply", "2026-06-01T09:00", "s-tang")
        .ev("accept", "2026-06-01T10:00", "s-tang")
        .ev("fee_charged", "2026-06-30T17:00", "s-tang", fee_code="EXAM", amount_fen=3000)
    )
    return out


HYGIENE_MATERIALS = ["application_form", "hygiene_rules"]


def triggers() -> list[Case]:
    """The sample cases of triggers.jsonl: the remaining triggers of published e-supervision measures."""
    out = []
    # 101. 不予受理 of an incomplete file, but with no reasons and without telling the applicant of the right to
    #      administrative review or litigation (arts. 32, 38 ¶2) → two procedure findings.
    out.append(
        Case("DZ2026-0101", "SC-FOOD-001", "511702")
        .ev("apply", "2026-03-02T09:00", "s-wang", applicant_id="91511702MA0001", materials=["application_form"])
        .ev("refuse_accept", "2026-03-02T09:40", "s-wang", reason="", remedy_notified=False)
        .ev("conclude", "2026-03-02T10:00", "s-wang", outcome="not_accepted")
    )
    # 102. 不予许可 of a complete application (every listed material, no supplement notice, the condition verified
    #      by the review): a notice for the supervisor to check the stated reason.
    out.append(
        Case("DZ2026-0102", "SC-FOOD-001", "511703")
        .ev("apply", "2026-03-09T09:00", "s-sun", materials=FOOD_MATERIALS)
        .ev("accept", "2026-03-09T09:30", "s-sun")
        .ev("review", "2026-03-11T10:00", "s-li", conditions_met=["premises_inspected"])
        .ev("refuse_license", "2026-03-13T10:00", "s-zhao", reason="经研究不予许可", remedy_notified=True)
        .ev("conclude", "2026-03-13T11:00", "s-sun", outcome="refused")
    )
    # 103. Step limit (环节时限): the 承办→审核 step promises 4 WD; the review comes on day 5 — a notice and a yellow
    #      card for the step, although the 10-day promise for the decision holds.
    out.append(
        Case("DZ2026-0103", "SC-HYGIENE-006", "511722")
        .ev("apply", "2026-03-02T09:00", "s-tang", materials=HYGIENE_MATERIALS)
        .ev("accept", "2026-03-02T09:20", "s-tang")
        .ev("review", "2026-03-09T10:00", "s-qian", conditions_met=["premises_inspected"])
        .ev("approve", "2026-03-10T10:00", "s-kong")
        .ev("certificate_delivered", "2026-03-11T10:00", "s-tang")
        .ev("conclude", "2026-03-11T10:10", "s-tang", outcome="granted")
    )
    # 104. Off-system (体外循环): the application reaches the system at 17:00, after the approval at 11:00.
    out.append(
        Case("DZ2026-0104", "SC-LAND-002", "511703")
        .ev("apply", "2026-04-07T09:00", "s-xu", materials=LAND_MATERIALS, recorded="2026-04-07T17:00")
        .ev("accept", "2026-04-07T09:10", "s-xu", recorded="2026-04-07T17:01")
        .ev("review", "2026-04-07T10:00", "s-xu", recorded="2026-04-07T17:02")
        .ev("approve", "2026-04-07T11:00", "s-gao", recorded="2026-04-07T16:00")
        .ev("certificate_delivered", "2026-04-08T09:00", "s-xu")
        .ev("conclude", "2026-04-08T09:10", "s-xu")
    )
    # 105. Off-system: a whole case of 13-16 April entered in one sitting on 20 April → each event back-dated and
    #      one batch finding at the third.
    out.append(
        Case("DZ2026-0105", "SC-LAND-002", "511722")
        .ev("apply", "2026-04-13T09:00", "s-zhou", materials=LAND_MATERIALS, recorded="2026-04-20T10:00")
        .ev("accept", "2026-04-13T09:30", "s-zhou", recorded="2026-04-20T10:01")
        .ev("review", "2026-04-14T10:00", "s-zhou", recorded="2026-04-20T10:02")
        .ev("approve", "2026-04-15T10:00", "s-gao", recorded="2026-04-20T10:03")
        .ev("certificate_delivered", "2026-04-16T10:00", "s-zhou", recorded="2026-04-20T10:04")
        .ev("conclude", "2026-04-16T10:10", "s-zhou", recorded="2026-04-20T10:05")
    )
    # 106. Off-system: a hygiene licence needing an on-site check approved 8 minutes after the application
    #      (the item's plausible minimum is 240).
    out.append(
        Case("DZ2026-0106", "SC-HYGIENE-006", "511702")
        .ev("apply", "2026-05-06T09:00", "s-tang", materials=HYGIENE_MATERIALS)
        .ev("accept", "2026-05-06T09:02", "s-tang")
        .ev("review", "2026-05-06T09:05", "s-qian", conditions_met=["premises_inspected"])
        .ev("approve", "2026-05-06T09:08", "s-kong")
        .ev("certificate_delivered", "2026-05-07T09:00", "s-tang")
        .ev("conclude", "2026-05-07T09:10", "s-tang")
    )
    # 107. Clock manipulation: an expert review of 3 March - 8 April (25 working days) in a 20-day decision period.
    out.append(
        Case("DZ2026-0107", "SC-FOOD-001", "511703")
        .ev("apply", "2026-03-02T09:00", "s-sun", materials=FOOD_MATERIALS)
        .ev("accept", "2026-03-02T09:30", "s-sun")
        .ev("suspend", "2026-03-03T10:00", "s-li", procedure="expert_review", reason="食品安全专家评审")
        .ev("resume", "2026-04-08T10:00", "s-li")
        .ev("review", "2026-04-09T10:00", "s-li", conditions_met=["premises_inspected"])
        .ev("approve", "2026-04-10T10:00", "s-zhao")
        .ev("certificate_delivered", "2026-04-13T10:00", "s-sun")
        .ev("conclude", "2026-04-13T10:10", "s-sun")
    )
    # 108. Clock manipulation: materials requested again after acceptance (and supplied) — the period is not
    #      restarted; then a 15-day extension approved by the head is flagged and applied capped at 10 (art. 42).
    out.append(
        Case("DZ2026-0108", "SC-FOOD-001", "511722")
        .ev("apply", "2026-05-11T09:00", "s-he", materials=FOOD_MATERIALS)
        .ev("accept", "2026-05-11T09:30", "s-he")
        .ev("supplement_notice", "2026-05-14T09:00", "s-he", missing_materials=["site_photos"])
        .ev("supplement_received", "2026-05-18T09:00", "s-he", materials=["site_photos"])
        .ev("extend", "2026-05-19T09:00", "s-he", days=15, approver_id="s-boss", reason="补充材料后需重新审查")
    )
    # 109-110. The rest of the registry, so that every rule appears in examples/: an application whose clock is
    #      ahead of the recording (future-dated), acceptance after the 1-day promise, a suspension the applicant was
    #      not told of, a resumption with none open, an extension not explained to the applicant and a second one,
    #      then concluded without delivering the certificate; and an extension after the deadline.
    out.append(
        Case("DZ2026-0109", "SC-LAND-002", "511702")
        .ev("apply", "2026-06-01T09:00", "s-xu", materials=LAND_MATERIALS, recorded="2026-06-01T08:00")
        .ev("accept", "2026-06-03T09:00", "s-xu")
        .ev("suspend", "2026-06-04T09:00", "s-xu", procedure="appraisal", reason="测绘鉴定", applicant_notified=False)
        .ev("resume", "2026-06-05T09:00", "s-xu")
        .ev("resume", "2026-06-08T09:00", "s-xu")
        .ev("extend", "2026-06-09T09:00", "s-xu", days=5, approver_id="s-boss", applicant_notified=False)
        .ev("extend", "2026-06-10T09:00", "s-xu", days=5, approver_id="s-boss")
        .ev("review", "2026-06-11T09:00", "s-xu")
        .ev("approve", "2026-06-12T09:00", "s-gao")
        .ev("conclude", "2026-06-12T10:00", "s-xu", outcome="granted")
    )
    out.append(
        Case("DZ2026-0110", "SC-FOOD-001", "511702")
        .ev("apply", "2026-03-02T09:00", "s-wang", materials=FOOD_MATERIALS)
        .ev("accept", "2026-03-02T09:30", "s-wang")
        .ev("extend", "2026-04-01T10:00", "s-wang", days=5, approver_id="s-boss", reason="情况复杂")
    )
    # 111-112. Clock manipulation across cases: accepted on 1 July, withdrawn on 8 July as the decision period ran
    #      on, and applied for again by the same applicant on 10 July — a new case, new periods (DQ_WITHDRAW_REAPPLY
    #      on the new case, naming who took the new application).
    out.append(
        Case("DZ2026-0111", "SC-FOOD-001", "511702")
        .ev("apply", "2026-07-01T09:00", "s-wang", applicant_id="APP-91370000", materials=FOOD_MATERIALS)
        .ev("accept", "2026-07-01T09:30", "s-wang")
        .ev("withdraw", "2026-07-08T15:00", "s-wang", reason="申请人主动撤回")
    )
    out.append(
        Case("DZ2026-0112", "SC-FOOD-001", "511702")
        .ev("apply", "2026-07-10T09:00", "s-sun", applicant_id="APP-91370000", materials=FOOD_MATERIALS)
        .ev("accept", "2026-07-10T09:30", "s-sun")
    )
    return out


def write(path: Path, batch: list[Case]) -> None:
    """Write the events of ``batch``, case by case, to ``path`` as JSON lines."""
    events = [e for c in batch for e in c.events]
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")
    print(f"wrote {len(events)} events to {path}")


def main() -> None:
    """Write examples/events.jsonl and examples/triggers.jsonl."""
    write(OUT, cases())
    write(TRIGGERS, triggers())


if __name__ == "__main__":
    main()
