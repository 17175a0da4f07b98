"""Builders shared by the loop's tests: findings and loop messages on real 2026 dates."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from loop.contract import Decision, RecommendationReport, Response, message_id
from schemas.findings import Finding, finding_id

TZ = ZoneInfo("Asia/Shanghai")


def t(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


def finding(
    detected: datetime,
    *,
    severity: str = "yellow",
    category: str = "time",
    case: str = "C1",
    dept: str = "DZ-1",
    region: str = "511702",
    staff: str = "s-1",
    rule: str = "TIME_DECISION_OVERDUE",
    **extra: Any,
) -> Finding:
    return Finding(
        finding_id=finding_id(case, rule, detected.isoformat()),
        case_id=case,
        rule=rule,
        category=category,
        severity=severity,
        title=rule,
        message=rule,
        staff_id=staff,
        department_id=dept,
        region_code=region,
        item_code="ITEM",
        detected_at=detected,
        deadline=detected,
        law_article="行政许可法 第42条",
        evidence_event_ids=["e1"],
        calendar_version="test",
        **extra,
    )


def response(f: Finding, at: datetime, key: str = "r1", kind: str = "explanation") -> Response:
    return Response(
        message_id=message_id(f.finding_id, "response", key),
        finding_id=f.finding_id,
        actor_id="dept-user",
        at=at,
        kind=kind,
        department_id=f.department_id,
        text="说明理由",
    )


def decision(f: Finding, at: datetime, outcome: str, key: str = "d1", **fields: Any) -> Decision:
    return Decision(
        message_id=message_id(f.finding_id, "decision", key),
        finding_id=f.finding_id,
        actor_id="supervisor",
        at=at,
        outcome=outcome,
        reason="因为",
        **fields,
    )


def report(f: Finding, at: datetime, key: str = "p1") -> RecommendationReport:
    return RecommendationReport(
        message_id=message_id(f.finding_id, "recommendation_report", key),
        finding_id=f.finding_id,
        actor_id="dept-user",
        at=at,
        department_id=f.department_id,
        text="已整改",
    )
