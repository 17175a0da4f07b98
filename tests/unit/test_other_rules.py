"""Conditions (art. 38), first-inquiry responsibility (首问负责制), data quality and idempotency."""

from __future__ import annotations

from tests.support import context, event, only, rules, run, run_state

ITEM = {"required_materials": ["form", "licence"], "required_conditions": ["inspected"]}


def _approve(materials: list[str], conditions: list[str]) -> list:  # type: ignore[type-arg]
    return [
        event("apply", "2026-03-02T09:00", materials=materials[:1]),
        event("supplement_received", "2026-03-02T09:30", materials=materials[1:]),
        event("accept", "2026-03-02T10:00"),
        event("review", "2026-03-03T10:00", staff="s2", conditions_met=conditions),
        event("approve", "2026-03-04T10:00", staff="s3"),
    ]


def test_art38_approval_with_everything_met() -> None:
    assert run(_approve(["form", "licence"], ["inspected"]), context(ITEM)) == []


def test_art38_approval_with_missing_materials_and_unverified_conditions() -> None:
    found = run(_approve(["form"], []), context(ITEM))
    assert sorted(rules(found)) == ["COND_CONDITIONS_UNMET", "COND_MATERIALS_MISSING"]
    assert only(found, "COND_MATERIALS_MISSING").details == {"missing": ["licence"]}
    assert only(found, "COND_CONDITIONS_UNMET").category == "condition"
    assert only(found, "COND_CONDITIONS_UNMET").staff_id == "s3"


def test_inquiry_closed_out_of_scope_without_a_referral() -> None:
    events = [
        event("inquiry", "2026-03-02T09:00", staff="first"),
        event("inquiry_out_of_scope", "2026-03-02T09:05", staff="first"),
    ]
    f = only(run(events, context()), "FIRST_INQUIRY_NO_REFERRAL")
    assert f.category == "first_inquiry" and f.staff_id == "first"
    assert f.evidence_event_ids == [events[0].event_id, events[1].event_id]


def test_inquiry_closed_out_of_scope_with_a_referral_is_fine() -> None:
    with_refer = [
        event("inquiry", "2026-03-02T09:00"),
        event("refer", "2026-03-02T09:03", to_department_id="D9"),
        event("inquiry_out_of_scope", "2026-03-02T09:05"),
    ]
    assert run(with_refer, context()) == []
    named = [
        event("inquiry", "2026-03-02T09:00"),
        event("inquiry_out_of_scope", "2026-03-02T09:05", referred_to_department_id="D9"),
    ]
    assert run(named, context()) == []


def test_inquiry_then_conclude_is_not_a_skipped_stage() -> None:
    events = [event("inquiry", "2026-03-02T09:00"), event("conclude", "2026-03-02T09:30")]
    assert run(events, context()) == []


def test_backdated_event() -> None:
    events = [event("apply", "2026-03-02T09:00", recorded="2026-03-03T09:01")]
    f = only(run(events, context()), "DQ_BACKDATED")
    assert f.category == "data_quality" and f.details["lag_hours"] == 24.0
    assert run([event("apply", "2026-03-02T09:00", recorded="2026-03-03T08:59")], context()) == []
    assert "DQ_BACKDATED" not in rules(run(events, context(backdating_hours=48)))


def test_event_recorded_before_it_occurred() -> None:
    events = [event("apply", "2026-03-02T09:00", recorded="2026-03-02T08:00")]
    assert rules(run(events, context())) == ["DQ_FUTURE_DATED"]


def test_unknown_item_is_flagged_once_and_law_defaults_apply() -> None:
    events = [event("apply", "2026-03-02T09:00", item="NOPE"), event("accept", "2026-03-02T10:00", item="NOPE")]
    state, found = run_state(events, context())
    assert rules(found) == ["DQ_UNKNOWN_ITEM"]
    assert state.clocks["decision"].statutory == 20


def test_severity_can_be_overridden_by_configuration() -> None:
    events = [event("apply", "2026-03-02T09:00"), event("fee_charged", "2026-03-02T09:10", fee_code="X", amount_fen=1)]
    assert (
        only(run(events, context(severity_overrides={"FEE_ON_FREE_ITEM": "red"})), "FEE_ON_FREE_ITEM").severity == "red"
    )


def test_a_redelivered_event_changes_nothing() -> None:
    fee = event("fee_charged", "2026-03-02T09:10", fee_code="X", amount_fen=1)
    once = run([event("apply", "2026-03-02T09:00", event_id="a"), fee], context())
    twice = run([event("apply", "2026-03-02T09:00", event_id="a"), fee, fee], context())
    assert once == twice and rules(once) == ["FEE_ON_FREE_ITEM"]
