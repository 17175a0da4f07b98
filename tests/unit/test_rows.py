"""Case rows leave out fields at their defaults and decode to the same state; full rows still read."""

from __future__ import annotations

import orjson

from streams.rows import decode_row, encode_row
from streams.rules import step
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
    row = orjson.loads(encode_row(state, due=None, basis="b"))["s"]
    assert "outcome" not in row and "delivered" not in row and "fee_codes" not in row
    assert all("stopped" not in c and "fired" not in c for c in row["clocks"].values())
    assert row["stage"] == state.stage and row["seq"] == state.seq


def test_a_row_written_in_full_reads_the_same() -> None:
    for s in _states()[:50]:
        full = orjson.dumps({"s": s, "d": None, "b": "b"})  # the format before compact rows
        assert decode_row(full).to_dict() == s.to_dict()
