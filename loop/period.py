"""Which period a finding's deadline counts, and the walk to it as the engine counted it (the dossier's 期限计算).

A timer finding (streams/rules/clocks.py) records the clock it fired on, the milestone, the limit it used
(promised, statutory or a step's promise), the extension and the working days used; its deadline is the last
day of *that* limit plus the extension, suspensions (art. 45) left out. The walk takes those recorded numbers
(what the engine used), the suspensions from the case's events replayed under the deployed catalog and rules,
and checks both against the replay: where they differ, the dossier says so instead of walking a period the
finding never used. Pure: the events, context and finding are arguments.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

from loop.walk import Day, walk
from schemas.events import CaseEvent
from schemas.findings import Category, Finding
from streams.rules.calendar import TZ, end_of_day
from streams.rules.clocks import _RULES, STEP_LABELS, milestone_days
from streams.rules.context import Context
from streams.rules.evaluate import evaluate
from streams.rules.state import Clock

# Rule code -> (clock, milestone) for every rule a clock's timer raises; the step rules name their clock in details.
_MILESTONE_OF: dict[str, tuple[str, str]] = {
    code: (clock, milestone) for clock, ms in _RULES.items() for milestone, code in ms.items()
}
_MILESTONE_OF["TIME_DEEMED_APPROVAL"] = ("decision", "statutory")
TIMER_RULES = frozenset(_MILESTONE_OF)

_SOURCE = {
    "promised": "the department's promised limit (承诺时限), stricter than the statutory {statutory} WD",
    "statutory": "the statutory limit (法定时限)",
    "step_promise": "the promised working days of the internal step {step} (环节时限)",
}
_WHY = {
    "notice": "a notice (预警) is raised once {k} of the {n} allowed working days are used (notice_share {share}); "
    "its deadline is the last day of the allowed period",
    "promise": "the promise is breached when its last day ends",
    "statutory": "the period is exceeded when its last day ends",
    "red": "a red card follows {follow} working days of follow-up (follow_up_wd) after the period's last day",
}


def deadline_day(f: Finding) -> date | None:
    """The last day of the finding's period: its deadline is that day's 24:00 (Asia/Shanghai)."""
    return None if f.deadline is None else (f.deadline.astimezone(TZ) - timedelta(microseconds=1)).date()


def _days(days: list[Day]) -> list[dict[str, Any]]:
    return [asdict(d) | {"day": d.day.isoformat()} for d in days]


def _mark(days: list[Day], ordinal: int, note: str) -> list[Day]:
    return [Day(d.day, d.counted, f"{d.note}; {note}") if d.counted == ordinal else d for d in days]


def _day_of(days: list[Day], ordinal: int) -> date | None:
    return next((d.day for d in days if d.counted == ordinal), None)


def supervision(f: Finding, ctx: Context) -> dict[str, Any]:
    """A response or recommendation period of the loop (loop/rules.py): working days from the supervised moment."""
    start = date.fromisoformat(str(f.details["counted_from"]))
    n = int(str(f.details["working_days"]))
    days, last = walk(ctx.calendar, start, n)
    what = (
        f"the response period for a {f.details.get('original_severity')} finding (loop config response_wd)"
        if "recommendation_id" not in f.details
        else "the period the recommendation gave for its report (report_within_wd, else recommendation_wd)"
    )
    return _result(f, f.rule, start, n, 0, [], last, days, what, {"limit_source": "loop"})


def _result(
    f: Finding,
    period: str,
    start: date,
    n: int,
    extension: int,
    suspensions: list[dict[str, Any]],
    last: date | None,
    days: list[Day],
    why: str,
    extra: dict[str, Any],
) -> dict[str, Any]:
    at = end_of_day(last) if last is not None else None
    return {
        "period": period,
        "why": why,
        "start": start.isoformat(),
        "working_days": n,
        "extension": extension,
        "suspensions": suspensions,
        "last_day": last.isoformat() if last else None,
        "deadline_at": at.isoformat() if at else None,
        "agrees_with_finding": at == f.deadline,
        **extra,
        "days": _days(days),
    }


def _replayed(f: Finding, events: list[CaseEvent], ctx: Context, name: str) -> Clock | None:
    """The clock as it stood when the finding fired: the case's events up to its moment, timers run to it.

    A clock a timer starts (the decision period and its step from a deemed acceptance, art. 32(4)) counts from
    the receipt, so its milestones may fall due before the timer that made it: then the timers run on, with
    no later event, until the clock exists."""
    key = f.details.get("clock_key")
    earlier = [e for e in events if e.occurred_at <= f.detected_at]
    for until in (f.detected_at, f.detected_at + timedelta(days=366)):
        state = evaluate(earlier, ctx, until).states.get(f.case_id)
        clock = state.clocks.get(name) if state else None
        if clock is not None and key in (None, clock.key):
            return clock
    return clock


def clock_period(f: Finding, events: list[CaseEvent], ctx: Context) -> dict[str, Any]:
    """The period a timer finding's deadline counts, walked day by day; ``warnings`` where the replay disagrees."""
    d = f.details
    name, milestone = _MILESTONE_OF[f.rule]
    name, milestone = str(d.get("clock", name)), str(d.get("milestone", milestone))
    clock = _replayed(f, events, ctx, name)
    warnings: list[str] = []
    if clock is None:
        return {"period": name, "note": "the clock is not in the case's events", "warnings": [], "days": []}
    if d.get("clock_key", clock.key) != clock.key:
        warnings.append(f"the finding counted clock {d['clock_key']}; the replay reached {clock.key}")
    cfg = ctx.config
    recomputed = milestone_days(clock, cfg.notice_share, cfg.follow_up_wd)
    promise_used = clock.promised is not None and milestone in ("notice", "promise")
    source = "step_promise" if name in STEP_LABELS else "promised" if promise_used else "statutory"
    replay = {
        "start": clock.start.isoformat(),
        "limit_source": source,
        "limit_wd": clock.promised if source == "promised" else clock.statutory,
        "extension_wd": clock.extension,
        "working_days_used": recomputed.get(milestone),
    }
    used = {k: d.get(k, v) for k, v in replay.items()}  # what the engine recorded; the replay where it did not
    for key, v in replay.items():
        if used[key] != v:
            warnings.append(
                f"{key}: the finding used {used[key]}, the deployed catalog and rules give {v} "
                "(the catalog or the rule thresholds changed since, or differ from the workers')"
            )
    start = date.fromisoformat(str(used["start"]))
    limit, ext, k = int(str(used["limit_wd"])), int(str(used["extension_wd"])), int(str(used["working_days_used"]))
    n = limit + ext
    days, _ = walk(ctx.calendar, start, max(n, k), clock.suspensions)
    last = _day_of(days, n)
    days = _mark(days, n, "last day of the period (期限届满)")
    if k != n:
        days = _mark(days, k, f"{milestone} reached: the finding is raised at this day's 24:00")
    step = STEP_LABELS.get(name)
    why = (
        f"{_SOURCE[str(used['limit_source'])].format(statutory=clock.statutory, step=step)}: {limit} WD"
        + (f" + {ext} WD lawful extension (art. 42)" if ext else "")
        + f", counted from {start} (that day not counted); "
        + _WHY.get(milestone, "").format(k=k, n=n, share=cfg.notice_share, follow=cfg.follow_up_wd)
    )
    if f.rule == "TIME_DEEMED_APPROVAL":
        why += "; no decision by then: deemed approved (超时默认)"
    return _result(
        f,
        clock.key,
        start,
        n,
        ext,
        [
            {"start": s.start.isoformat(), "end": s.end.isoformat() if s.end else None, "event_id": s.event_id}
            for s in clock.suspensions
        ],
        last,
        days,
        why,
        {
            "milestone": milestone,
            "limit_source": used["limit_source"],
            "limit_wd": limit,
            "statutory": clock.statutory,
            "promised": clock.promised,
            "milestone_working_days": k,
            "milestone_day": (d0.isoformat() if (d0 := _day_of(days, k)) else None),
            "warnings": warnings,
        },
    )


def computation(f: Finding, events: list[CaseEvent], ctx: Context) -> dict[str, Any]:
    """The deadline step by step for any finding: a clock's period, the loop's period, or why none applies."""
    if f.category == Category.supervision and "counted_from" in f.details:
        return supervision(f, ctx)
    if f.rule in TIMER_RULES:
        return clock_period(f, events, ctx)
    note = "an event rule: no period applies"
    if f.deadline is not None:
        note += f" (the finding records the deadline it was measured against: {f.deadline.isoformat()})"
    return {"period": None, "note": note}
