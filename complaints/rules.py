"""The complaint cards, pure: dispatch, reply, extensions, evaluations and substantiated complaints (no I/O, no clock).

A complaint's state is a :class:`Complaint`: its messages by id (each id counts once). :func:`pending` works out
every card with the moment it becomes due from the messages' own times only, never their arrival order, so a
service that rebuilds from the log raises the same findings with the same ids; :func:`due` fires those whose
moment is ``<= now``. Periods count like the law's (start day not counted, 24:00 of the last working day).

- ``CMP_DISPATCH_LATE`` (notice): not dispatched (转办) within ``dispatch_wd`` of receipt.
- ``CMP_REPLY_LATE`` (yellow) / ``CMP_REPLY_LATE_RED`` (red): no reply within ``handle_wd`` / ``red_wd`` of the
  dispatch or of a reopening; an extension granted before a limit passes adds its working days to it.
- ``CMP_EXTENDED_TOO_OFTEN`` (red): more than ``max_extensions`` extensions.
- ``CMP_UNSATISFIED_AGAIN`` (red): the citizen unsatisfied at the ``unsatisfied_red``-th evaluation.
- ``CMP_UNSATISFIED_FINAL`` (yellow, satisfaction): closed while the latest evaluation is unsatisfied.
- ``CMP_SUBSTANTIATED``: closed as substantiated (属实), under attitude or integrity by its category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from complaints.config import ComplaintsConfig
from complaints.contract import (
    Category as Topic,
)
from complaints.contract import (
    Closed,
    ComplaintMessage,
    Dispatched,
    Evaluated,
    Extended,
    Rating,
    Received,
    Registered,
    Reopened,
    Replied,
)
from complaints.store import mask
from loop.rules import deadline, fire
from schemas.findings import Category, Finding, Severity, finding_id
from streams.rules.calendar import WorkCalendar, local_date

ARTICLE = "电子监察办法 投诉处理 (登记、转办、督办、反馈); 三色督办卡"
ARTICLES = {
    "CMP_SUBSTANTIATED": "行政过错责任追究 (投诉属实)",
    "CMP_UNSATISFIED_FINAL": "群众满意度评价 (回访不满意)",
}
TITLES = {
    "CMP_DISPATCH_LATE": "complaint not dispatched in time (投诉未按时转办)",
    "CMP_REPLY_LATE": "complaint not handled within the limit (投诉逾期未办结)",
    "CMP_REPLY_LATE_RED": "complaint still not handled, written explanation required (投诉严重逾期)",
    "CMP_EXTENDED_TOO_OFTEN": "complaint extended too often (投诉多次延期)",
    "CMP_UNSATISFIED_AGAIN": "citizen unsatisfied again (二次回访仍不满意)",
    "CMP_UNSATISFIED_FINAL": "complaint closed with the citizen unsatisfied (群众不满意)",
    "CMP_SUBSTANTIATED": "substantiated complaint (投诉属实)",
}
# Efficiency and "other" are matters of work style, judged under the attitude heading (服务态度/作风).
SUBSTANTIATED = {
    Topic.attitude: Category.attitude,
    Topic.efficiency: Category.attitude,
    Topic.other: Category.attitude,
    Topic.fees: Category.integrity,
    Topic.misconduct: Category.integrity,
}
M = TypeVar("M", bound=ComplaintMessage)


@dataclass
class Complaint:
    """What is known of one complaint: its messages (in any order, each id once) and the cards already raised."""

    complaint_id: str
    messages: dict[str, ComplaintMessage] = field(default_factory=dict)
    fired: set[str] = field(default_factory=set)

    def of(self, kind: type[M]) -> list[M]:
        """Messages of one type in time order (ties by message id: the order never depends on arrival)."""
        return sorted((m for m in self.messages.values() if isinstance(m, kind)), key=lambda m: (m.at, m.message_id))

    def subject(self, name: str) -> Any:
        """The latest known value of a subject field: dispatch (department), then registration, then receipt."""
        kinds: tuple[type[ComplaintMessage], ...] = (Received, Registered)
        if name == "department_id":
            kinds += (Dispatched,)
        found = None
        for kind in kinds:
            for m in self.of(kind):
                found = getattr(m, name, None) or found
        return found

    def closed_substantiated(self) -> Closed | None:
        """The first close (in time order) that found the complaint substantiated (属实), or None."""
        return next((c for c in self.of(Closed) if c.substantiated), None)


def apply(c: Complaint, msg: ComplaintMessage) -> Complaint:
    """Fold one message in; an id already applied changes nothing (the first copy stands)."""
    c.messages.setdefault(msg.message_id, msg)
    return c


def card(
    c: Complaint,
    rule: str,
    occurrence: str,
    category: Category,
    severity: Severity,
    moment: datetime,
    cal: WorkCalendar,
    evidence: Sequence[ComplaintMessage],
    details: dict[str, Any],
    deadline_at: datetime | None = None,
    counted: tuple[date, date] | None = None,
) -> Finding:
    """A complaint card: a finding on the complaint's case when it names one (it joins that case's evidence),
    else on the complaint itself; the id hangs on the complaint, so naming the case later keeps it."""
    case_id = c.subject("case_id")
    return Finding(
        finding_id=finding_id(c.complaint_id, rule, occurrence),
        case_id=case_id or c.complaint_id,
        rule=rule,
        category=category,
        severity=severity,
        title=TITLES[rule],
        message=f"{TITLES[rule]}: complaint {c.complaint_id}" + (f" on case {case_id}" if case_id else ""),
        staff_id=c.subject("staff_id") or "",
        department_id=c.subject("department_id") or "",
        region_code=c.subject("region_code") or "",
        item_code="",
        detected_at=moment,
        deadline=deadline_at,
        law_article=ARTICLES.get(rule, ARTICLE),
        evidence_event_ids=[m.message_id for m in evidence],
        calendar_version=cal.version,
        provisional=cal.provisional_between(*counted) if counted else False,
        details={
            "complaint_id": c.complaint_id,
            "complaint_category": str(c.subject("category") or ""),
            "complaint_case_id": case_id or "",
            **details,
        },
    )


def _limit(start: datetime, wd: int, extensions: list[Extended], cal: WorkCalendar) -> tuple[int, date, datetime]:
    """The period from ``start`` with each extension granted after ``start`` and before the limit then in force."""
    last, moment = deadline(start, wd, cal)
    for e in extensions:
        if start <= e.at <= moment:
            wd += e.extra_wd
            last, moment = deadline(start, wd, cal)
    return wd, last, moment


def _rounds(c: Complaint) -> list[tuple[ComplaintMessage, Replied | Closed | None, list[Extended]]]:
    """Each handling round: from the first dispatch or a reopening to the next reply (or close)."""
    starts: list[ComplaintMessage] = [*c.of(Dispatched)[:1]]
    starts += [r for r in c.of(Reopened) if starts and r.at >= starts[0].at]
    ends: list[Replied | Closed] = sorted([*c.of(Replied), *c.of(Closed)], key=lambda m: (m.at, m.message_id))
    out: list[tuple[ComplaintMessage, Replied | Closed | None, list[Extended]]] = []
    for i, s in enumerate(starts):
        until = starts[i + 1].at if i + 1 < len(starts) else None
        end = next((e for e in ends if e.at >= s.at and (until is None or e.at <= until)), None)
        exts = [e for e in c.of(Extended) if e.at >= s.at and (until is None or e.at < until)]
        out.append((s, end, exts))
    return out


def _handling(c: Complaint, cfg: ComplaintsConfig, cal: WorkCalendar) -> list[tuple[datetime, Finding]]:
    out: list[tuple[datetime, Finding]] = []
    received = c.of(Received)
    closes = c.of(Closed)
    if received:
        r = received[0]
        last, moment = deadline(r.at, cfg.dispatch_wd, cal)
        # Dispatched, or settled by the bureau itself, by the deadline ends the duty.
        if not any(m.at <= moment for m in [*c.of(Dispatched), *closes]):
            out.append(
                (
                    moment,
                    card(
                        c,
                        "CMP_DISPATCH_LATE",
                        "dispatch",
                        Category.complaint_handling,
                        Severity.notice,
                        moment,
                        cal,
                        [r],
                        {
                            "working_days": cfg.dispatch_wd,
                            "counted_from": local_date(r.at).isoformat(),
                            "last_day": last.isoformat(),
                        },
                        moment,
                        (local_date(r.at), last),
                    ),
                )
            )
    for start, end, exts in _rounds(c):
        for rule, wd0, severity in (
            ("CMP_REPLY_LATE", cfg.handle_wd, Severity.yellow),
            ("CMP_REPLY_LATE_RED", cfg.red_wd, Severity.red),
        ):
            wd, last, moment = _limit(start.at, wd0, exts, cal)
            if end is None or end.at > moment:
                out.append(
                    (
                        moment,
                        card(
                            c,
                            rule,
                            start.message_id,
                            Category.complaint_handling,
                            severity,
                            moment,
                            cal,
                            [start, *exts],
                            {
                                "working_days": wd,
                                "limit_wd": wd0,
                                "extensions": len(exts),
                                "counted_from": local_date(start.at).isoformat(),
                                "last_day": last.isoformat(),
                                "round_started_by": start.type,
                            },
                            moment,
                            (local_date(start.at), last),
                        ),
                    )
                )
    return out


def pending(c: Complaint, cfg: ComplaintsConfig, cal: WorkCalendar) -> list[tuple[datetime, Finding]]:
    """Every card this complaint raises, with its moment (fired or not)."""
    if not c.of(Received):
        return []  # messages ahead of their complaint: nothing to say whom they concern yet
    out = _handling(c, cfg, cal)
    exts = c.of(Extended)
    if len(exts) > cfg.max_extensions:
        third = exts[cfg.max_extensions]
        out.append(
            (
                third.at,
                card(
                    c,
                    "CMP_EXTENDED_TOO_OFTEN",
                    "extensions",
                    Category.complaint_handling,
                    Severity.red,
                    third.at,
                    cal,
                    exts[: cfg.max_extensions + 1],
                    {"max_extensions": cfg.max_extensions},
                ),
            )
        )
    evals = c.of(Evaluated)
    unsatisfied = [e for e in evals if e.rating == Rating.unsatisfied]
    if len(unsatisfied) >= cfg.unsatisfied_red:
        e, n = unsatisfied[cfg.unsatisfied_red - 1], cfg.unsatisfied_red
        out.append(
            (
                e.at,
                card(
                    c,
                    "CMP_UNSATISFIED_AGAIN",
                    "unsatisfied",
                    Category.complaint_handling,
                    Severity.red,
                    e.at,
                    cal,
                    unsatisfied[:n],
                    {"unsatisfied_red": n},
                ),
            )
        )
    for close in c.of(Closed)[:1]:
        before = [e for e in evals if e.at <= close.at]
        if before and before[-1].rating == Rating.unsatisfied:
            out.append(
                (
                    close.at,
                    card(
                        c,
                        "CMP_UNSATISFIED_FINAL",
                        "final",
                        Category.satisfaction,
                        Severity.yellow,
                        close.at,
                        cal,
                        [before[-1], close],
                        {},
                    ),
                )
            )
    sub = c.closed_substantiated()
    if sub is not None:
        topic = Topic(c.subject("category") or Topic.other)
        severity = Severity.red if topic == Topic.misconduct else Severity.yellow
        out.append(
            (
                sub.at,
                card(
                    c,
                    "CMP_SUBSTANTIATED",
                    "substantiated",
                    SUBSTANTIATED[topic],
                    severity,
                    sub.at,
                    cal,
                    [*c.of(Received)[:1], sub],
                    {"finding": mask(sub.finding[:500])},
                ),
            )
        )
    return out


def next_due(c: Complaint, cfg: ComplaintsConfig, cal: WorkCalendar) -> datetime | None:
    """The earliest moment a card not yet raised falls due; None when there is none."""
    moments = [m for m, f in pending(c, cfg, cal) if f.finding_id not in c.fired]
    return min(moments) if moments else None


def due(c: Complaint, now: datetime, cfg: ComplaintsConfig, cal: WorkCalendar) -> tuple[Complaint, list[Finding]]:
    """Fire every card whose moment is ``<= now``, once; its ``detected_at`` is that moment."""
    return c, fire(pending(c, cfg, cal), c.fired, now)
