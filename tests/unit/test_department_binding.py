"""A case belongs to its department: another department's event on it is refused whole, naming both."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.control import DeadLetter
from schemas.events import event_to_json
from streams.batch import Message
from streams.processor import CaseProcessor
from streams.rows import decode_row
from streams.rules.evaluate import evaluate
from streams.rules.state import CaseState
from tests.support import at, context, event, rules

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_a_rivals_withdraw_is_refused_and_the_clocks_keep_running() -> None:
    ctx = context()
    apply = event("apply", "2026-03-02T09:00", dept="A")
    forged = event("withdraw", "2026-03-03T10:00", dept="B")
    result = evaluate([apply, forged], ctx, at("2026-06-30T18:00"))
    assert result.refused == [forged]
    assert result.states["C1"].outcome is None  # not withdrawn
    # the acceptance clock ran on: the stalled application is still found (a withdraw would have stopped it)
    assert "TIME_DECISION_OVERDUE" in rules(result.findings)
    honest = evaluate([apply, event("withdraw", "2026-03-03T10:00", dept="A")], ctx, at("2026-06-30T18:00"))
    assert honest.refused == [] and honest.states["C1"].outcome == "withdrawn"
    assert "TIME_DECISION_OVERDUE" not in rules(honest.findings)


def test_a_referral_hands_the_case_to_the_receiving_department_only() -> None:
    ctx = context()
    events = [
        event("inquiry", "2026-03-02T09:00", dept="A", subject="咨询"),
        event("refer", "2026-03-02T09:30", dept="A", to_department_id="B", reason="转至主管部门办理"),
        event("apply", "2026-03-02T10:00", dept="B", applicant_id="APP-1", materials=["application_letter"]),
        event("accept", "2026-03-03T10:00", dept="C"),
    ]
    result = evaluate(events, ctx)
    assert result.refused == [events[3]]
    assert result.states["C1"].holders == ["A", "B"]


def test_the_worker_dead_letters_another_departments_event_naming_both() -> None:
    proc = CaseProcessor(ctx=context(), clock="wall", ticks_topic="ticks", wall_clock=lambda: NOW)
    apply = event("apply", "2026-03-02T09:00", dept="A")
    forged = event("withdraw", "2026-03-03T10:00", dept="B")
    proc.handle([Message("events", 0, 0, b"C1", event_to_json(apply).encode())])
    out = proc.handle([Message("events", 0, 1, b"C1", event_to_json(forged).encode())]).outputs
    assert [o[0] for o in out] == ["dead_letters"]
    reason = DeadLetter.model_validate_json(out[0][2]).reason
    assert "'B'" in reason and "'A'" in reason and "C1" in reason
    state = next(decode_row(v) for part in proc.store.partitions.values() for k, v in part.rows.items() if k == b"C1")
    assert state.outcome is None and forged.event_id not in state.seen


def test_rows_written_before_holders_were_kept_still_bind_to_the_department() -> None:
    legacy = CaseState(
        case_id="C1", item_code="I", department_id="A", region_code="511702", responsible_staff="s", first_staff="s"
    )
    from streams.rules.integrity import foreign_department

    assert foreign_department(legacy, event("withdraw", "2026-03-03T10:00", dept="A")) is None
    assert foreign_department(legacy, event("withdraw", "2026-03-03T10:00", dept="B")) is not None
