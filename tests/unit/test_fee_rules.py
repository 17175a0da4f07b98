"""Fees: none without a legal basis (art. 58); only published items and standards (art. 59)."""

from __future__ import annotations

from tests.support import context, event, only, rules, run

FEES = {
    "fees": [
        {"code": "REG", "standard_fen": 8000, "basis": "发改价格规〔2016〕2559号"},
        {"code": "CERT", "standard_fen": 1000},
    ]
}


def _case(*fees: tuple[str, int]) -> list:  # type: ignore[type-arg]
    events = [event("apply", "2026-03-02T09:00")]
    for i, (code, amount) in enumerate(fees):
        events.append(event("fee_charged", f"2026-03-02T09:{10 + i}", fee_code=code, amount_fen=amount))
    return events


def test_art58_any_fee_on_a_free_item() -> None:
    f = only(run(_case(("FORM", 500)), context()), "FEE_ON_FREE_ITEM")
    assert f.category == "fee" and f.severity == "yellow" and f.law_article == "行政许可法 第58条"
    assert f.details == {"fee_code": "FORM", "amount_fen": 500}


def test_art59_fee_not_in_the_items_list() -> None:
    f = only(run(_case(("SURVEY", 100)), context(FEES)), "FEE_NOT_LISTED")
    assert f.details["allowed"] == ["REG", "CERT"]


def test_art59_amount_above_the_standard() -> None:
    f = only(run(_case(("REG", 8001)), context(FEES)), "FEE_OVER_STANDARD")
    assert f.details["standard_fen"] == 8000 and f.details["amount_fen"] == 8001


def test_fee_at_or_below_the_standard_is_fine() -> None:
    assert run(_case(("REG", 8000), ("CERT", 500)), context(FEES)) == []


def test_the_same_fee_twice_on_one_case() -> None:
    found = run(_case(("CERT", 1000), ("CERT", 1000)), context(FEES))
    assert rules(found) == ["FEE_DUPLICATE"]


def test_fee_findings_name_the_staff_who_charged_and_the_event() -> None:
    events = [
        event("apply", "2026-03-02T09:00", staff="first"),
        event("fee_charged", "2026-03-02T09:10", staff="cashier", fee_code="X", amount_fen=1),
    ]
    f = only(run(events, context()), "FEE_ON_FREE_ITEM")
    assert f.staff_id == "cashier" and f.evidence_event_ids == [events[1].event_id]
