"""The agent's glue without Faust: dead letters, idempotency, snapshots, ticks and the deadline index."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.control import DeadLetter
from schemas.events import event_to_json
from streams.batch import Message
from streams.processor import CaseProcessor
from streams.rows import META_KEY, decode_row
from streams.store import CaseStore
from tests.support import at, context, event

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _proc(clock: str = "wall", **kw: Any) -> tuple[CaseProcessor, CaseStore]:
    proc = CaseProcessor(
        ctx=kw.pop("ctx", None) or context(),
        clock=clock,
        ticks_topic="ticks",  # type: ignore[arg-type]
        wall_clock=lambda: NOW,
        **kw,
    )
    return proc, proc.store


def _table(store: CaseStore) -> dict[bytes, bytes]:
    return {k: v for part in store.partitions.values() for k, v in part.rows.items() if k != META_KEY}


def _where(store: CaseStore, key: bytes) -> int:
    return next(p for p, part in store.partitions.items() if key in part.rows)


def handle(proc: CaseProcessor, *m: Any) -> list[tuple[str, bytes, bytes]]:
    return proc.handle([Message(*m)]).outputs


def handle_batch(proc: CaseProcessor, msgs: list[Any]) -> list[tuple[str, bytes, bytes]]:
    return proc.handle([Message(*m) for m in msgs]).outputs


def _send(proc: CaseProcessor, e, offset: int = 0, partition: int = 0):  # type: ignore[no-untyped-def]
    return handle(proc, "events", partition, offset, e.case_id.encode(), event_to_json(e).encode())


def test_invalid_bytes_become_a_dead_letter_with_raw_bytes_reason_and_source() -> None:
    proc, store = _proc()
    out = handle(proc, "events", 3, 41, b"C1", b"\xff not json")
    assert [o[0] for o in out] == ["dead_letters"]
    letter = DeadLetter.model_validate_json(out[0][2])
    assert letter.raw() == b"\xff not json" and "not UTF-8" in letter.reason
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == ("events", 3, 41)
    assert _table(store) == {}


def test_a_message_not_keyed_by_its_case_id_is_a_dead_letter() -> None:
    proc, _ = _proc()
    e = event("apply", "2026-03-02T09:00", case="C1")
    out = handle(proc, "events", 0, 0, b"C2", event_to_json(e).encode())
    assert out[0][0] == "dead_letters" and "is not the case id" in DeadLetter.model_validate_json(out[0][2]).reason


def test_an_event_updates_the_table_and_sends_findings_and_a_snapshot() -> None:
    proc, store = _proc()
    _send(proc, event("apply", "2026-03-02T09:00", case="C1"))
    out = _send(proc, event("fee_charged", "2026-03-02T09:10", case="C1", fee_code="X", amount_fen=5), offset=1)
    assert [o[0] for o in out] == ["findings", "snapshots"]
    assert json.loads(out[0][2])["rule"] == "FEE_ON_FREE_ITEM"
    assert json.loads(out[1][2])["version"] == 2
    state = decode_row(_table(store)[b"C1"])
    assert _where(store, b"C1") == 0 and state.stage == 1
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
    out = handle(proc, "ticks", 0, 0, None, proc.tick_bytes(0, at("2026-03-20T00:00")))
    rules = [json.loads(v)["rule"] for name, _, v in out if name == "findings"]
    assert rules == ["TIME_ACCEPT_NOTICE", "TIME_ACCEPT_DEEMED"]
    assert {k for _, k, _ in out} == {b"A"}
    again = handle(proc, "ticks", 0, 1, None, proc.tick_bytes(0, at("2026-03-20T00:00")))
    assert again == []


def test_event_clock_sweeps_the_partition_to_the_watermark() -> None:
    proc, _ = _proc("event")
    _send(proc, event("apply", "2026-03-02T09:00", case="A"))
    out = _send(proc, event("apply", "2026-03-12T09:00", case="B"), offset=1)
    fired = [(k, json.loads(v)["rule"]) for name, k, v in out if name == "findings"]
    assert fired == [(b"A", "TIME_ACCEPT_NOTICE"), (b"A", "TIME_ACCEPT_DEEMED")]


def test_the_watermark_is_a_row_of_its_partition() -> None:
    """A new owner judges late events as the previous one would: the watermark travels in the changelog."""
    proc, store = _proc("event")
    first = event_to_json(event("apply", "2026-03-02T09:00", case="A")).encode()
    result = proc.handle([Message("events", 0, 0, b"A", first)])
    assert META_KEY in result.parts[0].rows and store.partition(0).watermark == at("2026-03-02T09:00")


def test_a_malformed_tick_is_a_dead_letter() -> None:
    proc, _ = _proc()
    out = handle(proc, "ticks", 0, 0, None, b"nonsense")
    assert [n for n, _, _ in out] == ["dead_letters"]
    assert DeadLetter.model_validate_json(out[0][2]).reason.startswith("tick")
    wrong = handle(proc, "ticks", 1, 1, None, proc.tick_bytes(0, at("2026-03-20T00:00")))
    assert "tick.partition" in DeadLetter.model_validate_json(wrong[0][2]).reason


def test_messages_below_the_committed_offset_are_in_the_state_already() -> None:
    """After the fence a new owner reads the group's committed offsets: a message below them was applied by
    the previous owner in the same transaction as its row, so it is skipped, not judged again."""
    proc, store = _proc()
    store.partition(0).committed["events"] = 11
    e = event("fee_charged", "2026-03-02T09:10", case="C1", fee_code="X", amount_fen=5)
    assert _send(proc, e, offset=10) == []
    assert proc.counters["skipped"] == 1 and _table(store) == {}
    assert _send(proc, e, offset=11)


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

    proc, store = _proc(clock, ctx=synthetic_context(), store=CaseStore(cache_size=50))
    out = []
    for i in range(0, len(messages), size):
        out += handle_batch(proc, messages[i : i + size])
    return proc, _table(store), out


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
        assert {k: decode_row(v).to_dict() for k, v in table1.items()} == {
            k: decode_row(v).to_dict() for k, v in table2.items()
        }
        assert _last_snapshots(out1) == _last_snapshots(out2)
        # …with fewer writes: one snapshot per changed case per batch, not one per change.
        assert sum(n == "snapshots" for n, _, _ in out2) < sum(n == "snapshots" for n, _, _ in out1)
        assert len(proc.store._cache) <= 50


def test_a_batch_writes_a_case_once() -> None:
    proc, store = _proc()
    lines = [
        event("apply", "2026-03-02T09:00", case="C1"),
        event("fee_charged", "2026-03-02T09:10", case="C1", fee_code="X", amount_fen=5),
        event("fee_charged", "2026-03-02T09:20", case="C1", fee_code="Y", amount_fen=7),
    ]
    result = proc.handle(
        [Message("events", 2, 40 + i, e.case_id.encode(), event_to_json(e).encode()) for i, e in enumerate(lines)]
    )
    assert [n for n, _, _ in result.outputs] == ["findings", "findings", "snapshots"]
    assert list(result.parts) == [2] and list(result.parts[2].rows) == [b"C1", META_KEY]  # META: the chain head
    assert result.parts[2].offsets == {"events": 43}
    assert _where(store, b"C1") == 2 and decode_row(_table(store)[b"C1"]).seq == 3


def test_a_rules_defect_in_a_batch_dead_letters_that_event_only() -> None:
    from unittest import mock

    import streams.batch as batch_module

    proc, store = _proc()
    good = event("apply", "2026-03-02T09:00", case="A")
    bad = event("apply", "2026-03-02T09:05", case="B")
    other = event("fee_charged", "2026-03-02T09:10", case="A", fee_code="X", amount_fen=5)
    real_step = batch_module.step

    def step(state, e, ctx):  # type: ignore[no-untyped-def]
        if e.case_id == "B":
            raise RuntimeError("planted defect")
        return real_step(state, e, ctx)

    batch = [("events", 0, i, e.case_id.encode(), event_to_json(e).encode()) for i, e in enumerate([good, bad, other])]
    with mock.patch.object(batch_module, "step", step):
        result = proc.handle([Message(*m) for m in batch])
    out = result.outputs
    assert [n for n, _, _ in out] == ["snapshots", "dead_letters", "findings", "snapshots"]
    assert "planted defect" in DeadLetter.model_validate_json(out[1][2]).reason
    assert decode_row(_table(store)[b"A"]).seq == 2 and b"B" not in _table(store)
    assert proc.counters["events"] == 2 and proc.counters["dead_letters"] == 1
    assert result.parts[0].offsets == {"events": 3}  # the dead letter's offset moves on with the others


def test_recovery_reuses_the_stored_due_moment_only_on_the_same_calendar_and_thresholds() -> None:
    import orjson

    from streams.recovery import rebuild_index
    from streams.rows import load_row

    proc, store = _proc()
    _send(proc, event("apply", "2026-03-02T09:00", case="A"), partition=1)
    row = load_row(_table(store)[b"A"])
    assert row["d"] == at("2026-03-07T00:00").isoformat() and row["b"] == proc.basis
    # A stored moment on the same basis is trusted as is (this one is planted to tell the two paths apart)…
    store.partition(1).rows[b"A"] = orjson.dumps({**row, "d": at("2026-03-05T00:00").isoformat()})
    fresh, _ = _proc(store=store)
    rebuild_index(fresh, 1)
    assert fresh.index.next_due(1) == at("2026-03-05T00:00")
    # …and computed again from the state when the calendar or the thresholds changed since it was written.
    store.partition(1).rows[b"A"] = orjson.dumps({**row, "d": at("2026-03-05T00:00").isoformat(), "b": "another"})
    rebuild_index(fresh, 1)
    assert fresh.index.next_due(1) == at("2026-03-07T00:00")


# ---- timers armed ahead of their deadline ---------------------------------------------------------------


def _applications(cases: list[str]):  # type: ignore[no-untyped-def]
    msgs = []
    for i, case in enumerate(cases):
        e = event("apply", "2026-03-02T09:00", case=case)
        msgs.append(("events", i % 2, i, case.encode(), event_to_json(e).encode()))
    return msgs


def test_timers_armed_ahead_publish_what_an_unarmed_sweep_would() -> None:
    deadline = at("2026-03-07T00:00")  # the acceptance notice of an application on Mon 2 Mar
    plain, plain_store = _proc()
    armed, store = _proc()
    applications = _applications(["A", "B", "C"])
    for proc in (plain, armed):
        handle_batch(proc, applications)
    handle_batch(armed, [("ticks", p, 10 + p, None, armed.tick_bytes(p, deadline, arm=True)) for p in (0, 1)])
    assert armed.counters["armed"] == 3
    # C changes between arming and the deadline: its armed result must not be used.
    fee = event("fee_charged", "2026-03-06T18:00", case="C", fee_code="X", amount_fen=5)
    for proc in (plain, armed):
        handle_batch(proc, [("events", 0, 20, b"C", event_to_json(fee).encode())])
    now = deadline + timedelta(milliseconds=5)
    outs = [
        handle_batch(proc, [("ticks", p, 30 + p, None, proc.tick_bytes(p, now)) for p in (0, 1)])
        for proc in (plain, armed)
    ]
    assert armed.counters["armed_used"] == 2
    assert _per_case(outs[0], "findings") == _per_case(outs[1], "findings")
    assert {k for k, _ in _per_case(outs[1], "findings").items()} == {b"A", b"B", b"C"}
    assert _last_snapshots(outs[0]) == _last_snapshots(outs[1])
    assert {k: decode_row(v).to_dict() for k, v in _table(store).items()} == {
        k: decode_row(v).to_dict() for k, v in _table(plain_store).items()
    }
    assert armed.arming.by_partition == {0: {}, 1: {}}  # used or dropped once the deadline passed


def test_an_armed_result_is_not_used_when_another_timer_falls_due_before_the_tick() -> None:
    plain, _ = _proc()
    armed, _ = _proc()
    applications = _applications(["A"])
    for proc in (plain, armed):
        handle_batch(proc, applications)
    handle_batch(armed, [("ticks", 0, 10, None, armed.tick_bytes(0, at("2026-03-07T00:00"), arm=True))])
    late = at("2026-03-10T00:00")  # a tick that comes days late: the statutory deadline passed too
    outs = [handle_batch(proc, [("ticks", 0, 30, None, proc.tick_bytes(0, late))]) for proc in (plain, armed)]
    assert armed.counters.get("armed_used", 0) == 0
    assert _per_case(outs[0], "findings") == _per_case(outs[1], "findings")
    assert len(_per_case(outs[1], "findings")[b"A"]) == 2  # notice and deemed acceptance


def test_a_defect_outside_the_rules_in_a_batch_dead_letters_that_event_and_leaves_the_cache_true() -> None:
    """Not only the rules: a failure while writing a case (here its snapshot) must not ack the batch unseen,
    and the half-changed states the batch held must not survive in the cache."""
    from unittest import mock

    import streams.batch as batch_module

    proc, store = _proc()
    first = event("apply", "2026-03-02T09:00", case="A")
    handle_batch(proc, [("events", 0, 0, b"A", event_to_json(first).encode())])
    assert b"A" in proc.store._cache
    msgs = [
        event("fee_charged", "2026-03-02T09:10", case="A", fee_code="X", amount_fen=5),
        event("apply", "2026-03-02T09:20", case="B"),
    ]
    real = batch_module.snapshot_json

    def snapshot_json(state, *args, **kwargs):  # type: ignore[no-untyped-def]
        if state.case_id == "B":
            raise KeyError("planted defect")
        return real(state, *args, **kwargs)

    batch = [("events", 0, 1 + i, e.case_id.encode(), event_to_json(e).encode()) for i, e in enumerate(msgs)]
    with mock.patch.object(batch_module, "snapshot_json", snapshot_json):
        out = handle_batch(proc, batch)
    assert [n for n, _, _ in out] == ["findings", "snapshots", "dead_letters"]
    assert decode_row(_table(store)[b"A"]).seq == 2 and b"B" not in _table(store)
    cached = proc.store._cache.get(b"A")
    assert cached is None or cached[1].seq == 2
    again = handle_batch(proc, [("events", 0, 3, b"A", event_to_json(msgs[0]).encode())])
    assert again == [] and proc.counters["duplicates"] == 1  # the fee was applied once, not twice


def test_a_failed_batch_gives_back_the_timers_it_took_from_the_index() -> None:
    """Event clock: B's event sweeps A's due timers inside the batch; C's defect then sends the batch back
    to one-message-at-a-time, which must find A's timers in the index again."""
    from unittest import mock

    import streams.batch as batch_module

    apply_a = event("apply", "2026-03-02T09:00", case="A")
    later = [event("apply", "2026-03-12T09:00", case="B"), event("apply", "2026-03-12T10:00", case="C")]
    real_step = batch_module.step

    def step(state, e, ctx):  # type: ignore[no-untyped-def]
        if e.case_id == "C":
            raise RuntimeError("planted defect")
        return real_step(state, e, ctx)

    outs = []
    for batched in (False, True):
        proc, _ = _proc("event")
        handle(proc, "events", 0, 0, b"A", event_to_json(apply_a).encode())
        msgs = [("events", 0, 1 + i, e.case_id.encode(), event_to_json(e).encode()) for i, e in enumerate(later)]
        with mock.patch.object(batch_module, "step", step):
            if batched:
                outs.append(handle_batch(proc, msgs))
            else:
                outs.append([o for m in msgs for o in handle(proc, *m)])
    assert _per_case(outs[0], "findings") == _per_case(outs[1], "findings")
    assert len(_per_case(outs[1], "findings")[b"A"]) == 2  # A's notice and deemed acceptance, once each


# ---- event time you can trust ------------------------------------------------------------------------------


def test_an_event_dated_years_ahead_of_its_receipt_is_flagged_and_does_not_move_the_event_clock() -> None:
    proc, store = _proc("event", receipt_skew=timedelta(minutes=5))
    received = at("2026-03-02T09:01")
    opened = event("apply", "2026-03-02T09:00", case="A")
    proc.handle([Message("events", 0, 0, b"A", event_to_json(opened).encode(), received)])
    forged = event("apply", "2039-01-03T09:00", case="B")
    out = proc.handle([Message("events", 0, 1, b"B", event_to_json(forged).encode(), received)]).outputs
    fired = [(k, json.loads(v)["rule"]) for name, k, v in out if name == "findings"]
    assert fired == [(b"B", "DQ_AHEAD_OF_RECEIPT")]  # nothing of A's fired years early
    assert store.partition(0).watermark == at("2026-03-02T09:00")


def test_a_tick_ahead_of_its_receipt_is_a_dead_letter() -> None:
    proc, _ = _proc("event", receipt_skew=timedelta(minutes=5))
    _send(proc, event("apply", "2026-03-02T09:00", case="A"))
    out = handle(proc, "ticks", 0, 1, None, proc.tick_bytes(0, at("2039-01-01T00:00")), at("2026-03-02T09:01"))
    assert [n for n, _, _ in out] == ["dead_letters"]
    assert "tick.now" in DeadLetter.model_validate_json(out[0][2]).reason


def test_a_changelog_row_that_cannot_be_read_is_quarantined_and_the_rest_loads() -> None:
    from types import SimpleNamespace as R

    from streams.recovery import load

    proc, store = _proc()
    _send(proc, event("apply", "2026-03-02T09:00", case="A"))
    good = _table(store)[b"A"]
    fresh, fresh_store = _proc()
    naive = b'{"watermark": "2026-03-02T09:00"}'  # a time without its zone
    records = [
        R(key=b"A", value=good, offset=0),
        R(key=b"B", value=b"{not json", offset=1),
        R(key=b"C", value=good, offset=2),
        R(key=META_KEY, value=naive, offset=3),
    ]
    letters = load(fresh, 0, "changelog", records)
    assert list(fresh_store.partition(0).rows) == [b"A"]  # B unreadable, C a row of another case
    reasons = [DeadLetter.model_validate_json(v).reason for _, _, v in letters]
    assert len(reasons) == 3 and all("quarantined" in r for r in reasons)
    assert fresh.counters["quarantined"] == 3


def test_findings_are_chained_per_partition_and_the_head_is_state() -> None:
    """Each finding carries its chain entry; the head moves with the partition's state (its META row)."""
    from streams.chain import GENESIS, content_hash, link
    from streams.rows import decode_meta

    proc, store = _proc()
    lines = [
        event("apply", "2026-03-02T09:00", case="C1"),
        event("fee_charged", "2026-03-02T09:10", case="C1", fee_code="X", amount_fen=5),
        event("fee_charged", "2026-03-02T09:20", case="C1", fee_code="Y", amount_fen=7),
    ]
    result = proc.handle([Message("events", 1, i, b"C1", event_to_json(e).encode()) for i, e in enumerate(lines)])
    chained = [json.loads(v) for n, _, v in result.outputs if n == "findings"]
    prev = GENESIS
    for seq, f in enumerate(chained, 1):
        c = f["chain"]
        assert (c["partition"], c["seq"], c["prev"]) == (1, seq, prev)
        assert c["content"] == content_hash(f) and c["hash"] == link(prev, seq, f["finding_id"], c["content"])
        prev = c["hash"]
    assert store.partition(1).chain.hash == prev and result.parts[1].head == store.partition(1).chain
    assert decode_meta(result.parts[1].rows[META_KEY])[1] == store.partition(1).chain
    edited = {**chained[0], "message": "nothing happened"}
    assert content_hash(edited) != chained[0]["chain"]["content"]
