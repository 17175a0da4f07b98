"""The loop's deadlines, pure: a department must answer a finding, and report a recommendation done, in time.

Design: docs/architecture.md#the-loops-deadlines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from loop.config import LoopConfig
from loop.contract import Decision, Outcome, RecommendationReport, Response
from schemas.findings import Category, Finding, Severity, finding_id
from streams.rules.calendar import WorkCalendar, end_of_day, local_date

ARTICLE = "电子监察办法第七条 (回告)"
RESPONSE_RULE = "SUP_RESPONSE_OVERDUE"
RECOMMENDATION_RULE = "SUP_RECOMMENDATION_OVERDUE"
TITLES = {
    RESPONSE_RULE: "no response to a finding in time (说明理由/整改情况/申诉)",
    RECOMMENDATION_RULE: "supervision recommendation not reported carried out in time (监察建议书 回告)",
}
_UP = {Severity.notice: Severity.yellow, Severity.yellow: Severity.red, Severity.red: Severity.red}


@dataclass
class Recommendation:
    """A recommendation decided on a finding: the decision's message id, when, and the working days given to report."""

    message_id: str
    issued_at: datetime
    within_wd: int


@dataclass
class Watch:
    """What the loop knows about one finding; messages may arrive before the finding itself."""

    finding_id: str
    finding: Finding | None = None
    seen: set[str] = field(default_factory=set)  # message ids applied
    responses: list[datetime] = field(default_factory=list)
    decisions: list[tuple[datetime, str, Outcome]] = field(default_factory=list)  # (at, message id, outcome)
    recommendations: list[Recommendation] = field(default_factory=list)
    reports: list[datetime] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)  # ids of supervision findings already raised

    @property
    def latest_outcome(self) -> Outcome | None:
        """The outcome of the latest decision (by time, then message id), or None before any."""
        return max(self.decisions, key=lambda d: (d[0], d[1]))[2] if self.decisions else None


def supervised(f: Finding, cfg: LoopConfig) -> bool:
    """Whether the loop watches the finding: it is not itself a supervision finding, and its severity has a period."""
    return f.category != Category.supervision and f.severity in cfg.response_wd


def deadline(start: datetime, wd: int, cal: WorkCalendar) -> tuple[date, datetime]:
    """The last working day and its 24:00, ``wd`` working days after the local day of ``start`` (not counted)."""
    last = cal.add_workdays(local_date(start), wd)
    return last, end_of_day(last)


def apply(w: Watch, msg: Response | Decision | RecommendationReport, cfg: LoopConfig) -> Watch:
    """Fold one message in; a message id already applied changes nothing."""
    if msg.message_id in w.seen:
        return w
    w.seen.add(msg.message_id)
    if isinstance(msg, Response):
        w.responses.append(msg.at)
    elif isinstance(msg, RecommendationReport):
        w.reports.append(msg.at)
    else:
        w.decisions.append((msg.at, msg.message_id, msg.outcome))
        if msg.outcome == Outcome.recommendation:
            within = msg.report_within_wd or cfg.recommendation_wd
            w.recommendations.append(Recommendation(msg.message_id, msg.at, within))
    return w


def _escalated(
    f: Finding,
    rule: str,
    occurrence: str,
    moment: datetime,
    last: date,
    wd: int,
    started: datetime,
    cal: WorkCalendar,
    details: dict[str, object],
) -> Finding:
    region = f.region_code
    up = region[:2] + "0000" if region.endswith("00") else region[:4] + "00"
    return Finding(
        finding_id=finding_id(f.case_id, rule, occurrence),
        case_id=f.case_id,
        rule=rule,
        category=Category.supervision,
        severity=_UP[f.severity],
        title=TITLES[rule],
        message=f"{TITLES[rule]}: finding {f.finding_id} ({f.rule}), {wd} working days after "
        f"{local_date(started).isoformat()}, last day {last.isoformat()}",
        staff_id=f.staff_id,
        department_id=f.department_id,
        region_code=f.region_code,
        item_code=f.item_code,
        detected_at=moment,
        deadline=moment,
        law_article=ARTICLE,
        evidence_event_ids=list(f.evidence_event_ids),
        calendar_version=cal.version,
        provisional=cal.provisional_between(local_date(started), last),
        details={
            "supervised_finding_id": f.finding_id,
            "supervised_rule": f.rule,
            "working_days": wd,
            "counted_from": local_date(started).isoformat(),
            "last_day": last.isoformat(),
            "original_severity": f.severity.value,
            "escalated_to_region": up,
            **details,
        },
    )


def pending(w: Watch, cfg: LoopConfig, cal: WorkCalendar) -> list[tuple[datetime, Finding]]:
    """Every supervision finding this watch raises by its deadline, with that moment (fired or not)."""
    f = w.finding
    if f is None or not supervised(f, cfg):
        return []
    out: list[tuple[datetime, Finding]] = []
    wd = cfg.response_wd[f.severity]
    last, moment = deadline(f.detected_at, wd, cal)
    # A response, or a supervisor's decision (who has taken the matter on), by the deadline ends the duty.
    answered = any(t <= moment for t in w.responses) or any(d[0] <= moment for d in w.decisions)
    if not answered:
        out.append((moment, _escalated(f, RESPONSE_RULE, f.finding_id, moment, last, wd, f.detected_at, cal, {})))
    for rec in w.recommendations:
        last, moment = deadline(rec.issued_at, rec.within_wd, cal)
        # A report after the issue answers it; a later dismissal withdraws it.
        done = any(rec.issued_at <= t <= moment for t in w.reports)
        withdrawn = any(rec.issued_at < d[0] <= moment and d[2] == Outcome.dismissed for d in w.decisions)
        if not (done or withdrawn):
            out.append(
                (
                    moment,
                    _escalated(
                        f,
                        RECOMMENDATION_RULE,
                        rec.message_id,
                        moment,
                        last,
                        rec.within_wd,
                        rec.issued_at,
                        cal,
                        {"recommendation_id": rec.message_id},
                    ),
                )
            )
    return out


def next_due(w: Watch, cfg: LoopConfig, cal: WorkCalendar) -> datetime | None:
    """The earliest moment a supervision finding not yet raised for this watch falls due, or None."""
    moments = [m for m, sf in pending(w, cfg, cal) if sf.finding_id not in w.fired]
    return min(moments) if moments else None


def fire(pending: list[tuple[datetime, Finding]], fired: set[str], now: datetime) -> list[Finding]:
    """The pending findings whose moment is ``<= now`` and not in ``fired`` (which this adds them to), in
    moment order; shared by every deadline service (the loop, complaints)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    out = []
    for moment, sf in sorted(pending, key=lambda p: (p[0], p[1].finding_id)):
        if moment <= now and sf.finding_id not in fired:
            fired.add(sf.finding_id)
            out.append(sf)
    return out


def due(w: Watch, now: datetime, cfg: LoopConfig, cal: WorkCalendar) -> tuple[Watch, list[Finding]]:
    """Fire every supervision finding whose moment is ``<= now``, once; ``detected_at`` is that moment."""
    return w, fire(pending(w, cfg, cal), w.fired, now)
