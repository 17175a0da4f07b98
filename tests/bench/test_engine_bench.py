"""Events per second through the pure rules engine on one core (parse + step, and step alone)."""

from __future__ import annotations

import json
import platform
import random
import time
from datetime import datetime, timedelta

import pytest

from schemas.events import CaseEvent, parse_event
from streams.rules import due, step
from streams.rules.state import CaseState
from tests.support import TZ, context

pytestmark = pytest.mark.bench

CTX = context(
    {"code": "A", "separate_review_approval": True, "required_materials": ["m1"]},
    {
        "code": "B",
        "fees": [{"code": "F1", "standard_fen": 5000}],
        "limits": {"decision": {"statutory": 20, "promised": 8}},
    },
)
LIFECYCLE = ["apply", "accept", "review", "fee_charged", "approve", "certificate_delivered", "conclude"]


def _raw_events(n_cases: int, seed: int = 7) -> list[bytes]:
    rnd = random.Random(seed)
    start = datetime(2026, 1, 5, 9, tzinfo=TZ)
    out = []
    for c in range(n_cases):
        t = start + timedelta(minutes=rnd.randrange(0, 60 * 24 * 300))
        item = rnd.choice("AB")
        for i, kind in enumerate(LIFECYCLE[: rnd.randint(2, len(LIFECYCLE))]):
            t += timedelta(hours=rnd.randint(1, 24 * 6))
            payload: dict[str, object] = {}
            if kind == "fee_charged":
                payload = {"fee_code": "F1", "amount_fen": rnd.choice([5000, 6000])}
            elif kind == "apply":
                payload = {"materials": ["m1"]}
            out.append(
                json.dumps(
                    {
                        "event_id": f"{c}-{i}",
                        "case_id": f"C{c}",
                        "item_code": item,
                        "department_id": "D",
                        "region_code": "511702",
                        "staff_id": f"s{rnd.randint(1, 50)}",
                        "kind": kind,
                        "occurred_at": t.isoformat(),
                        "recorded_at": (t + timedelta(minutes=2)).isoformat(),
                        "payload": payload,
                    }
                ).encode()
            )
    return out


def test_engine_throughput_one_core() -> None:
    raw = _raw_events(20_000)
    t0 = time.perf_counter()
    events: list[CaseEvent] = [parse_event(r) for r in raw]
    t_parse = time.perf_counter() - t0
    events.sort(key=lambda e: e.occurred_at)
    states: dict[str, CaseState] = {}
    findings = 0
    t0 = time.perf_counter()
    for e in events:
        st, found = step(states.get(e.case_id), e, CTX)
        states[e.case_id] = st
        findings += len(found)
    t_step = time.perf_counter() - t0
    t0 = time.perf_counter()
    end = events[-1].occurred_at + timedelta(days=90)
    for st in states.values():
        findings += len(due(st, end, CTX)[1])
    t_sweep = time.perf_counter() - t0
    n = len(events)
    print(
        f"\n[engine bench] {platform.processor() or platform.machine()}, Python {platform.python_version()}: "
        f"{n} events, {len(states)} cases, {findings} findings\n"
        f"  parse (pydantic): {n / t_parse:,.0f} events/s\n"
        f"  step (timers + rules): {n / t_step:,.0f} events/s\n"
        f"  parse + step: {n / (t_parse + t_step):,.0f} events/s\n"
        f"  final sweep of {len(states)} cases: {len(states) / t_sweep:,.0f} cases/s"
    )
    assert findings > 0
