"""The event contract, the catalog file and the state's serialisation."""

from __future__ import annotations

import json
from datetime import date

import pytest

from schemas.catalog import CatalogError, load_catalog, parse_catalog
from schemas.events import MAX_EVENT_BYTES, EventError, event_to_json, parse_event
from streams.rules.state import CaseState
from tests.support import context, event, run_state

GOOD = {
    "event_id": "e1",
    "case_id": "C1",
    "item_code": "I",
    "department_id": "D",
    "region_code": "511702",
    "staff_id": "s",
    "kind": "fee_charged",
    "occurred_at": "2026-03-02T09:00:00+08:00",
    "recorded_at": "2026-03-02T09:01:00+08:00",
    "payload": {"fee_code": "F", "amount_fen": 100},
}


def test_a_valid_event_round_trips() -> None:
    e = parse_event(json.dumps(GOOD).encode())
    assert e.kind == "fee_charged" and e.schema_version == 1
    assert parse_event(event_to_json(e)) == e


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "teleport"}, "kind: unknown kind 'teleport'"),
        ({"region_code": "5117"}, "region_code: String should match pattern"),
        ({"occurred_at": "2026-03-02T09:00:00"}, "occurred_at: Input should have timezone info"),
        ({"payload": {"fee_code": "F", "amount_fen": "lots"}}, "payload.amount_fen: Input should be a valid integer"),
        ({"payload": {"fee_code": "F", "amount_fen": -1}}, "greater than or equal to 0"),
        ({"payload": {"fee_code": "F", "amount_fen": 1, "extra": 1}}, "payload.extra: Extra inputs are not permitted"),
        ({"schema_version": 2}, "schema_version"),
        ({"event_id": ""}, "event_id"),
    ],
)
def test_invalid_events_name_the_field_and_the_reason(change: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(EventError) as err:
        parse_event({**GOOD, **change})
    assert message in err.value.reason


def test_missing_field_is_named() -> None:
    data = dict(GOOD)
    del data["case_id"]
    with pytest.raises(EventError, match=r"case_id.*Field required"):
        parse_event(data)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (b" " * (MAX_EVENT_BYTES + 1), "exceeds"),
    ],
)
def test_undecodable_bytes_are_refused_with_a_reason(raw: bytes, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_event(raw)


def test_catalog_errors_name_the_item_and_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CatalogError, match="promised limit 25 exceeds the statutory 20"):
        parse_catalog(
            {
                "items": [
                    {
                        "code": "A",
                        "name": "a",
                        "department_id": "D",
                        "limits": {"decision": {"statutory": 20, "promised": 25}},
                    }
                ]
            }
        )
    with pytest.raises(CatalogError, match="duplicate item code A"):
        parse_catalog({"items": [{"code": "A", "name": "a", "department_id": "D"}] * 2})


def test_the_sample_catalog_loads_with_law_defaults() -> None:
    cat = load_catalog("examples/catalog.yaml").by_code()
    assert cat["SC-INVEST-004"].decision_limit.statutory == 45 and cat["SC-INVEST-004"].extension_limit == 15
    assert cat["SC-FOOD-001"].decision_limit.promised == 10 and cat["SC-FOOD-001"].fees == []
    assert cat["SC-LAND-002"].limits.delivery.promised == 3


def test_case_state_round_trips_through_json() -> None:
    events = [
        event("apply", "2026-03-02T09:00", materials=["m"]),
        event("accept", "2026-03-02T10:00"),
        event("suspend", "2026-03-04T10:00", procedure="hearing", reason="r"),
        event("resume", "2026-03-06T10:00"),
        event("suspend", "2026-03-09T10:00", procedure="testing", reason="r"),
    ]
    state, _ = run_state(events, context())
    text = state.to_json()
    again = CaseState.from_json(text)
    assert again == state and again.to_json() == text
    assert again.clocks["decision"].suspensions[0].end == date(2026, 3, 6)
    assert again.clocks["decision"].suspended
    assert len(text) < 2000  # small enough for a table row per open case


def test_snapshot_shows_stage_deadlines_and_working_days_used() -> None:
    from streams.rules.snapshot import snapshot
    from tests.support import at

    ctx = context()
    events = [event("apply", "2026-03-02T09:00", staff="first"), event("accept", "2026-03-02T10:00")]
    state, _ = run_state(events, ctx)
    snap = snapshot(state, at("2026-03-09T12:00"), ctx)
    decision = next(c for c in snap.clocks if c.name == "decision")
    assert snap.stage == "accepted" and snap.open and snap.responsible_staff == "first"
    assert decision.deadline == at("2026-03-31T00:00") and decision.working_days_used == 5
    assert snap.next_due == at("2026-03-24T00:00")  # the notice at 15 of 20 WD
    assert snap.version == 2


def test_a_stopped_clock_stops_counting_working_days() -> None:
    from streams.rules.snapshot import snapshot
    from tests.support import at

    ctx = context()
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T10:00"),
        event("review", "2026-03-04T10:00", staff="s2"),
        event("approve", "2026-03-06T10:00", staff="s3"),
    ]
    state, _ = run_state(events, ctx)
    later = snapshot(state, at("2026-04-30T12:00"), ctx)
    decision = next(c for c in later.clocks if c.name == "decision")
    assert decision.stopped and decision.working_days_used == 4  # 3, 4, 5, 6 March: the stage's duration
    again = CaseState.from_json(state.to_json())
    assert again.clocks["decision"].stopped_on == date(2026, 3, 6)


def test_kafka_cluster_ids_never_look_like_an_option() -> None:
    from esup.stack.kafka import new_cluster_id

    ids = {new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000 and not any(i.startswith("-") for i in ids) and all(len(i) == 22 for i in ids)
