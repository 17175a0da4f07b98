"""The agent's glue without Faust: dead letters, idempotency, snapshots, ticks and the deadline index."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from schemas.control import DeadLetter
from schemas.events import event_to_json
from streams.deadlines import DeadlineIndex
from streams.processor import CaseProcessor, decode_row
from tests.support import at, context, event

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _proc(clock: str = "wall") -> tuple[CaseProcessor, dict[bytes, bytes]]:
    table: dict[bytes, bytes] = {}
    proc = CaseProcessor(
        ctx=context(),
        table=table,
        index=DeadlineIndex(),
        clock=clock,  # type: ignore[arg-type]
        case_events_topic="events",
        ticks_topic="ticks",
        wall_clock=lambda: NOW,
    )
    return proc, table


def _send(proc: CaseProcessor, e, offset: int = 0, partition: int = 0):  # type: ignore[no-untyped-def]
    return proc.handle("events", partition, offset, e.case_id.encode(), event_to_json(e).encode())


def test_invalid_bytes_become_a_dead_letter_with_raw_bytes_reason_and_source() -> None:
    proc, table = _proc()
    out = proc.handle("events", 3, 41, b"C1", b"\xff not json")
    assert [o[0] for o in out] == ["dead_letters"]
    letter = DeadLetter.model_validate_json(out[0][2])
    assert letter.raw() == b"\xff not json" and "not UTF-8" in letter.reason
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == ("events", 3, 41)
    assert table == {}


def test_a_message_not_keyed_by_its_case_id_is_a_dead_letter() -> None:
    proc, _ = _proc()
    e = event("apply", "2026-03-02T09:00", case="C1")
    out = proc.handle("events", 0, 0, b"C2", event_to_json(e).encode())
    assert out[0][0] == "dead_letters" and "is not the case id" in DeadLetter.model_validate_json(out[0][2]).reason


def test_an_event_updates_the_table_and_sends_findings_and_a_snapshot() -> None:
    proc, table = _proc()
    _send(proc, event("apply", "2026-03-02T09:00", case="C1"))
    out = _send(proc, event("fee_charged", "2026-03-02T09:10", case="C1", fee_code="X", amount_fen=5), offset=1)
    assert [o[0] for o in out] == ["findings", "snapshots"]
    assert json.loads(out[0][2])["rule"] == "FEE_ON_FREE_ITEM"
    assert json.loads(out[1][2])["version"] == 2
    partition, state, _ = decode_row(table[b"C1"])
    assert partition == 0 and state.stage == 1
    assert proc.positions == {0: 1}


def test_a_redelivered_event_sends_nothing() -> None:
    proc, _ = _proc()
    e = event("fee_charged", "2026-03-02T09:10", case="C1", fee_code="X", amount_fen=5)
    assert _send(proc, e)
    assert _send(proc, e) == []
    assert proc.counters["duplicates"] == 1


def test_a_tick_fires_due_timers_on_its_partition_only() -> None:
    proc, _ = _proc()
    _send(proc, event("apply", "2026-03-02T09:00", case="A"), partition=0)
    _send(proc, event("apply", "2026-03-02T09:00", case="B"), partition=1)
    out = proc.handle("ticks", 0, 0, None, proc.tick_bytes(0, at("2026-03-20T00:00")))
    rules = [json.loads(v)["rule"] for name, _, v in out if name == "findings"]
    assert rules == ["TIME_ACCEPT_NOTICE", "TIME_ACCEPT_DEEMED"]
    assert {k for _, k, _ in out} == {b"A"}
    again = proc.handle("ticks", 0, 1, None, proc.tick_bytes(0, at("2026-03-20T00:00")))
    assert again == []


def test_event_clock_sweeps_the_partition_to_the_watermark() -> None:
    proc, _ = _proc("event")
    _send(proc, event("apply", "2026-03-02T09:00", case="A"))
    out = _send(proc, event("apply", "2026-03-12T09:00", case="B"), offset=1)
    fired = [(k, json.loads(v)["rule"]) for name, k, v in out if name == "findings"]
    assert fired == [(b"A", "TIME_ACCEPT_NOTICE"), (b"A", "TIME_ACCEPT_DEEMED")]


def test_rebuilding_the_index_from_the_table_restores_pending_timers() -> None:
    proc, table = _proc()
    _send(proc, event("apply", "2026-03-02T09:00", case="A"), partition=2)
    fresh = CaseProcessor(
        ctx=proc.ctx, table=table, index=DeadlineIndex(), clock="wall", case_events_topic="events", ticks_topic="ticks"
    )
    fresh.recover([2])
    assert fresh.index.next_due(2) == at("2026-03-07T00:00")  # notice: 4 of 5 WD after Mon 2 Mar
    fresh.recover([0])
    assert fresh.index.partitions() == [0]  # partitions no longer owned are dropped


def test_a_malformed_tick_is_ignored() -> None:
    proc, _ = _proc()
    assert proc.handle("ticks", 0, 0, None, b"nonsense") == []


def test_outputs_whose_row_landed_are_republished_on_recovery_until_committed() -> None:
    """kill -9 after the row reached the changelog but before the findings did: the redelivered event is
    a duplicate for the recovered state, so the outbox is what brings the findings back."""
    committed: dict[tuple[str, int], int] = {}
    table: dict[bytes, bytes] = {}

    def proc() -> CaseProcessor:
        return CaseProcessor(ctx=context(), table=table, index=DeadlineIndex(), clock="wall",
                             case_events_topic="events", ticks_topic="ticks", wall_clock=lambda: NOW,
                             committed=lambda t, p: committed.get((t, p)))  # fmt: skip

    first = proc()
    _send(first, event("apply", "2026-03-02T09:00", case="C1"), offset=10)
    fee = event("fee_charged", "2026-03-02T09:10", case="C1", fee_code="X", amount_fen=5)
    sent = _send(first, fee, offset=11)
    # The worker dies; the group had committed up to offset 10 (next to read: 11).
    committed[("events", 0)] = 11
    restarted = proc()
    again = restarted.recover([0])
    assert ("findings", b"C1", sent[0][2]) in again
    assert _send(restarted, fee, offset=11) == []  # the redelivery itself is a duplicate
    # Once the group commits past it, the entry is pruned at the next write and not republished.
    committed[("events", 0)] = 20
    _send(restarted, event("review", "2026-03-03T09:00", case="C1"), offset=21)
    assert [e[1] for e in decode_row(table[b"C1"])[2]] == [21]
