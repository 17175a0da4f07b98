"""Invariants of the rules engine, checked on random case histories (hypothesis)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import EVENT_KINDS, CaseEvent, parse_event
from schemas.findings import Finding
from streams.rules import Context, due, evaluate, step
from streams.rules.state import CaseState
from tests.support import TZ, context

CTX = context(
    {"code": "FREE", "separate_review_approval": True, "required_materials": ["m1"], "required_conditions": ["c1"]},
    {
        "code": "PAID",
        "fees": [{"code": "F1", "standard_fen": 5000}, {"code": "F2", "standard_fen": 100}],
        "limits": {"decision": {"statutory": 20, "promised": 8}, "review": {"statutory": 6}},
    },
    {"code": "JOINT", "joint_handling": True, "deemed_approval": {"basis": "local rule"}},
)
START = datetime(2026, 1, 5, 9, 0, tzinfo=TZ)
KINDS = list(EVENT_KINDS)


def _payload(kind: str, draw: Any) -> dict[str, Any]:
    if kind == "fee_charged":
        return {"fee_code": draw(st.sampled_from(["F1", "F2", "X"])), "amount_fen": draw(st.integers(0, 9000))}
    if kind == "extend":
        return {
            "days": draw(st.integers(1, 20)),
            "approver_id": draw(st.sampled_from([None, "head", "s1"])),
            "applicant_notified": draw(st.booleans()),
        }
    if kind == "suspend":
        return {
            "procedure": draw(st.sampled_from([None, "hearing", "expert_review"])),
            "reason": draw(st.sampled_from(["", "why"])),
        }
    if kind == "refer":
        return {"to_department_id": "D2", "to_staff_id": draw(st.sampled_from([None, "s9"]))}
    if kind in ("apply", "supplement_received"):
        return {"materials": draw(st.lists(st.sampled_from(["m1", "m2"]), max_size=2, unique=True))}
    if kind == "review":
        return {"conditions_met": draw(st.lists(st.sampled_from(["c1", "c2"]), max_size=2, unique=True))}
    return {}


@st.composite
def histories(draw: Any) -> list[CaseEvent]:
    events: list[CaseEvent] = []
    n_cases = draw(st.integers(1, 3))
    for c in range(n_cases):
        item = draw(st.sampled_from(["FREE", "PAID", "JOINT", "UNKNOWN"]))
        t = START + timedelta(days=draw(st.integers(0, 200)))
        # Mostly the lawful path, with random detours.
        kinds = ["apply", "accept", "review", "approve", "certificate_delivered", "conclude"]
        kinds = kinds[: draw(st.integers(1, len(kinds)))]
        for _ in range(draw(st.integers(0, 6))):
            kinds.insert(draw(st.integers(0, len(kinds))), draw(st.sampled_from(KINDS)))
        for i, kind in enumerate(kinds):
            t += timedelta(minutes=draw(st.integers(1, 60 * 24 * 12)))
            lag = timedelta(minutes=draw(st.sampled_from([1, 5, 60 * 30])))
            events.append(
                parse_event(
                    {
                        "event_id": f"c{c}-{i}",
                        "case_id": f"C{c}",
                        "item_code": item,
                        "department_id": "D1",
                        "region_code": "511702",
                        "staff_id": draw(st.sampled_from(["s1", "s2", "s3"])),
                        "kind": kind,
                        "occurred_at": t.isoformat(),
                        "recorded_at": (t + lag).isoformat(),
                        "payload": _payload(kind, draw),
                    }
                )
            )
    return events


def _until(events: list[CaseEvent]) -> datetime:
    return max(e.occurred_at for e in events) + timedelta(days=120)


def _ids(findings: list[Finding]) -> list[str]:
    return [f.finding_id for f in findings]


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(histories(), st.randoms(use_true_random=False))
def test_replaying_the_same_events_gives_identical_findings(events: list[CaseEvent], rnd: Any) -> None:
    first = evaluate(events, CTX, _until(events)).findings
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert evaluate(shuffled, CTX, _until(events)).findings == first


@SETTINGS
@given(histories())
def test_no_two_findings_share_an_id(events: list[CaseEvent]) -> None:
    ids = _ids(evaluate(events, CTX, _until(events)).findings)
    assert len(ids) == len(set(ids))


def _per_case(events: list[CaseEvent]) -> dict[str, list[CaseEvent]]:
    out: dict[str, list[CaseEvent]] = {}
    for e in sorted(events, key=lambda e: (e.occurred_at, e.recorded_at, e.event_id)):
        out.setdefault(e.case_id, []).append(e)
    return out


@SETTINGS
@given(histories(), st.lists(st.integers(1, 240 * 24), min_size=1, max_size=30))
def test_running_the_timers_in_finer_steps_or_twice_gives_the_same_findings(
    events: list[CaseEvent], hours: list[int]
) -> None:
    until = _until(events)
    once = evaluate(events, CTX, until).findings
    stepped: list[Finding] = []
    for case_events in _per_case(events).values():
        state: CaseState | None = None
        for e in case_events:
            # sweep at arbitrary times up to the event before applying it
            if state is not None:
                for h in sorted(hours):
                    t = START + timedelta(hours=h)
                    if t < e.occurred_at:
                        state, found = due(state, t, CTX)
                        stepped += found
            state, found = step(state, e, CTX)
            stepped += found
        assert state is not None
        state, found = due(state, until, CTX)
        stepped += found
        state, again = due(state, until, CTX)
        assert again == []
    key = lambda f: (f.detected_at, f.case_id, f.rule, f.finding_id)  # noqa: E731
    assert sorted(stepped, key=key) == once


@SETTINGS
@given(histories(), st.data())
def test_a_duplicated_event_changes_nothing(events: list[CaseEvent], data: Any) -> None:
    dup = data.draw(st.sampled_from(events))
    pos = data.draw(st.integers(0, len(events)))
    with_dup = [*events[:pos], dup, *events[pos:]]
    assert evaluate(with_dup, CTX, _until(events)).findings == evaluate(events, CTX, _until(events)).findings


@SETTINGS
@given(histories())
def test_state_survives_serialisation_after_every_event(events: list[CaseEvent]) -> None:
    """What a worker restarted from its changelog sees is what an uninterrupted worker sees."""
    until = _until(events)
    plain: list[Finding] = []
    restored: list[Finding] = []
    for case_events in _per_case(events).values():
        a: CaseState | None = None
        b: CaseState | None = None
        for e in case_events:
            a, fa = step(a, e, CTX)
            b, fb = step(None if b is None else CaseState.from_json(b.to_json()), e, CTX)
            plain += fa
            restored += fb
        assert a is not None and b is not None
        plain += due(a, until, CTX)[1]
        restored += due(CaseState.from_json(b.to_json()), until, CTX)[1]
    assert restored == plain


@SETTINGS
@given(
    st.lists(
        st.tuples(st.sampled_from(["F1", "F2"]), st.floats(0, 1)), min_size=1, max_size=2, unique_by=lambda t: t[0]
    )
)
def test_a_fee_within_the_standard_is_never_flagged(fees: list[tuple[str, float]]) -> None:
    standard = {"F1": 5000, "F2": 100}
    events = [
        parse_event(
            {
                "event_id": "a",
                "case_id": "C",
                "item_code": "PAID",
                "department_id": "D1",
                "region_code": "511702",
                "staff_id": "s1",
                "kind": "apply",
                "occurred_at": START.isoformat(),
                "recorded_at": START.isoformat(),
            }
        )
    ]
    for i, (code, share) in enumerate(fees):
        t = (START + timedelta(minutes=i + 1)).isoformat()
        events.append(
            parse_event(
                {
                    "event_id": f"f{i}",
                    "case_id": "C",
                    "item_code": "PAID",
                    "department_id": "D1",
                    "region_code": "511702",
                    "staff_id": "s1",
                    "kind": "fee_charged",
                    "occurred_at": t,
                    "recorded_at": t,
                    "payload": {"fee_code": code, "amount_fen": int(standard[code] * share)},
                }
            )
        )
    found = evaluate(events, CTX).findings
    assert [f for f in found if f.category == "fee"] == []


def test_context_is_shared_and_pure() -> None:
    assert isinstance(CTX, Context)
