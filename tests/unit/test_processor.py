"""The agent's glue without Faust: dead letters, idempotency, snapshots, ticks and the deadline index."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

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


# ---- batches ---------------------------------------------------------------------------------------


def _messages(lines: list[bytes], partitions: int = 3) -> list[tuple[str, int, int, bytes | None, bytes | None]]:
    import zlib

    out = []
    for offset, line in enumerate(lines):
        key = json.loads(line)["case_id"].encode()
        out.append(("events", zlib.crc32(key) % partitions, offset, key, line))
    return out


def _run(clock: str, messages, size: int):  # type: ignore[no-untyped-def]
    from tests.support import synthetic_context

    table: dict[bytes, bytes] = {}
    proc = CaseProcessor(ctx=synthetic_context(), table=table, index=DeadlineIndex(), clock=clock,
                         case_events_topic="events", ticks_topic="ticks", wall_clock=lambda: NOW,
                         cache_size=50)  # type: ignore[arg-type]  # fmt: skip
    out = []
    if size == 1:
        for m in messages:
            out += proc.handle(*m)
    else:
        for i in range(0, len(messages), size):
            out += proc.handle_batch(messages[i : i + size])
    return proc, table, out


def _per_case(out, kind: str):  # type: ignore[no-untyped-def]
    cases: dict[bytes, list[bytes]] = {}
    for name, key, value in out:
        if name == kind:
            cases.setdefault(key, []).append(value)
    return cases


def _last_snapshots(out):  # type: ignore[no-untyped-def]
    snaps = {}
    for name, key, value in out:
        if name == "snapshots":
            # as_of and the working days used as of then depend on when a timer was swept, nothing else.
            snap = json.loads(value)
            snap.pop("as_of")
            for c in snap["clocks"]:
                c.pop("working_days_used")
            snaps[key] = snap
    return snaps


def test_batches_find_what_one_message_at_a_time_finds_and_leave_the_same_table() -> None:
    from tests.support import synthetic_lines

    messages = _messages(synthetic_lines(300, seed=3))
    for clock in ("event", "wall"):
        _, table1, out1 = _run(clock, messages, 1)
        proc, table2, out2 = _run(clock, messages, 97)  # batches that split cases across them; cache of 50
        # The same findings, in the same order per case (a batch may fire other cases' timers later in it).
        assert _per_case(out1, "findings") == _per_case(out2, "findings")
        assert {k: decode_row(v)[1].to_dict() for k, v in table1.items()} == {
            k: decode_row(v)[1].to_dict() for k, v in table2.items()
        }
        assert _last_snapshots(out1) == _last_snapshots(out2)
        # …with fewer writes: one snapshot per changed case per batch, not one per change.
        assert sum(n == "snapshots" for n, _, _ in out2) < sum(n == "snapshots" for n, _, _ in out1)
        assert len(proc._cache) <= 50


def test_a_batch_writes_a_case_once_with_one_outbox_entry_from_its_earliest_offset() -> None:
    proc, table = _proc()
    writes: list[tuple[int, bytes]] = []
    proc.put = lambda partition, key, raw: (writes.append((partition, key)), table.__setitem__(key, raw))  # type: ignore[func-returns-value]
    lines = [
        event("apply", "2026-03-02T09:00", case="C1"),
        event("fee_charged", "2026-03-02T09:10", case="C1", fee_code="X", amount_fen=5),
        event("fee_charged", "2026-03-02T09:20", case="C1", fee_code="Y", amount_fen=7),
    ]
    out = proc.handle_batch([("events", 2, 40 + i, e.case_id.encode(), event_to_json(e).encode())
                             for i, e in enumerate(lines)])  # fmt: skip
    assert [n for n, _, _ in out] == ["findings", "findings", "snapshots"]
    assert writes == [(2, b"C1")]
    partition, state, outbox = decode_row(table[b"C1"])
    assert partition == 2 and state.seq == 3
    assert [(e[0], e[1], len(e[2])) for e in outbox] == [("events", 40, 2)]


def test_a_rules_defect_in_a_batch_dead_letters_that_event_only() -> None:
    from unittest import mock

    import streams.processor as processor_module

    proc, table = _proc()
    good = event("apply", "2026-03-02T09:00", case="A")
    bad = event("apply", "2026-03-02T09:05", case="B")
    other = event("fee_charged", "2026-03-02T09:10", case="A", fee_code="X", amount_fen=5)
    real_step = processor_module.step

    def step(state, e, ctx):  # type: ignore[no-untyped-def]
        if e.case_id == "B":
            raise RuntimeError("planted defect")
        return real_step(state, e, ctx)

    batch = [("events", 0, i, e.case_id.encode(), event_to_json(e).encode()) for i, e in enumerate([good, bad, other])]
    with mock.patch.object(processor_module, "step", step):
        out = proc.handle_batch(batch)
    assert [n for n, _, _ in out] == ["snapshots", "dead_letters", "findings", "snapshots"]
    assert "planted defect" in DeadLetter.model_validate_json(out[1][2]).reason
    assert decode_row(table[b"A"])[1].seq == 2 and b"B" not in table
    assert proc.counters["events"] == 2 and proc.counters["dead_letters"] == 1


def test_recovery_reuses_the_stored_due_moment_only_on_the_same_calendar_and_thresholds() -> None:
    import orjson

    proc, table = _proc()
    _send(proc, event("apply", "2026-03-02T09:00", case="A"), partition=1)
    row = orjson.loads(table[b"A"])
    assert row["d"] == at("2026-03-07T00:00").isoformat() and row["b"] == proc.basis
    # A stored moment on the same basis is trusted as is (this one is planted to tell the two paths apart)…
    table[b"A"] = orjson.dumps({**row, "d": at("2026-03-05T00:00").isoformat()})
    fresh = CaseProcessor(ctx=proc.ctx, table=table, index=DeadlineIndex(), clock="wall",
                          case_events_topic="events", ticks_topic="ticks")  # fmt: skip
    fresh.recover([1])
    assert fresh.index.next_due(1) == at("2026-03-05T00:00")
    # …and computed again from the state when the calendar or the thresholds changed since it was written.
    table[b"A"] = orjson.dumps({**row, "d": at("2026-03-05T00:00").isoformat(), "b": "another calendar"})
    fresh.recover([1])
    assert fresh.index.next_due(1) == at("2026-03-07T00:00")


def test_recovery_uses_the_committed_offsets_it_is_given() -> None:
    """faust recovers tables before its consumer knows the committed offsets; the worker reads them from
    Kafka and passes them in, so entries older than the commit are not republished."""
    proc, table = _proc()
    _send(proc, event("fee_charged", "2026-03-02T09:10", case="C1", fee_code="X", amount_fen=5), offset=11)
    fresh = CaseProcessor(ctx=proc.ctx, table=table, index=DeadlineIndex(), clock="wall",
                          case_events_topic="events", ticks_topic="ticks")  # fmt: skip
    assert [n for n, _, _ in fresh.recover([0], {("events", 0): 30})] == []
    assert [n for n, _, _ in fresh.recover([0], {("events", 0): 12})] == ["findings", "snapshots"]
    assert [n for n, _, _ in fresh.recover([0], {})] == ["findings", "snapshots"]  # nothing known: republish


# ---- timers armed ahead of their deadline ---------------------------------------------------------------


def _applications(cases: list[str]):  # type: ignore[no-untyped-def]
    msgs = []
    for i, case in enumerate(cases):
        e = event("apply", "2026-03-02T09:00", case=case)
        msgs.append(("events", i % 2, i, case.encode(), event_to_json(e).encode()))
    return msgs


def test_timers_armed_ahead_publish_what_an_unarmed_sweep_would() -> None:
    deadline = at("2026-03-07T00:00")  # the acceptance notice of an application on Mon 2 Mar
    plain, _ = _proc()
    armed, table = _proc()
    applications = _applications(["A", "B", "C"])
    for proc in (plain, armed):
        proc.handle_batch(applications)
    armed.handle_batch([("ticks", p, 10 + p, None, armed.tick_bytes(p, deadline, arm=True)) for p in (0, 1)])
    assert armed.counters["armed"] == 3
    # C changes between arming and the deadline: its armed result must not be used.
    fee = event("fee_charged", "2026-03-06T18:00", case="C", fee_code="X", amount_fen=5)
    for proc in (plain, armed):
        proc.handle_batch([("events", 0, 20, b"C", event_to_json(fee).encode())])
    now = deadline + timedelta(milliseconds=5)
    outs = [proc.handle_batch([("ticks", p, 30 + p, None, proc.tick_bytes(p, now)) for p in (0, 1)])
            for proc in (plain, armed)]  # fmt: skip
    assert armed.counters["armed_used"] == 2
    assert _per_case(outs[0], "findings") == _per_case(outs[1], "findings")
    assert {k for k, _ in _per_case(outs[1], "findings").items()} == {b"A", b"B", b"C"}
    assert _last_snapshots(outs[0]) == _last_snapshots(outs[1])
    assert {k: decode_row(v)[1].to_dict() for k, v in table.items()} == {
        k: decode_row(v)[1].to_dict() for k, v in plain.table.items()
    }
    assert armed._armed == {0: {}, 1: {}}  # used or dropped once the deadline passed


def test_an_armed_result_is_not_used_when_another_timer_falls_due_before_the_tick() -> None:
    plain, _ = _proc()
    armed, _ = _proc()
    applications = _applications(["A"])
    for proc in (plain, armed):
        proc.handle_batch(applications)
    armed.handle_batch([("ticks", 0, 10, None, armed.tick_bytes(0, at("2026-03-07T00:00"), arm=True))])
    late = at("2026-03-10T00:00")  # a tick that comes days late: the statutory deadline passed too
    outs = [proc.handle_batch([("ticks", 0, 30, None, proc.tick_bytes(0, late))]) for proc in (plain, armed)]
    assert armed.counters.get("armed_used", 0) == 0
    assert _per_case(outs[0], "findings") == _per_case(outs[1], "findings")
    assert len(_per_case(outs[1], "findings")[b"A"]) == 2  # notice and deemed acceptance


def test_a_defect_outside_the_rules_in_a_batch_dead_letters_that_event_and_leaves_the_cache_true() -> None:
    """Not only the rules: a failure while writing a case (here its snapshot) must not ack the batch unseen,
    and the half-changed states the batch held must not survive in the cache."""
    from unittest import mock

    import streams.processor as processor_module

    proc, table = _proc()
    first = event("apply", "2026-03-02T09:00", case="A")
    proc.handle_batch([("events", 0, 0, b"A", event_to_json(first).encode())])
    assert b"A" in proc._cache
    msgs = [
        event("fee_charged", "2026-03-02T09:10", case="A", fee_code="X", amount_fen=5),
        event("apply", "2026-03-02T09:20", case="B"),
    ]
    real = processor_module.snapshot_json

    def snapshot_json(state, *args, **kwargs):  # type: ignore[no-untyped-def]
        if state.case_id == "B":
            raise KeyError("planted defect")
        return real(state, *args, **kwargs)

    batch = [("events", 0, 1 + i, e.case_id.encode(), event_to_json(e).encode()) for i, e in enumerate(msgs)]
    with mock.patch.object(processor_module, "snapshot_json", snapshot_json):
        out = proc.handle_batch(batch)
    assert [n for n, _, _ in out] == ["findings", "snapshots", "dead_letters"]
    assert decode_row(table[b"A"])[1].seq == 2 and b"B" not in table
    cached = proc._cache.get(b"A")
    assert cached is None or cached[1].seq == 2
    again = proc.handle_batch([("events", 0, 3, b"A", event_to_json(msgs[0]).encode())])
    assert again == [] and proc.counters["duplicates"] == 1  # the fee was applied once, not twice


def test_a_failed_batch_gives_back_the_timers_it_took_from_the_index() -> None:
    """Event clock: B's event sweeps A's due timers inside the batch; C's defect then sends the batch back
    to one-message-at-a-time, which must find A's timers in the index again."""
    from unittest import mock

    import streams.processor as processor_module

    apply_a = event("apply", "2026-03-02T09:00", case="A")
    later = [event("apply", "2026-03-12T09:00", case="B"), event("apply", "2026-03-12T10:00", case="C")]
    real_step = processor_module.step

    def step(state, e, ctx):  # type: ignore[no-untyped-def]
        if e.case_id == "C":
            raise RuntimeError("planted defect")
        return real_step(state, e, ctx)

    outs = []
    for batched in (False, True):
        proc, _ = _proc("event")
        proc.handle("events", 0, 0, b"A", event_to_json(apply_a).encode())
        msgs = [("events", 0, 1 + i, e.case_id.encode(), event_to_json(e).encode()) for i, e in enumerate(later)]
        with mock.patch.object(processor_module, "step", step):
            if batched:
                outs.append(proc.handle_batch(msgs))
            else:
                outs.append([o for m in msgs for o in proc.handle(*m)])
    assert _per_case(outs[0], "findings") == _per_case(outs[1], "findings")
    assert len(_per_case(outs[1], "findings")[b"A"]) == 2  # A's notice and deemed acceptance, once each
