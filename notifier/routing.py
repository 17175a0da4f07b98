"""Who hears of a finding on which channel, when quiet hours end, and how long to wait after a failure (pure)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from directory.index import Accountable, DirectoryIndex
from notifier.config import NotifierConfig, QuietHours
from schemas.findings import SEVERITY_RANK, Finding, Severity

DEEMED = re.compile(r"^TIME_.*DEEMED")
SEVERITY_ZH = {Severity.notice: "预警", Severity.yellow: "黄牌", Severity.red: "红牌"}
REASON_ZH = {"responsible": "责任人", "head": "部门负责人", "bureau": "监察机关"}


def delivery_id(finding_id: str, severity: str, recipient: str, channel: str) -> str:
    """The idempotency key: one delivery per (finding, severity, recipient, channel), whatever the redeliveries."""
    return hashlib.sha256(f"{finding_id}\x1f{severity}\x1f{recipient}\x1f{channel}".encode()).hexdigest()[:32]


@dataclass
class Delivery:
    """One message to send; `payload` holds all a restarted notifier needs to send it again."""

    delivery_id: str
    finding_id: str
    severity: str
    recipient: str
    channel: str
    reason: str
    escalation: bool
    case_id: str
    rule: str
    address: str  # email address, mobile number, or the recipient id for the webhook; "" when unknown
    subject: str
    text: str
    body: dict[str, Any]
    accountable: dict[str, str] = field(default_factory=dict)
    attempt: int = 0
    next_at: datetime | None = None


def head_accountable(f: Finding) -> bool:
    """True for a red card or a deemed acceptance or approval: the department head answers for it (部门首长问责)."""
    return f.severity == Severity.red or bool(DEEMED.match(f.rule))


def recipients(f: Finding, acct: Accountable, config: NotifierConfig) -> list[tuple[str, str, list[str]]]:
    """(reason, staff id, channels) for every recipient of the finding's card, each person once per reason."""
    route = dict(config.routes.get(f.severity, {}))
    if config.head_for_red_and_deemed and head_accountable(f) and "head" not in route:
        strongest = max(config.routes, key=lambda s: SEVERITY_RANK[s])
        route["head"] = config.routes[strongest].get("head") or route.get("responsible", ["email"])
    enabled = config.channels.enabled()
    out: list[tuple[str, str, list[str]]] = []
    seen: set[str] = set()
    for reason, people in (
        ("responsible", [acct.staff_id]),
        ("head", [acct.head_id] if acct.head_id else []),
        ("bureau", list(acct.bureau_staff)),
    ):
        channels = [c for c in route.get(reason, []) if c in enabled]  # type: ignore[call-overload]
        for person in people:
            if person and person not in seen and channels:
                seen.add(person)  # a head who is also the responsible staff gets one message, not two
                out.append((reason, person, channels))
    return out


def plan(f: Finding, index: DirectoryIndex, config: NotifierConfig, *, escalation: bool) -> list[Delivery]:
    """Every delivery a finding calls for, with its rendered message."""
    acct = index.accountable(f.staff_id, f.department_id)
    out = []
    for reason, person, channels in recipients(f, acct, config):
        staff = index.staff.get(person)
        for channel in channels:
            address = {
                "email": staff.email if staff else None,
                "sms": staff.mobile if staff else None,
                "webhook": person,
            }[channel] or ""
            subject, text, body = render(f, acct, reason, person, index.staff_name(person), escalation)
            out.append(
                Delivery(
                    delivery_id(f.finding_id, f.severity.value, person, channel),
                    f.finding_id,
                    f.severity.value,
                    person,
                    channel,
                    reason,
                    escalation,
                    f.case_id,
                    f.rule,
                    address,
                    subject,
                    text,
                    body,
                    {
                        "staff_id": acct.staff_id,
                        "staff_name": acct.staff_name,
                        "department_id": acct.department_id,
                        "department_name": acct.department_name,
                        "head_id": acct.head_id,
                        "head_name": acct.head_name,
                        "bureau_id": acct.bureau_id,
                    },
                )
            )
    return out


def render(
    f: Finding, acct: Accountable, reason: str, person: str, name: str, escalation: bool
) -> tuple[str, str, dict[str, Any]]:
    """Subject, plain text and the JSON body (webhook and SMS) of one message."""
    card = SEVERITY_ZH[f.severity] + ("升级" if escalation else "")
    subject = f"【电子监察{card}】{acct.department_name}：{f.title}（案件 {f.case_id}）"
    lines = [
        f"{name}（{REASON_ZH[reason]}）：",
        "",
        f"{f.message}",
        "",
        f"案件：{f.case_id}    事项：{f.item_code}    规则：{f.rule}",
        f"责任人：{acct.staff_name}（{acct.staff_id}）    部门：{acct.department_name}（{acct.department_id}）",
        f"部门负责人：{acct.head_name or '未登记'}    发现时间：{f.detected_at.isoformat()}",
    ]
    if f.deadline is not None:
        lines.append(f"期限：{f.deadline.isoformat()}")
    if f.law_article:
        lines.append(f"依据：{f.law_article}")
    if head_accountable(f):
        lines.append("本项计入部门负责人责任（红牌或超时默认）。")
    body = {
        "finding_id": f.finding_id,
        "case_id": f.case_id,
        "rule": f.rule,
        "severity": f.severity.value,
        "escalation": escalation,
        "title": f.title,
        "message": f.message,
        "item_code": f.item_code,
        "detected_at": f.detected_at.isoformat(),
        "deadline": f.deadline.isoformat() if f.deadline else None,
        "law_article": f.law_article,
        "recipient": {"id": person, "name": name, "reason": reason},
        "staff": {"id": acct.staff_id, "name": acct.staff_name},
        "department": {"id": acct.department_id, "name": acct.department_name},
        "head": {"id": acct.head_id, "name": acct.head_name},
        "bureau": acct.bureau_id,
        "head_accountable": head_accountable(f),
        "text": subject,
    }
    return subject, "\n".join(lines) + "\n", body


def quiet_until(rules: list[QuietHours], channel: str, severity: str, at: datetime, tz: str) -> datetime | None:
    """When the quiet hours that hold `at` end for this channel and card; None when it may go now."""
    local = at.astimezone(ZoneInfo(tz))
    for q in rules:
        if q.channel != channel or severity in {s.value for s in q.except_severities}:
            continue
        t = local.timetz().replace(tzinfo=None)
        wraps = q.start > q.end
        inside = (t >= q.start or t < q.end) if wraps else (q.start <= t < q.end)
        if inside:
            end = local.replace(hour=q.end.hour, minute=q.end.minute, second=0, microsecond=0)
            return end + timedelta(days=1) if end <= local else end
    return None


def backoff(attempt: int, initial_s: float, max_s: float) -> float:
    """Seconds to wait after the attempt-th consecutive failure: initial, doubling, capped."""
    return float(min(max_s, initial_s * 2 ** max(0, attempt - 1)))
