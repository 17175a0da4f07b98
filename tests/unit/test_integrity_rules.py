"""Resends, conflicting resends, bounds on a case's state and times ahead of receipt (streams/rules/integrity.py)."""

from __future__ import annotations

from datetime import timedelta

from streams.rules import step
from streams.rules.engine import LIST_LIMIT
from streams.rules.integrity import EVENT_LIMIT, ahead_of_receipt
from tests.support import at, context, event, rules


def test_the_same_id_with_the_same_content_changes_nothing_however_old() -> None:
    ctx = context()
    fee = event("fee_charged", "2026-03-02T09:10", fee_code="X", amount_fen=1000, event_id="fee-1")
    state, _ = step(None, event("apply", "2026-03-02T09:00"), ctx)
    state, found = step(state, fee, ctx)
    assert rules(found) == ["FEE_ON_FREE_ITEM"]
    for i in range(700):  # far more than the 512 ids remembered before digests were kept
        state, _ = step(state, event("inquiry", "2026-03-02T10:00", event_id=f"q{i}"), ctx)
    seq = state.seq
    state, again = step(state, fee, ctx)
    assert again == [] and state.seq == seq  # no false FEE_DUPLICATE


def test_the_same_id_with_other_content_is_a_finding_and_the_first_version_stands() -> None:
    ctx = context()
    state, _ = step(None, event("apply", "2026-03-02T09:00"), ctx)
    first = event("fee_charged", "2026-03-02T09:10", fee_code="X", amount_fen=1000, event_id="fee-1")
    resent = event("fee_charged", "2026-03-02T09:10", fee_code="X", amount_fen=5000, event_id="fee-1")
    state, _ = step(state, first, ctx)
    fees = list(state.fee_codes)
    state, found = step(state, resent, ctx)
    assert rules(found) == ["DQ_CONFLICTING_RESEND"]
    details = found[0].details
    assert details["first_digest"] != details["resent_digest"] and '"amount_fen":5000' in details["resent"]
    assert state.fee_codes == fees and state.seen["fee-1"] == details["first_digest"]
    _, twice = step(state, resent, ctx)  # the same conflicting version again: the same finding id
    assert [f.finding_id for f in twice] == [found[0].finding_id]


def test_a_case_holds_a_bounded_number_of_events_and_says_so_once() -> None:
    ctx = context()
    state, _ = step(None, event("apply", "2026-03-02T09:00"), ctx)
    for i in range(EVENT_LIMIT - 1):
        state, _ = step(state, event("inquiry", "2026-03-02T10:00", event_id=f"q{i}"), ctx)
    assert len(state.seen) == EVENT_LIMIT
    state, found = step(state, event("inquiry", "2026-03-02T11:00", event_id="over-1"), ctx)
    assert rules(found) == ["DQ_EVENT_LIMIT"] and "over-1" not in state.seen
    state, more = step(state, event("inquiry", "2026-03-02T11:00", event_id="over-2"), ctx)
    assert more == [] and len(state.seen) == EVENT_LIMIT


def test_kept_lists_are_bounded_and_flagged_once() -> None:
    ctx = context()
    state, _ = step(None, event("apply", "2026-03-02T09:00", materials=[f"m{i}" for i in range(200)]), ctx)
    found = []
    for k in range(1, 4):
        materials = [f"m{k}-{i}" for i in range(200)]
        state, f = step(state, event("supplement_received", "2026-03-02T10:00", materials=materials), ctx)
        found += f
    assert len(state.materials) == LIST_LIMIT
    assert rules(found).count("DQ_STATE_LIMIT") == 1


def test_an_event_dated_after_its_receipt_is_flagged() -> None:
    ctx = context()
    e = event("apply", "2026-03-02T09:00")
    state, _ = step(None, e, ctx)
    tolerance = timedelta(minutes=5)
    assert ahead_of_receipt(state, e, at("2026-03-02T08:56"), tolerance, ctx) == []
    found = ahead_of_receipt(state, e, at("2026-03-02T08:54"), tolerance, ctx)
    assert rules(found) == ["DQ_AHEAD_OF_RECEIPT"] and found[0].details["ahead_minutes"] == 6.0
