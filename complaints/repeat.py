"""Repeated substantiated complaints against one staff member or one department within a period, pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from complaints.config import ComplaintsConfig
from complaints.contract import Received
from complaints.rules import Complaint
from loop.rules import fire
from schemas.findings import Category, Finding, Severity, finding_id
from streams.rules.calendar import WorkCalendar

RULE = "CMP_REPEATED"
ARTICLE = "行政过错责任追究 (多次被投诉属实)"
# Misconduct and fee complaints weigh on integrity; the rest on attitude (as a single substantiated one does).
_INTEGRITY = {"fees", "misconduct"}


def _subjects(c: Complaint) -> list[tuple[str, str]]:
    out = []
    if c.subject("staff_id"):
        out.append(("staff", str(c.subject("staff_id"))))
    if c.subject("department_id"):
        out.append(("department", str(c.subject("department_id"))))
    return out


def pending(
    complaints: Iterable[Complaint], cfg: ComplaintsConfig, cal: WorkCalendar
) -> list[tuple[datetime, Finding]]:
    """Per subject, a finding at each substantiated close that makes ``repeat.count`` of them within
    ``repeat.days`` days, unless one was raised for that subject within the period before (one per wave)."""
    closes: dict[tuple[str, str], list[tuple[datetime, Complaint]]] = {}
    for c in complaints:
        sub = c.closed_substantiated()
        if sub is None or not c.of(Received):
            continue
        for subject in _subjects(c):
            closes.setdefault(subject, []).append((sub.at, c))
    period = timedelta(days=cfg.repeat.days)
    out: list[tuple[datetime, Finding]] = []
    for (kind, sid), items in sorted(closes.items()):
        items.sort(key=lambda p: (p[0], p[1].complaint_id))
        last_fired: datetime | None = None
        for i, (at, c) in enumerate(items):
            window = [p for p in items[: i + 1] if p[0] > at - period]
            if len(window) < cfg.repeat.count or (last_fired is not None and at - last_fired <= period):
                continue
            last_fired = at
            integrity = sum(str(p[1].subject("category")) in _INTEGRITY for p in window) * 2 > len(window)
            ids = [p[1].complaint_id for p in window]
            out.append(
                (
                    at,
                    Finding(
                        finding_id=finding_id(f"{kind}:{sid}", RULE, c.complaint_id),
                        case_id=c.subject("case_id") or c.complaint_id,
                        rule=RULE,
                        category=Category.integrity if integrity else Category.attitude,
                        severity=Severity.red,
                        title=f"repeated substantiated complaints against one {kind} (多次被投诉属实)",
                        message=f"{len(window)} substantiated complaints against {kind} {sid} "
                        f"within {cfg.repeat.days} days",
                        staff_id=sid if kind == "staff" else (c.subject("staff_id") or ""),
                        department_id=c.subject("department_id") or "",
                        region_code=c.subject("region_code") or "",
                        item_code="",
                        detected_at=at,
                        deadline=None,
                        law_article=ARTICLE,
                        evidence_event_ids=[m.message_id for p in window for m in (p[1].closed_substantiated(),) if m],
                        calendar_version=cal.version,
                        details={
                            "subject_kind": kind,
                            "subject_id": sid,
                            "complaint_ids": ids,
                            "count": len(window),
                            "period_days": cfg.repeat.days,
                            "threshold": cfg.repeat.count,
                            "complaint_id": c.complaint_id,
                        },
                    ),
                )
            )
    return out


def due(
    complaints: Iterable[Complaint], fired: set[str], now: datetime, cfg: ComplaintsConfig, cal: WorkCalendar
) -> list[Finding]:
    """The repeat findings due at ``now`` not yet in ``fired`` (which this adds them to)."""
    return fire(pending(complaints, cfg, cal), fired, now)
