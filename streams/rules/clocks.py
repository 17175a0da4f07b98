"""Legal clocks in working days: deadlines, suspensions (art. 45), extensions (art. 42) and the timer sweep.

Design: docs/architecture.md#legal-clocks.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from schemas.findings import Finding
from streams.rules.calendar import end_of_day
from streams.rules.context import Context
from streams.rules.state import ACCEPTED, DECIDED, CaseState, Clock, Suspension

_ONE_DAY = timedelta(days=1)

MILESTONES = ("notice", "promise", "statutory", "red")
_ORDER = {m: i for i, m in enumerate(MILESTONES)}

_RULES = {
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
STEP_LABELS = {"step_review": "承办→审核", "step_decision": "审核→批准"}


def allowed(clock: Clock) -> int:
    """Working days allowed by the stricter limit, with the lawful extension."""
    base = clock.promised if clock.promised is not None else clock.statutory
    return base + clock.extension


def milestone_days(clock: Clock, share: float, follow_up: int) -> dict[str, int]:
    """Working days used at which each milestone of this clock is reached."""
    first = allowed(clock)
    out: dict[str, int] = {}
    k_notice = max(1, math.ceil(share * first))
    if k_notice < first:
        out["notice"] = k_notice
    if clock.promised is not None:
        out["promise"] = clock.promised + clock.extension
    out["statutory"] = clock.statutory + clock.extension
    # Acceptance ends in deemed acceptance, never stays open; a step's lateness turns red only through its period.
    if clock.name != "accept" and clock.name not in STEP_LABELS:
        out["red"] = clock.statutory + clock.extension + follow_up
    return out


def _excluded_from(clock: Clock, s: Suspension) -> date:
    # The start day is never counted anyway, so a suspension from it excludes nothing more there.
    return max(s.start, clock.start + _ONE_DAY)


def _wd_in(lo: date, hi: date, ctx: Context) -> int:
    """Working days in the half-open range [lo, hi)."""
    return ctx.calendar.workdays_between(lo - _ONE_DAY, hi - _ONE_DAY) if hi > lo else 0


def counted_day(clock: Clock, k: int, ctx: Context) -> date | None:
    """The date on which the k-th counted working day ends; None while a suspension holds it.

    Art. 45: from the day a special procedure starts until the day before it ends, working days are not
    counted; counting resumes on the day of resumption. A suspension opened on the last day therefore
    still holds the clock.
    """
    cal = ctx.calendar
    shift = 0
    for s in clock.suspensions:
        lo = _excluded_from(clock, s)
        counted_before = cal.workdays_between(clock.start, lo - _ONE_DAY) - shift
        if counted_before >= k:
            break
        if s.end is None:
            return None
        shift += _wd_in(lo, s.end, ctx)
    return cal.add_workdays(clock.start, k + shift)


def used_workdays(clock: Clock, on: date, ctx: Context) -> int:
    """Working days counted from the start up to and including ``on``, suspensions excluded."""
    used = ctx.calendar.workdays_between(clock.start, on)
    for s in clock.suspensions:
        lo = _excluded_from(clock, s)
        if lo > on:
            break
        hi = s.end if s.end is not None and s.end <= on else on + _ONE_DAY
        used -= _wd_in(lo, hi, ctx)
    return max(used, 0)


def deadline_of(clock: Clock, ctx: Context) -> date | None:
    """The last day of the statutory period (with extension and suspensions), None while suspended."""
    return counted_day(clock, clock.statutory + clock.extension, ctx)


def suspended_days(clock: Clock, ctx: Context) -> int:
    """Working days left out of the clock by its ended suspensions (art. 45); a running one is not counted here."""
    return sum(_wd_in(_excluded_from(clock, s), s.end, ctx) for s in clock.suspensions if s.end is not None)


_MEMO_LIMIT = 65_536


def _milestones(clock: Clock, ctx: Context) -> list[tuple[datetime, str, int, date]]:
    """Every milestone of the clock with the moment it falls due (fired or not; none while suspended).

    A function of the clock's limits, start and suspensions and of the context only, so it is memoised in
    the context: a case's clocks are judged twice per event (due, then the index's next due) and cases that
    start on the same day under the same item share the result.
    """
    key = (
        clock.name,
        clock.start,
        clock.promised,
        clock.statutory,
        clock.extension,
        tuple((s.start, s.end) for s in clock.suspensions),
    )
    memo = ctx.memo
    got = memo.get(key)
    if got is None:
        cfg = ctx.config
        got = []
        for name, k in milestone_days(clock, cfg.notice_share, cfg.follow_up_wd).items():
            day = counted_day(clock, k, ctx)
            if day is not None:
                got.append((end_of_day(day), name, k, day))
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[key] = got
    return got


def _pending(state: CaseState, ctx: Context) -> list[tuple[datetime, Clock, str, int, date]]:
    out: list[tuple[datetime, Clock, str, int, date]] = []
    for clock in state.clocks.values():
        if clock.stopped:
            continue
        fired = clock.fired
        out.extend(
            (moment, clock, name, k, day) for moment, name, k, day in _milestones(clock, ctx) if name not in fired
        )
    if len(out) > 1:
        out.sort(key=lambda p: (p[0], p[1].name, _ORDER[p[2]]))
    return out


def settle_notice(state: CaseState, clock: Clock, now: datetime, ctx: Context) -> list[Finding]:
    """After a lawful extension the notice's day moves; if it is already past, it fires now — or never, when
    the deadline it would announce has passed as well (a warning after the fact warns of nothing). Without
    this the next sweep would date the notice before the extension that made it due."""
    if "notice" in clock.fired:
        return []
    k = milestone_days(clock, ctx.config.notice_share, ctx.config.follow_up_wd).get("notice")
    day = counted_day(clock, k, ctx) if k is not None else None
    if k is None or day is None or end_of_day(day) > now:
        return []
    clock.fired.append("notice")
    state.seq += 1
    announced = counted_day(clock, allowed(clock), ctx)
    if announced is not None and end_of_day(announced) <= now:
        return []
    return _fire(state, clock, "notice", k, day, now, ctx)


def next_due(state: CaseState, ctx: Context) -> datetime | None:
    """The moment of the next milestone to fire, for the sweeper's deadline index; None if nothing is pending."""
    pending = _pending(state, ctx)
    return pending[0][0] if pending else None


def due(state: CaseState, now: datetime, ctx: Context) -> tuple[CaseState, list[Finding]]:
    """Fire every milestone reached by ``now``; pure apart from updating ``state`` in place."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    findings: list[Finding] = []
    while True:
        pending = _pending(state, ctx)
        if not pending or pending[0][0] > now:
            return state, findings
        moment, clock, name, k, day = pending[0]
        clock.fired.append(name)
        state.seq += 1
        findings.extend(_fire(state, clock, name, k, day, moment, ctx))


def _fire(
    state: CaseState, clock: Clock, name: str, k: int, day: date, moment: datetime, ctx: Context
) -> list[Finding]:
    cal = ctx.calendar
    code = _RULES[clock.name][name]
    deadline_day = day if name != "notice" else counted_day(clock, allowed(clock), ctx)
    source = "promised" if (clock.promised is not None and name in ("notice", "promise")) else "statutory"
    step = STEP_LABELS.get(clock.name)
    if step is not None:
        source = "step_promise"  # a step's only limit is the department's promise for it
    details = {
        "clock": clock.name,
        "clock_key": clock.key,
        "milestone": name,
        "start": clock.start.isoformat(),
        "working_days_used": k,
        "limit_wd": (clock.promised if source == "promised" else clock.statutory),
        "limit_source": source,
        "extension_wd": clock.extension,
        "suspended_wd": suspended_days(clock, ctx),
    }
    message = f"{clock.name}: {k} working days used since {clock.start.isoformat()} ({name})"
    if step is not None:
        details["step"] = step
        what = "approaching" if name == "notice" else "exceeded"
        message = f"step {step}: {k} of {clock.statutory} promised working days used since {clock.start} ({what})"
    law = None
    extra: list[Finding] = []
    if name == "red":
        details["follow_up_wd"] = ctx.config.follow_up_wd
        deadline_day = counted_day(clock, clock.statutory + clock.extension, ctx)
    if name == "statutory" and clock.name == "accept":
        # Art. 32(4): no notice or decision within 5 days → accepted from the day of receipt.
        clock.stop(day)
        state.deemed_accepted = True
        if state.stage < ACCEPTED:
            state.stage = ACCEPTED
        start_decision(state, clock.start, clock.evidence, ctx)
        message = (
            f"not accepted, refused or told to supplement by {day.isoformat()}: deemed accepted from {clock.start}"
        )
    elif name == "statutory" and clock.name == "decision" and clock.deemed_basis:
        code = "TIME_DEEMED_APPROVAL"
        law = clock.deemed_basis
        clock.stop(day)
        stop_steps(state, day)
        state.stage = DECIDED
        state.outcome = "deemed_approved"
        start_delivery(state, day, clock.evidence, ctx)
        message = f"no decision by {day.isoformat()}: deemed approved under {clock.deemed_basis}"
    deadline = end_of_day(deadline_day) if deadline_day is not None else None
    finding = ctx.finding(
        state,
        code,
        occurrence=f"{clock.key}:{name}",
        detected_at=moment,
        evidence=clock.evidence,
        message=message,
        deadline=deadline,
        provisional=cal.provisional_between(clock.start, max(day, deadline_day or day)),
        law_article=law,
        details=details,
    )
    return [finding, *extra]


# ---- starting clocks ------------------------------------------------------------------------------


def new_clock(
    state: CaseState,
    name: str,
    start: date,
    statutory: int,
    promised: int | None,
    evidence: list[str],
    *,
    max_extension: int = 0,
    deemed_basis: str | None = None,
) -> Clock:
    """Start the next generation of clock ``name`` (key ``name#n``), replacing the current one."""
    gen = state.generations.get(name, 0) + 1
    state.generations[name] = gen
    clock = Clock(
        key=f"{name}#{gen}",
        name=name,
        start=start,
        statutory=statutory,
        promised=promised if promised is not None and promised < statutory else None,
        max_extension=max_extension,
        deemed_basis=deemed_basis,
        evidence=list(evidence),
    )
    state.clocks[name] = clock
    return clock


def start_decision(state: CaseState, start: date, evidence: list[str], ctx: Context) -> None:
    """Start the decision period (art. 42) from ``start``, once per case, with the item's limits or the law's.

    Before the review, the item's preliminary-review period (art. 43) and 承办→审核 step start too, where it sets them.
    """
    if "decision" in state.clocks:
        return
    item = ctx.catalog.get(state.item_code)
    if item is None:
        from schemas.catalog import LAW_DECISION_WD, LAW_EXTENSION_WD

        new_clock(state, "decision", start, LAW_DECISION_WD, None, evidence, max_extension=LAW_EXTENSION_WD)
    else:
        lim = item.decision_limit
        new_clock(
            state,
            "decision",
            start,
            lim.statutory,
            lim.promised,
            evidence,
            max_extension=item.extension_limit,
            deemed_basis=item.deemed_approval.basis if item.deemed_approval else None,
        )
        if item.limits.review is not None and "review" not in state.clocks and state.stage < 3:
            new_clock(state, "review", start, item.limits.review.statutory, item.limits.review.promised, evidence)
        if item.steps.review is not None and "step_review" not in state.clocks and state.stage < 3:
            new_clock(state, "step_review", start, item.steps.review, None, evidence)


def start_step_decision(state: CaseState, start: date, evidence: list[str], ctx: Context) -> None:
    """The review hands the file on: the 审核→批准 step starts, once, while the decision period runs."""
    item = ctx.catalog.get(state.item_code)
    decision = state.clocks.get("decision")
    if item is None or item.steps.decision is None or "step_decision" in state.clocks:
        return
    if decision is not None and not decision.stopped:
        new_clock(state, "step_decision", start, item.steps.decision, None, evidence)


def stop_steps(state: CaseState, day: date) -> None:
    """Stop the step clocks (环节时限) on ``day``."""
    for name in STEP_LABELS:
        c = state.clocks.get(name)
        if c is not None:
            c.stop(day)


def start_delivery(state: CaseState, start: date, evidence: list[str], ctx: Context) -> None:
    """Start the delivery period (art. 44) from the first decision, unless the item issues no certificate."""
    if "delivery" in state.clocks:
        return  # art. 44 counts from the first decision; a repeated decision event gets no fresh period
    item = ctx.catalog.get(state.item_code)
    if item is not None and not item.issues_certificate:
        return
    from schemas.catalog import LAW_DELIVERY_WD

    stat, prom = (item.limits.delivery.statutory, item.limits.delivery.promised) if item else (LAW_DELIVERY_WD, None)
    new_clock(state, "delivery", start, stat, prom, evidence)
