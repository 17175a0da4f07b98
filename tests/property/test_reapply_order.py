"""Withdraw-and-reapply: the order the facts arrive in (and their batches, and replays) never changes the findings."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.findings import Finding
from streams.batch import Message
from streams.processor import CaseProcessor
from streams.rules.reapply import Applicant, Fact, admit, cross_case
from tests.support import TZ, context

CTX = context(reapply_window_wd=3)
START = datetime(2026, 7, 1, 9, 0, tzinfo=TZ)


@st.composite
def histories(draw: st.DrawFn) -> list[Fact]:
    """Cases of two applicants on two items: each applied, some withdrawn, within three weeks."""
    facts: list[Fact] = []
    for n in range(draw(st.integers(1, 8))):
        who, item = draw(st.sampled_from(["P1", "P2"])), draw(st.sampled_from(["I1", "I2"]))
        applied = START + timedelta(hours=draw(st.integers(0, 21 * 24)))
        facts.append(Fact("apply", f"C{n}", who, item, applied, f"C{n}-a", "D1", "511702", f"s{n}"))
        if draw(st.booleans()):
            gone = applied + timedelta(hours=draw(st.integers(0, 10 * 24)))
            facts.append(Fact("withdraw", f"C{n}", who, item, gone, f"C{n}-w", "D1", "511702", f"s{n}"))
    return facts


def _admitted(facts: list[Fact]) -> list[Finding]:
    states: dict[bytes, Applicant] = {}
    out: list[Finding] = []
    for x in facts:
        states[x.key], found, _ = admit(states.get(x.key), x, CTX)
        out += found
    return out


def _key(findings: list[Finding]) -> list[str]:
    return sorted(f.model_dump_json() for f in findings)


@settings(max_examples=300, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_any_arrival_order_and_any_replay_give_the_same_findings(facts: list[Fact], rnd: object) -> None:
    reference = cross_case(facts, CTX)
    ids = [f.finding_id for f in reference]
    assert len(ids) == len(set(ids))  # one finding per pair
    shuffled = list(facts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    replayed = shuffled + [x for x in facts if rnd.random() < 0.5]  # type: ignore[attr-defined]
    assert _key(_admitted(shuffled)) == _key(reference) == _key(_admitted(replayed))
    # Exactly the pairs the definition names, counted by brute force.
    pairs = {
        (w.case_id, a.case_id)
        for w in facts
        for a in facts
        if w.kind == "withdraw"
        and a.kind == "apply"
        and w.case_id != a.case_id
        and w.key == a.key
        and a.occurred_at >= w.occurred_at
        and CTX.calendar.workdays_between(w.occurred_at.date(), a.occurred_at.date()) <= 3
    }
    assert {(f.details["withdrawn_case_id"], f.case_id) for f in reference} == pairs


@settings(max_examples=60, deadline=None)
@given(histories(), st.randoms(use_true_random=False), st.integers(1, 5))
def test_the_worker_gives_the_same_findings_whatever_the_order_and_batches(
    facts: list[Fact], rnd: object, size: int
) -> None:
    shuffled = list(facts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    proc = CaseProcessor(ctx=CTX, clock="event", ticks_topic="ticks", facts_topic="facts")
    msgs = [Message("facts", 0, i, x.key, x.to_json()) for i, x in enumerate(shuffled)]
    got: list[Finding] = []
    for i in range(0, len(msgs), size):
        result = proc.handle(msgs[i : i + size])
        got += [Finding.model_validate_json(v) for n, _, v in result.outputs if n == "findings"]
    unchained = [f.model_copy(update={"chain": None}) for f in got]
    assert _key(unchained) == _key(cross_case(facts, CTX))
