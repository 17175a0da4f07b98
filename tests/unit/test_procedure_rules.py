"""Procedure: stage order (arts. 29-38), separation of duties, 一次性告知 (art. 32), after conclusion."""

from __future__ import annotations

from tests.support import context, event, only, rules, run

SEPARATE = {"separate_review_approval": True}


def _full(*, reviewer: str = "s2", approver: str = "s3") -> list:  # type: ignore[type-arg]
    return [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("review", "2026-03-03T10:00", staff=reviewer),
        event("approve", "2026-03-04T10:00", staff=approver),
        event("certificate_delivered", "2026-03-05T10:00"),
        event("conclude", "2026-03-05T11:00"),
    ]


def test_a_clean_case_raises_nothing() -> None:
    assert run(_full(), context(SEPARATE), until="2026-12-31T00:00") == []


def test_a_skipped_stage() -> None:
    events = [event("apply", "2026-03-02T09:00"), event("approve", "2026-03-03T10:00")]
    f = only(run(events, context()), "PROC_STAGE_SKIPPED")
    assert f.details["skipped"] == ["accepted", "reviewed"]
    assert f.evidence_event_ids == [events[0].event_id, events[1].event_id]


def test_a_stage_out_of_order() -> None:
    events = [*_full()[:4], event("accept", "2026-03-04T11:00")]
    assert "PROC_STAGE_ORDER" in rules(run(events, context()))


def test_conclude_without_a_decision_is_a_skipped_stage() -> None:
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("conclude", "2026-03-03T10:00"),
    ]
    assert rules(run(events, context())) == ["PROC_STAGE_SKIPPED"]


def test_any_event_after_conclusion() -> None:
    events = [*_full(), event("fee_charged", "2026-03-06T10:00", fee_code="X", amount_fen=100)]
    found = run(events, context(SEPARATE))
    assert rules(found) == ["PROC_AFTER_CONCLUSION"]  # the fee itself is not evaluated any more


def test_same_person_reviewing_and_approving_where_separation_is_required() -> None:
    f = only(run(_full(reviewer="s2", approver="s2"), context(SEPARATE)), "PROC_SAME_REVIEWER_APPROVER")
    assert f.staff_id == "s2"
    assert run(_full(reviewer="s2", approver="s2"), context()) == []  # not required for this item


def test_art32_second_supplement_notice_breaks_once() -> None:
    events = [
        event("apply", "2026-03-02T09:00"),
        event("supplement_notice", "2026-03-03T09:00"),
        event("supplement_received", "2026-03-04T09:00"),
        event("supplement_notice", "2026-03-05T09:00"),
    ]
    f = only(run(events, context()), "PROC_SUPPLEMENT_REPEATED")
    assert f.law_article == "行政许可法 第32条第1款第4项"


def test_concluded_before_the_certificate_was_delivered() -> None:
    events = [e for e in _full() if e.kind != "certificate_delivered"]
    assert rules(run(events, context())) == ["PROC_NOT_DELIVERED"]
    assert run(events, context({"issues_certificate": False})) == []


def test_withdrawal_stops_the_clocks_and_may_be_concluded() -> None:
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("withdraw", "2026-03-05T10:00"),
        event("conclude", "2026-03-06T10:00"),
    ]
    assert run(events, context(), until="2026-12-01T00:00") == []


def test_refusal_to_accept_and_refusal_to_license_end_the_clocks() -> None:
    refused = [
        event("apply", "2026-03-02T09:00"),
        event("refuse_accept", "2026-03-03T10:00", reason="not ours", remedy_notified=True),
        event("conclude", "2026-03-03T11:00"),
    ]
    assert run(refused, context(), until="2026-12-01T00:00") == []
    denied = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("review", "2026-03-03T10:00"),
        event("refuse_license", "2026-03-04T10:00", reason="unsafe", remedy_notified=True),
        event("conclude", "2026-03-04T11:00"),
    ]
    assert run(denied, context(), until="2026-12-01T00:00") == []
