"""Edge cases found in review of the rules engine; each test once reproduced a defect, now fixed.

Dates are real 2026 working days (chinesecalendar 1.11.0); 2027 is provisional.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from schemas.catalog import load_catalog
from schemas.config import RuleConfig
from schemas.events import CaseEvent, EventError
from streams.rules import Context, evaluate, step
from streams.rules.calendar import end_of_day
from streams.rules.state import CaseState
from tests.support import at, calendar, context, event, rules, run

SAMPLE_CATALOG = Path(__file__).resolve().parents[2] / "examples" / "catalog.yaml"


def test_promised_acceptance_limit_breach_does_not_crash() -> None:
    """An item with a promised (承诺) acceptance limit stricter than art. 32's five days — such as the
    sample catalog's SC-LAND-002 (accept: statutory 5, promised 1) — must raise a yellow
    "promise breached" finding when the promise runs out, then deemed acceptance at five days.

    Before the fix the clock fires milestone ``promise`` on the ``accept`` clock, whose rule code
    ``TIME_ACCEPT_PROMISE_BREACHED`` is not in the registry: ``KeyError`` aborts the whole evaluation.
    """
    ctx = Context.build(calendar(), load_catalog(SAMPLE_CATALOG), RuleConfig())
    events = [event("apply", "2026-03-02T09:00", item="SC-LAND-002", dept="DZ-ZRZY")]
    found = rules(run(events, ctx, until="2026-03-20T00:00"))
    assert "TIME_ACCEPT_DEEMED" in found
    assert any("PROMISE" in r for r in found)


@pytest.mark.parametrize(
    "when",
    [
        "2041-03-04T09:00",  # after the calendar range 2004-2040
        "2003-03-04T09:00",  # before it
        "2040-12-20T09:00",  # inside the range, but the deadlines run past 2040
    ],
)
def test_dates_outside_the_calendar_range_do_not_crash_the_evaluation(when: str) -> None:
    """A mistyped or far-off ``occurred_at`` is a data-quality problem of one case, not a reason to
    abort every case of the batch (``esup evaluate`` dies with a traceback, a worker would crash-loop).

    Either the contract rejects the event with an :class:`EventError`, or ``evaluate`` completes and
    reports the case (e.g. a ``data_quality`` finding) while the other cases are still evaluated.
    """
    try:
        bad = [event("apply", when, case="BAD"), event("accept", when.replace("T09", "T10"), case="BAD")]
    except EventError:
        return  # rejected at the contract: a clear error, acceptable
    good = [event("apply", "2026-03-02T09:00", case="GOOD"), event("accept", "2026-03-02T10:00", case="GOOD")]
    result = evaluate([*good, *bad], context())  # must not raise
    assert any(f.case_id == "GOOD" for f in result.findings)


def test_provisional_flag_on_every_finding_whose_deadline_is_in_an_unpublished_year() -> None:
    """domain.md: deadlines computed across a year without published holidays are "marked provisional
    in every finding they produce". Accepted 10 Dec 2026: the 15th working day (notice) is 31 Dec
    2026, but the deadline it announces (20th WD) is in January 2027 — provisional. The same holds for
    an extension refused as late (art. 42) against a 2027 deadline. Both come out with
    ``provisional=False`` today (the notice only looks at the notice day; ``checks.extension`` never
    sets the flag).
    """
    base = [event("apply", "2026-12-10T09:00"), event("accept", "2026-12-10T10:00")]
    notice = [f for f in run(base, context(), until="2027-01-01T00:00") if f.rule == "TIME_DECISION_NOTICE"]
    assert len(notice) == 1 and notice[0].deadline is not None and notice[0].deadline.year == 2027
    assert notice[0].provisional is True

    late = run([*base, event("extend", "2027-01-12T10:00", days=5, approver_id="head")], context())
    ext = [f for f in late if f.rule == "PROC_EXTENSION_LATE"]
    assert len(ext) == 1 and ext[0].deadline is not None and ext[0].deadline.year == 2027
    assert ext[0].provisional is True


def test_art45_a_lawful_suspension_on_the_last_day_holds_the_clock() -> None:
    """Art. 45: the time of a hearing, inspection, expert review… is not counted. Accepted Mon 2 Mar
    2026, the 20th working day is Mon 30 Mar; a hearing opens on 30 Mar (before the deadline, so the
    engine accepts it without any finding) and is still open weeks later.

    Before the fix the suspension holds nothing: ``counted_day`` counts the suspension's own day, so the 20th
    day is "reached" and TIME_DECISION_OVERDUE (then red) fires while the lawful hearing is open, and
    an approved extension during the hearing is flagged PROC_EXTENSION_LATE. Either the suspension must
    hold the clock, or it must be reported as too late — not accepted silently and then ignored.
    """
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("suspend", "2026-03-30T10:00", procedure="hearing", reason="听证"),
        event("extend", "2026-04-15T10:00", days=10, approver_id="head", reason="hearing"),
    ]
    found = rules(run(events, context(), until="2026-04-20T00:00"))
    suspension_flagged = any(r.startswith("PROC_SUSPENSION") for r in found)
    assert suspension_flagged or "TIME_DECISION_OVERDUE" not in found
    assert suspension_flagged or "PROC_EXTENSION_LATE" not in found


def test_art45_overlapping_special_procedures_hold_the_clock_until_the_last_ends() -> None:
    """Art. 45: a hearing (4-9 Mar) and a laboratory test (6-20 Mar) overlap. Time is not counted while
    either runs, i.e. from 4 to 20 Mar, and the second resumption is a lawful one.

    Before the fix the second suspension is silently dropped (the clock is "already suspended"), the first
    resumption restarts the clock on 9 Mar although the test is still running, and the second
    resumption is flagged PROC_RESUME_WITHOUT_SUSPENSION.
    """
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("suspend", "2026-03-04T10:00", procedure="hearing", reason="听证"),
        event("suspend", "2026-03-06T10:00", procedure="testing", reason="检测"),
        event("resume", "2026-03-09T10:00"),
        event("resume", "2026-03-20T10:00"),
    ]
    found = run(events, context(), until="2026-06-30T00:00")
    assert "PROC_RESUME_WITHOUT_SUSPENSION" not in rules(found)
    cal = calendar()
    not_counted = cal.workdays_between(date(2026, 3, 4), date(2026, 3, 20))
    expected = end_of_day(cal.add_workdays(date(2026, 3, 2), 20 + not_counted))
    overdue = [f for f in found if f.rule == "TIME_DECISION_OVERDUE"]
    assert len(overdue) == 1 and overdue[0].deadline == expected


def test_art45_does_not_suspend_the_acceptance_period() -> None:
    """Art. 45 excludes special-procedure time from "the periods of this section" (第四章第四节 期限,
    arts. 42-45: decision, review, delivery); the five-day acceptance period of art. 32(4) is in
    section 2 and is not suspended by it. A "hearing" opened before acceptance must not freeze the
    acceptance clock: without acceptance, refusal or supplement notice by the fifth working day the
    application is deemed accepted.

    Before the fix the suspension freezes the acceptance clock indefinitely, so deemed acceptance never happens
    and no time finding is ever raised — an easy way around 32(4).
    """
    events = [
        event("apply", "2026-03-02T09:00"),
        event("suspend", "2026-03-03T10:00", procedure="expert_review", reason="专家评审"),
    ]
    assert "TIME_ACCEPT_DEEMED" in rules(run(events, context(), until="2026-06-01T00:00"))


@pytest.mark.parametrize("accepted_how", ["accepted", "deemed"])
def test_art32_refusal_to_accept_after_acceptance_is_a_procedure_violation(accepted_how: str) -> None:
    """Art. 32: once an application is accepted — expressly, or deemed accepted from receipt because
    nothing was said within five days (32(4)) — the office can only decide on it (art. 38: grant or
    refuse the licence). A later 不予受理 is out of order.

    Before the fix, ``refuse_accept`` is allowed up to stage ``accepted``: it raises no finding at all and
    silently stops the running decision clock, so the office escapes its art. 42 deadline.
    """
    events = [event("apply", "2026-03-02T09:00")]
    if accepted_how == "accepted":
        events.append(event("accept", "2026-03-03T10:00"))
    refusal = event("refuse_accept", "2026-03-20T10:00", reason="材料不全", remedy_notified=True)
    found = run([*events, refusal], context(), until="2026-06-01T00:00")
    assert any(f.category == "procedure" and refusal.event_id in f.evidence_event_ids for f in found)


@pytest.mark.parametrize("scenario", ["deemed_then_approved", "approved_twice"])
def test_art44_a_later_decision_event_does_not_restart_the_delivery_period(scenario: str) -> None:
    """Art. 44: the certificate is due within 10 working days of the decision. A second decision event
    (a written approval after a local 超时默认 deemed approval, or a repeated approval) is itself flagged
    PROC_STAGE_ORDER, but ``start_delivery`` replaces the running delivery clock with a new generation
    from the later date: the original deadline's TIME_DELIVERY_OVERDUE is never raised (lost finding)
    and the office gets a fresh ten days.
    """
    if scenario == "deemed_then_approved":
        ctx = context({"deemed_approval": {"basis": "某市超时默认规定"}})
        # Decision due 30 Mar → deemed approved; certificate due 10 WD later: 14 Apr.
        events = [
            event("apply", "2026-03-02T09:00"),
            event("accept", "2026-03-02T10:00"),
            event("approve", "2026-04-13T10:00", staff="s3"),
        ]
        original = at("2026-04-15T00:00")
    else:
        ctx = context()
        # Approved 4 Mar: certificate due 18 Mar.
        events = [
            event("apply", "2026-03-02T09:00"),
            event("accept", "2026-03-02T10:00"),
            event("review", "2026-03-03T10:00", staff="s2"),
            event("approve", "2026-03-04T10:00", staff="s3"),
            event("approve", "2026-03-17T10:00", staff="s3"),
        ]
        original = at("2026-03-19T00:00")
    overdue = [f for f in run(events, ctx, until="2026-06-30T00:00") if f.rule == "TIME_DELIVERY_OVERDUE"]
    assert [f.deadline for f in overdue] == [original]


def _grow(pairs: int) -> CaseState:
    ctx = context()
    state: CaseState | None = None
    start = at("2026-03-02T11:00")
    events: list[CaseEvent] = [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-02T10:00")]
    for i in range(pairs):
        t = start + timedelta(seconds=2 * i)
        events.append(event("suspend", t.strftime("%Y-%m-%dT%H:%M:%S"), procedure="testing", reason="检测"))
        events.append(event("resume", (t + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")))
    for e in events:
        state, _ = step(state, e, ctx)
    assert state is not None
    return state


def test_case_state_stays_small_however_many_events_a_case_receives() -> None:
    """Issue 2: the state lives in a Faust table and must be "small". A case receiving many events
    (here zero-length suspend/resume pairs on one day, an abuse the supervisor wants to see) grows
    ``seen``, ``stage_events``, ``clock.suspensions`` and ``clock.evidence`` without bound: the
    serialised state grows linearly (≈200 KB at 4000 events) and, because ``counted_day`` walks every
    suspension for every milestone, processing time grows quadratically.
    """
    small = len(_grow(500).to_json())
    big = len(_grow(2000).to_json())
    assert big < 2 * small


def test_events_with_the_same_timestamp_follow_the_lifecycle_not_the_event_id() -> None:
    """On-the-spot acceptance (当场受理, art. 32(5)) commonly gives apply and accept the same minute and,
    in a batch upload, the same ``recorded_at``. The reference order then falls back to the event id,
    so a clean case gets PROC_STAGE_SKIPPED and PROC_STAGE_ORDER yellow cards whenever the accept
    event's id happens to sort first. Ties in event time should be broken by stage order.
    """
    apply = event("apply", "2026-03-02T09:00", event_id="b-1", recorded="2026-03-02T09:05")
    accept = event("accept", "2026-03-02T09:00", event_id="a-2", recorded="2026-03-02T09:05")
    assert [r for r in rules(run([apply, accept], context())) if r.startswith("PROC_")] == []


def test_every_timer_rule_is_registered() -> None:
    """A clock milestone whose rule is missing from the registry once crashed the evaluation."""
    from streams.rules.clocks import _RULES
    from streams.rules.registry import RULES

    assert {code for names in _RULES.values() for code in names.values()} <= set(RULES)


def test_unknown_rule_in_severity_overrides_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rules: NOPE"):
        Context.build(calendar(), load_catalog(SAMPLE_CATALOG), RuleConfig(severity_overrides={"NOPE": "red"}))


def test_a_zero_fee_on_a_free_item_is_not_a_charge() -> None:
    events = [event("apply", "2026-03-02T09:00"), event("fee_charged", "2026-03-02T09:10", fee_code="F", amount_fen=0)]
    assert run(events, context()) == []


def test_a_referral_naming_only_a_department_keeps_the_first_handler_and_department() -> None:
    base = [event("apply", "2026-03-02T09:00", staff="first"), event("accept", "2026-03-02T10:00")]
    referred = [*base, event("refer", "2026-03-03T10:00", to_department_id="D2")]
    overdue = [f for f in run(referred, context(), until="2026-04-01T00:00") if f.rule == "TIME_DECISION_OVERDUE"]
    assert [(f.staff_id, f.department_id) for f in overdue] == [("first", "D1")]
