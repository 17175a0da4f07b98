"""The simulated departments' answers (回告) and supervisors' decisions on findings, with what the loop must do.

Design: docs/architecture.md#simulated-answers-and-decisions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from loop.config import LoopConfig
from loop.contract import Decision, RecommendationReport, Response, message_id
from schemas.findings import Category, Finding
from sim.truth import LoopExpected
from streams.rules.calendar import TZ, WorkCalendar, local_date

RESPONSE_OVERDUE = "SUP_RESPONSE_OVERDUE"
RECOMMENDATION_OVERDUE = "SUP_RECOMMENDATION_OVERDUE"
BEHAVIOURS = {"on_time": 0.6, "late": 0.2, "missing": 0.2}
REPORT_WITHIN_WD = 5
SUPERVISOR = "sim-supervisor"

Message = Response | Decision | RecommendationReport


@dataclass(frozen=True)
class Plan:
    """One finding's simulated story: its behaviour, the messages on it, and the supervision findings they leave due."""

    finding: Finding
    behaviour: str
    story: str
    messages: list[Message]
    overdue: list[tuple[str, datetime]]  # every supervision finding the messages leave due, with its moment

    def truth(self, at: datetime) -> LoopExpected:
        """The outcome with every message made by ``at`` sent and the loop's clock at ``at``."""
        sent = [m for m in self.messages if m.at <= at]
        decisions = sorted((m for m in sent if isinstance(m, Decision)), key=lambda m: (m.at, m.message_id))
        f = self.finding
        return LoopExpected(
            f.finding_id,
            f.case_id,
            f.department_id,
            f.staff_id,
            self.behaviour,
            self.story,
            [(rule, moment.isoformat()) for rule, moment in self.overdue if moment <= at],
            [(str(d.measure), str(d.target_kind), str(d.target_id)) for d in decisions if d.measure],
            decisions[-1].outcome.value if decisions else "pending",
        )


def supervised(f: Finding, cfg: LoopConfig) -> bool:
    """Whether the loop supervises ``f``: not itself a supervision finding, of a severity with a response limit."""
    return f.category != Category.supervision and f.severity in cfg.response_wd


def plan(f: Finding, seed: int, cfg: LoopConfig, cal: WorkCalendar) -> Plan | None:
    """The department's and the supervisor's messages on ``f``, or None when the loop does not supervise it."""
    if not supervised(f, cfg):
        return None
    rnd = random.Random(f"{seed}:loop:{f.finding_id}")
    wd = cfg.response_wd[f.severity]
    start = local_date(f.detected_at)
    last = cal.add_workdays(start, wd)
    due = _midnight_after(last)
    behaviour = rnd.choices(list(BEHAVIOURS), list(BEHAVIOURS.values()))[0]
    msgs: list[Message] = []
    overdue: list[tuple[str, datetime]] = []
    dept_actor = f"{f.department_id}.office"

    def at(day_after: int, hour: int, base: Any = start) -> datetime:
        return datetime.combine(cal.add_workdays(base, day_after), time(hour), TZ)

    if behaviour == "missing":
        overdue.append((RESPONSE_OVERDUE, due))
        decided = at(wd + 1, 11)
        msgs.append(
            _decision(
                f,
                decided,
                "accountability",
                "逾期未回告",
                measure="efficiency_warning",
                target_kind="department",
                target_id=f.department_id,
            )
        )
        return Plan(f, behaviour, "held_accountable", msgs, overdue)
    answered = at(rnd.randint(1, wd), 10) if behaviour == "on_time" else at(wd + rnd.randint(1, 2), 10)
    if behaviour == "late":
        overdue.append((RESPONSE_OVERDUE, due))
    kind = rnd.choices(["appeal", "explanation", "rectification"], [0.3, 0.35, 0.35])[0]
    msgs.append(
        Response(
            message_id=message_id(f.finding_id, "response", "sim-1"),
            finding_id=f.finding_id,
            actor_id=dept_actor,
            at=answered,
            kind=kind,
            department_id=f.department_id,
            text={
                "appeal": "申诉：系依法中止，附证明材料",
                "explanation": "说明理由：系统延迟录入",
                "rectification": "整改情况：已补正并完成办理",
            }[kind],
        )
    )
    decided = at(1, 15, local_date(answered))
    if kind == "appeal":
        if rnd.random() < 0.5:
            msgs.append(_decision(f, decided, "dismissed", "申诉成立", dismissal_reason="lawful_cause"))
            return Plan(f, behaviour, "appeal_accepted", msgs, overdue)
        msgs.append(_decision(f, decided, "confirmed", "申诉不成立"))
        return Plan(f, behaviour, "appeal_refused", msgs, overdue)
    if kind == "explanation":
        msgs.append(_decision(f, decided, "confirmed", "理由不充分，维持"))
        return Plan(f, behaviour, "explained", msgs, overdue)
    if rnd.random() < 0.5:
        msgs.append(
            _decision(
                f,
                decided,
                "accountability",
                "整改到位，提醒谈话",
                measure="reminder_talk",
                target_kind="staff",
                target_id=f.staff_id,
            )
        )
        return Plan(f, behaviour, "reminder_talk", msgs, overdue)
    rec = _decision(
        f, decided, "recommendation", "督办", recommendation="限期完善办理流程并报告", report_within_wd=REPORT_WITHIN_WD
    )
    msgs.append(rec)
    if rnd.random() < 0.5:
        report_at = at(2, 10, local_date(decided))
        msgs.append(
            RecommendationReport(
                message_id=message_id(f.finding_id, "recommendation_report", "sim-1"),
                finding_id=f.finding_id,
                actor_id=dept_actor,
                at=report_at,
                department_id=f.department_id,
                text="监察建议已落实",
            )
        )
        return Plan(f, behaviour, "recommendation_done", msgs, overdue)
    overdue.append((RECOMMENDATION_OVERDUE, _midnight_after(cal.add_workdays(local_date(decided), REPORT_WITHIN_WD))))
    if rnd.random() < 0.5:  # reported, but a working day after its last day: still overdue
        report_at = at(REPORT_WITHIN_WD + 1, 10, local_date(decided))
        msgs.append(
            RecommendationReport(
                message_id=message_id(f.finding_id, "recommendation_report", "sim-1"),
                finding_id=f.finding_id,
                actor_id=dept_actor,
                at=report_at,
                department_id=f.department_id,
                text="监察建议已落实（逾期）",
            )
        )
        return Plan(f, behaviour, "recommendation_late", msgs, overdue)
    return Plan(f, behaviour, "recommendation_ignored", msgs, overdue)


def _midnight_after(day: Any) -> datetime:
    """24:00 of ``day``: the moment a period ending that day has run out."""
    return datetime.combine(day + timedelta(days=1), time(0), TZ)


def _decision(f: Finding, at: datetime, outcome: str, reason: str, **fields: Any) -> Decision:
    return Decision(
        message_id=message_id(f.finding_id, "decision", "sim-1"),
        finding_id=f.finding_id,
        actor_id=SUPERVISOR,
        at=at,
        outcome=outcome,
        reason=reason,
        **fields,
    )
