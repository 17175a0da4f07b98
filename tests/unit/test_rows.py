"""Case rows leave out fields at their defaults, are compressed, and decode to the same state; full rows and
rows in plain JSON (from before compression) still read; bytes that are not our rows are refused."""

from __future__ import annotations

import orjson
import pytest
import zstandard

from streams.rows import ROW_LIMIT, decode_row, encode_row, load_row, pack, unpack
from streams.rules import step
from streams.rules.clocks import next_due
from streams.rules.state import CaseState
from tests.support import context, event, synthetic_context, synthetic_lines


def _states() -> list[CaseState]:
    from schemas.events import parse_event

    ctx = synthetic_context()
    states: dict[str, CaseState] = {}
    for line in synthetic_lines(300, seed=4):
        e = parse_event(line)
        states[e.case_id], _ = step(states.get(e.case_id), e, ctx)
    return list(states.values())


def test_every_state_decodes_from_its_compact_row_as_it_was() -> None:
    states = _states()
    assert any(s.clocks for s in states) and any(s.closed for s in states)
    for s in states:
        assert decode_row(encode_row(s, due=None, basis="b")).to_dict() == s.to_dict()


def test_an_open_case_row_leaves_its_defaults_out() -> None:
    ctx = context()
    state, _ = step(None, event("apply", "2026-03-02T09:00"), ctx)
    row = load_row(encode_row(state, due=None, basis="b"))["s"]
    assert "outcome" not in row and "delivered" not in row and "fee_codes" not in row
    assert all("stopped" not in c and "fired" not in c for c in row["clocks"].values())
    assert row["stage"] == state.stage and row["seq"] == state.seq


def test_a_row_written_in_full_reads_the_same() -> None:
    for s in _states()[:50]:
        full = orjson.dumps({"s": s, "d": None, "b": "b"})  # the format before compact rows
        assert decode_row(full).to_dict() == s.to_dict()


def test_take_over_reads_each_row_once_and_builds_the_same_index() -> None:
    from types import SimpleNamespace as R

    from streams.processor import CaseProcessor
    from streams.recovery import Due, load, rebuild_index

    ctx = synthetic_context()
    states = [s for s in _states() if not s.closed]
    rows = []
    for i, s in enumerate(states):
        due = next_due(s, ctx)
        if i % 3 == 0 and due is not None:  # a stored moment the reader must take as is (not recompute)
            due = due.replace(year=due.year + 1)
        rows.append(R(key=s.case_id.encode(), value=encode_row(s, due=due, basis="B"), offset=i))
    rows.append(R(key=rows[0].key, value=encode_row(states[0], due=None, basis="other"), offset=len(rows)))

    def fresh() -> CaseProcessor:
        proc = CaseProcessor(ctx=ctx, clock="wall", ticks_topic="ticks")
        proc.basis = "B"
        return proc

    once, twice = fresh(), fresh()
    dues: dict[bytes, Due] = {}
    load(once, 0, "cl", rows, dues)
    rebuild_index(once, 0, dues)
    load(twice, 0, "cl", rows)
    rebuild_index(twice, 0)
    assert dues[rows[0].key] is None  # its last row was written on another basis: computed again
    assert once.index._due == twice.index._due and len(once.index) == len([s for s in states if next_due(s, ctx)])


def test_rows_are_compressed_several_times_smaller() -> None:
    states = _states()
    packed = [encode_row(s, due=None, basis="b") for s in states]
    plain = [unpack(p) for p in packed]
    assert all(p[:1] != b"{" for p in packed)  # every row is a frame, none stored as plain JSON
    assert sum(map(len, plain)) >= 3 * sum(map(len, packed))
    assert [orjson.loads(j)["s"]["case_id"] for j in plain] == [s.case_id for s in states]


def test_a_row_in_plain_json_from_before_compression_still_reads() -> None:
    for s in _states()[:20]:
        plain = unpack(encode_row(s, due=None, basis="b"))
        assert plain[:1] == b"{" and decode_row(plain).to_dict() == s.to_dict()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x00\x01garbage", "neither JSON nor a zstd frame"),
        (zstandard.ZstdCompressor().compress(b'{"s": {}}'), "dictionary 0"),  # a frame without our dictionary
        (pack(b"{" + b" " * (ROW_LIMIT + 1) + b"}"), "at most"),  # inflates past the limit
        (pack(b'{"s": {}}')[:-3], "corrupt"),  # cut short
        (pack(b"[1, 2]"), "not a JSON object"),
    ],
    ids=["garbage", "another dictionary", "bomb", "truncated", "not an object"],
)
def test_bytes_that_are_not_our_rows_are_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        load_row(raw)
