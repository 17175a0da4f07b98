"""Time limits: acceptance (art. 32), decision and extension (art. 42), preliminary review (art. 43),
delivery (art. 44), suspensions (art. 45), deemed approval (local 超时默认 rules)."""

from __future__ import annotations

from datetime import date

from streams.rules.calendar import TZ
from streams.rules.state import ACCEPTED, DECIDED
from tests.support import at, context, event, only, rules, run, run_state


def test_art32_acceptance_notice_then_deemed_acceptance_from_the_day_of_receipt() -> None:
    ctx = context()
    # Received Fri 13 Feb 2026; 5 WD: 14 Feb (Sat 调休), 24, 25, 26, 27 Feb.
    state, found = run_state([event("apply", "2026-02-13T09:00")], ctx, until="2026-02-28T12:00")
    assert rules(found) == ["TIME_ACCEPT_NOTICE", "TIME_ACCEPT_DEEMED"]
    notice = only(found, "TIME_ACCEPT_NOTICE")
    deemed = only(found, "TIME_ACCEPT_DEEMED")
    assert notice.severity == "notice" and notice.detected_at == at("2026-02-27T00:00")
    assert deemed.severity == "yellow" and deemed.detected_at == at("2026-02-28T00:00")
    assert deemed.deadline == at("2026-02-28T00:00")  # 24:00 on 27 Feb
    assert deemed.law_article == "行政许可法 第32条第1款第4项"
    assert state.stage == ACCEPTED and state.deemed_accepted
    assert state.clocks["decision"].start == date(2026, 2, 13)  # counts from receipt


def test_art32_acceptance_on_the_last_day_is_in_time() -> None:
    found = run(
        [event("apply", "2026-02-13T09:00"), event("accept", "2026-02-27T23:59")], context(), until="2026-03-01T00:00"
    )
    assert rules(found) == ["TIME_ACCEPT_NOTICE"]


def test_art32_accept_after_deemed_acceptance_keeps_the_clock_from_receipt() -> None:
    ctx = context()
    state, found = run_state(
        [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-12T09:00")], ctx, until="2026-03-12T10:00"
    )
    assert "PROC_STAGE_ORDER" not in rules(found)
    assert state.clocks["decision"].start == date(2026, 3, 2)


def test_art32_supplement_notice_in_time_stops_the_clock_and_receipt_restarts_it() -> None:
    ctx = context()
    events = [
        event("apply", "2026-03-02T09:00"),
        event("supplement_notice", "2026-03-04T09:00"),
        event("supplement_received", "2026-03-20T09:00"),  # applicant took two weeks: not counted
    ]
    state, found = run_state(events, ctx, until="2026-03-28T01:00")
    assert rules(found) == ["TIME_ACCEPT_NOTICE", "TIME_ACCEPT_DEEMED"]
    # New 5-WD period from 20 Mar: 23, 24, 25, 26, 27 Mar.
    assert only(found, "TIME_ACCEPT_DEEMED").deadline == at("2026-03-28T00:00")
    assert state.clocks["accept"].key == "accept#2"


def test_art42_decision_notice_overdue_and_red_card() -> None:
    ctx = context()
    # Accepted Mon 2 Mar 2026; 20 WD end Mon 30 Mar; Qingming 4-6 Apr.
    found = run(
        [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-02T10:00")], ctx, until="2026-04-30T00:00"
    )
    assert rules(found) == ["TIME_DECISION_NOTICE", "TIME_DECISION_OVERDUE", "TIME_DECISION_RED"]
    assert only(found, "TIME_DECISION_NOTICE").detected_at == at("2026-03-24T00:00")  # 15 of 20 WD
    overdue = only(found, "TIME_DECISION_OVERDUE")
    assert overdue.detected_at == at("2026-03-31T00:00") and overdue.law_article == "行政许可法 第42条"
    red = only(found, "TIME_DECISION_RED")
    # 5 WD of follow-up after 30 Mar: 31 Mar, 1, 2, 3 Apr, 7 Apr.
    assert red.severity == "red" and red.detected_at == at("2026-04-08T00:00")
    assert red.deadline == at("2026-03-31T00:00")


def test_art42_decision_on_the_last_day_raises_only_the_notice() -> None:
    found = run(
        [
            event("apply", "2026-03-02T09:00"),
            event("accept", "2026-03-02T10:00"),
            event("review", "2026-03-10T10:00"),
            event("approve", "2026-03-30T18:00", staff="s2"),
        ],
        context(),
        until="2026-05-01T00:00",
    )
    assert "TIME_DECISION_OVERDUE" not in rules(found)
    assert "TIME_DECISION_NOTICE" in rules(found)


def test_promised_limit_is_stricter_and_warns_first() -> None:
    ctx = context({"limits": {"decision": {"statutory": 20, "promised": 10}}})
    found = run(
        [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-02T10:00")], ctx, until="2026-03-31T01:00"
    )
    assert rules(found) == ["TIME_DECISION_NOTICE", "TIME_DECISION_PROMISE_BREACHED", "TIME_DECISION_OVERDUE"]
    assert only(found, "TIME_DECISION_NOTICE").detected_at == at("2026-03-13T00:00")  # 8 of 10 WD
    promise = only(found, "TIME_DECISION_PROMISE_BREACHED")
    assert promise.detected_at == at("2026-03-17T00:00") and promise.law_article is None
    assert promise.details["limit_source"] == "promised" and promise.details["limit_wd"] == 10


def test_art42_one_lawful_extension_moves_the_deadline() -> None:
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("extend", "2026-03-20T10:00", days=10, approver_id="head", reason="site visit"),
    ]
    found = run(events, context(), until="2026-04-30T00:00")
    assert [r for r in rules(found) if r.startswith("PROC")] == []
    overdue = only(found, "TIME_DECISION_OVERDUE")
    # 30 WD from 2 Mar: 30 Mar is the 20th; 31 Mar-3 Apr (24), 7-10 Apr (28), 13-14 Apr (30).
    assert overdue.deadline == at("2026-04-15T00:00")
    assert overdue.details["extension_wd"] == 10
    assert events[2].event_id in overdue.evidence_event_ids


def test_art42_extension_violations() -> None:
    base = [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-02T10:00")]
    no_approver = run([*base, event("extend", "2026-03-10T10:00", days=5)], context(), until="2026-03-10T11:00")
    assert "PROC_EXTENSION_NO_APPROVER" in rules(no_approver)
    self_approved = run(
        [*base, event("extend", "2026-03-10T10:00", staff="s1", days=5, approver_id="s1")],
        context(),
        until="2026-03-10T11:00",
    )
    assert "PROC_EXTENSION_NO_APPROVER" in rules(self_approved)
    late = run([*base, event("extend", "2026-03-31T10:00", days=5, approver_id="head")], context())
    assert "PROC_EXTENSION_LATE" in rules(late)
    excess = run(
        [*base, event("extend", "2026-03-10T10:00", days=12, approver_id="head")], context(), until="2026-05-30T00:00"
    )
    assert "PROC_EXTENSION_EXCESS" in rules(excess)
    assert only(excess, "TIME_DECISION_OVERDUE").details["extension_wd"] == 10  # capped at the maximum
    twice = run(
        [
            *base,
            event("extend", "2026-03-10T10:00", days=5, approver_id="head"),
            event("extend", "2026-03-11T10:00", days=5, approver_id="head"),
        ],
        context(),
        until="2026-05-30T00:00",
    )
    assert "PROC_EXTENSION_REPEATED" in rules(twice)
    assert only(twice, "TIME_DECISION_OVERDUE").details["extension_wd"] == 5
    untold = run(
        [*base, event("extend", "2026-03-10T10:00", days=5, approver_id="head", applicant_notified=False)], context()
    )
    assert only(untold, "PROC_EXTENSION_NOT_NOTIFIED").severity == "notice"


def test_unlawful_extension_does_not_move_the_deadline() -> None:
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("extend", "2026-03-10T10:00", days=10),
    ]
    found = run(events, context(), until="2026-04-01T00:00")
    assert only(found, "TIME_DECISION_OVERDUE").deadline == at("2026-03-31T00:00")


def test_art42_joint_handling_45_plus_15() -> None:
    ctx = context({"joint_handling": True})
    base = [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-02T10:00")]
    state, _ = run_state(base, ctx)
    assert state.clocks["decision"].statutory == 45 and state.clocks["decision"].max_extension == 15
    ok = run([*base, event("extend", "2026-03-10T10:00", days=15, approver_id="gov-head")], ctx)
    assert "PROC_EXTENSION_EXCESS" not in rules(ok)
    too_long = run([*base, event("extend", "2026-03-10T10:00", days=16, approver_id="gov-head")], ctx)
    assert "PROC_EXTENSION_EXCESS" in rules(too_long)


def test_art45_suspension_is_not_counted() -> None:
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("suspend", "2026-03-04T10:00", procedure="expert_review", reason="structural safety"),
        event("resume", "2026-03-11T10:00"),
    ]
    found = run(events, context(), until="2026-04-30T00:00")
    overdue = only(found, "TIME_DECISION_OVERDUE")
    # 5, 6, 9, 10, 11 Mar not counted: the 20th counted day moves from 30 Mar to 7 Apr.
    assert overdue.deadline == at("2026-04-08T00:00")
    assert overdue.details["suspended_wd"] == 5
    assert events[2].event_id in overdue.evidence_event_ids and events[3].event_id in overdue.evidence_event_ids


def test_art45_an_open_suspension_holds_every_timer() -> None:
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("suspend", "2026-03-03T10:00", procedure="testing", reason="lab test"),
    ]
    assert run(events, context(), until="2026-09-01T00:00") == []


def test_art45_suspension_without_reason_does_not_stop_the_clock() -> None:
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("suspend", "2026-03-03T10:00"),
        event("resume", "2026-03-20T10:00"),
    ]
    found = run(events, context(), until="2026-04-01T00:00")
    assert "PROC_SUSPENSION_NO_REASON" in rules(found)
    assert "PROC_RESUME_WITHOUT_SUSPENSION" in rules(found)
    assert only(found, "TIME_DECISION_OVERDUE").deadline == at("2026-03-31T00:00")


def test_art45_applicant_not_told_of_suspension() -> None:
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("suspend", "2026-03-03T10:00", procedure="hearing", reason="x", applicant_notified=False),
    ]
    assert only(run(events, context()), "PROC_SUSPENSION_NOT_NOTIFIED").law_article == "行政许可法 第45条"


def test_art44_certificate_delivery_deadline() -> None:
    base = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("review", "2026-03-03T10:00", staff="s2"),
        event("approve", "2026-03-04T10:00", staff="s3"),
    ]
    # 10 WD after 4 Mar: 18 Mar.
    late = run(base, context(), until="2026-03-19T00:00")
    assert only(late, "TIME_DELIVERY_OVERDUE").deadline == at("2026-03-19T00:00")
    on_time = run([*base, event("certificate_delivered", "2026-03-18T16:00")], context(), until="2026-04-30T00:00")
    assert [r for r in rules(on_time) if r.startswith("TIME_DELIVERY_") and r != "TIME_DELIVERY_NOTICE"] == []


def test_art43_preliminary_review_clock() -> None:
    ctx = context({"limits": {"review": {"statutory": 20}}})
    base = [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-02T10:00")]
    assert "TIME_REVIEW_OVERDUE" in rules(run(base, ctx, until="2026-03-31T00:00"))
    done = run([*base, event("review", "2026-03-20T10:00")], ctx, until="2026-03-31T00:00")
    assert "TIME_REVIEW_OVERDUE" not in rules(done)


def test_deemed_approval_where_the_item_provides_it_is_attributed_to_the_late_department() -> None:
    basis = "某市重大项目审批超时默认规定"
    ctx = context({"deemed_approval": {"basis": basis}})
    events = [event("apply", "2026-03-02T09:00", staff="first"), event("accept", "2026-03-02T10:00", staff="first")]
    state, found = run_state(events, ctx, until="2026-04-30T00:00")
    deemed = only(found, "TIME_DEEMED_APPROVAL")
    assert deemed.law_article == basis and deemed.department_id == "D1" and deemed.staff_id == "first"
    assert deemed.detected_at == at("2026-03-31T00:00")
    assert "TIME_DECISION_RED" not in rules(found) and "TIME_DECISION_OVERDUE" not in rules(found)
    assert state.stage == DECIDED and state.outcome == "deemed_approved"
    assert "delivery" in state.clocks  # the certificate is now due (art. 44)


def test_no_deemed_approval_without_the_item_flag() -> None:
    found = run(
        [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-02T10:00")], context(), until="2026-04-30T00:00"
    )
    assert "TIME_DEEMED_APPROVAL" not in rules(found)


def test_deadline_in_an_unpublished_year_is_provisional() -> None:
    found = run(
        [event("apply", "2026-12-21T09:00"), event("accept", "2026-12-21T10:00")], context(), until="2027-03-01T00:00"
    )
    overdue = only(found, "TIME_DECISION_OVERDUE")
    assert overdue.provisional is True
    assert overdue.calendar_version.startswith("chinesecalendar-")
    early = run(
        [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-02T10:00")], context(), until="2026-04-01T00:00"
    )
    assert only(early, "TIME_DECISION_OVERDUE").provisional is False


def test_time_findings_go_to_the_first_handler_unless_a_referral_names_another() -> None:
    base = [event("apply", "2026-03-02T09:00", staff="first"), event("accept", "2026-03-02T10:00", staff="other")]
    assert only(run(base, context(), until="2026-04-01T00:00"), "TIME_DECISION_OVERDUE").staff_id == "first"
    referred = [*base, event("refer", "2026-03-03T10:00", staff="first", to_department_id="D2", to_staff_id="new")]
    f = only(run(referred, context(), until="2026-04-01T00:00"), "TIME_DECISION_OVERDUE")
    assert f.staff_id == "new" and f.department_id == "D2"


def test_timers_fire_at_the_deadline_moment_not_at_the_sweep_time() -> None:
    found = run(
        [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-02T10:00")], context(), until="2026-06-01T00:00"
    )
    assert only(found, "TIME_DECISION_OVERDUE").detected_at.astimezone(TZ).hour == 0
