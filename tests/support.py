"""Builders shared by the unit and property tests: events, catalogs and a rules context."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from schemas.catalog import Catalog, parse_catalog
from schemas.config import RuleConfig
from schemas.events import CaseEvent, parse_event
from schemas.findings import Finding
from streams.rules import Context, WorkCalendar, due, evaluate, step
from streams.rules.state import CaseState

TZ = ZoneInfo("Asia/Shanghai")
_CAL: WorkCalendar | None = None
_ids = itertools.count(1)


def calendar() -> WorkCalendar:
    global _CAL
    if _CAL is None:
        _CAL = WorkCalendar()
    return _CAL


def at(text: str) -> datetime:
    """'2026-03-02T09:00' in Asia/Shanghai."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def catalog(*items: dict[str, Any]) -> Catalog:
    base = {"code": "ITEM", "name": "测试事项", "department_id": "D1"}
    return parse_catalog({"items": [{**base, **i} for i in items] or [base]})


def context(*items: dict[str, Any], **config: Any) -> Context:
    return Context.build(calendar(), catalog(*items), RuleConfig(**config))


def event(
    kind: str,
    when: str,
    *,
    case: str = "C1",
    staff: str = "s1",
    item: str = "ITEM",
    event_id: str | None = None,
    recorded: str | None = None,
    dept: str = "D1",
    region: str = "511702",
    **payload: Any,
) -> CaseEvent:
    occurred = at(when)
    return parse_event(
        {
            "event_id": event_id or f"e{next(_ids)}",
            "case_id": case,
            "item_code": item,
            "department_id": dept,
            "region_code": region,
            "staff_id": staff,
            "kind": kind,
            "occurred_at": occurred.isoformat(),
            "recorded_at": (at(recorded) if recorded else occurred + timedelta(minutes=1)).isoformat(),
            "payload": payload,
        }
    )


def run(events: list[CaseEvent], ctx: Context, until: str | None = None) -> list[Finding]:
    """Findings of the reference evaluation, timers run to ``until`` (default: the last event)."""
    return evaluate(events, ctx, at(until) if until else None).findings


def run_state(events: list[CaseEvent], ctx: Context, until: str | None = None) -> tuple[CaseState, list[Finding]]:
    state: CaseState | None = None
    out: list[Finding] = []
    for e in events:
        state, found = step(state, e, ctx)
        out += found
    assert state is not None
    if until:
        state, found = due(state, at(until), ctx)
        out += found
    return state, out


def rules(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


def only(findings: list[Finding], rule: str) -> Finding:
    hits = [f for f in findings if f.rule == rule]
    assert len(hits) == 1, f"expected one {rule}, got {[f.rule for f in findings]}"
    return hits[0]


# ---- synthetic province (for pipeline tests and benchmarks) ----------------------------------------

_ITEMS = {
    "SC-FOOD-001": ("DZ-SCJG", [], ["application_form", "business_licence", "floor_plan"], ["premises_inspected"]),
    "SC-LAND-002": (
        "DZ-ZRZY",
        [("REG-HOUSE", 8000), ("CERT", 1000)],
        ["application_form", "identity", "title_deed"],
        [],
    ),
    "SC-BUILD-003": ("DZ-ZJ", [], [], ["land_use_approved", "planning_permit", "safety_measures"]),
    "SC-INVEST-004": ("DZ-FGW", [], [], []),
}
_REGIONS = ["511702", "511703", "511722", "511723", "511781", "510104"]


def synthetic_lines(n_cases: int, seed: int = 1, start: str = "2026-01-05T09:00") -> list[bytes]:
    """Wire bytes of ``n_cases`` case histories over the 2026 calendar, with violations of every kind,
    sorted by event time (as a live province would deliver them)."""
    import json
    import random

    rnd = random.Random(seed)
    t0 = at(start)
    out: list[tuple[datetime, bytes]] = []
    for c in range(n_cases):
        item = rnd.choice(list(_ITEMS))
        dept, fees, materials, conditions = _ITEMS[item]
        region = rnd.choice(_REGIONS)
        staff = [f"{dept}-s{rnd.randint(1, 12)}" for _ in range(3)]
        t = t0 + timedelta(minutes=rnd.randrange(0, 60 * 24 * 200))
        steps: list[tuple[str, dict[str, Any], int]] = [("apply", {"materials": materials}, 0)]
        if rnd.random() < 0.1:
            steps.append(("supplement_notice", {}, 0))
            steps.append(("supplement_received", {}, 0))
            if rnd.random() < 0.3:
                steps.append(("supplement_notice", {}, 0))
        if rnd.random() < 0.9:
            steps.append(("accept", {}, 0))
        for code, standard in fees:
            steps.append(("fee_charged", {"fee_code": code, "amount_fen": standard + rnd.choice([0, 0, 0, 500])}, 0))
        if not fees and rnd.random() < 0.05:
            steps.append(("fee_charged", {"fee_code": "FORM", "amount_fen": 1000}, 0))
        if rnd.random() < 0.15:
            lawful = rnd.random() < 0.8
            steps.append(("suspend", {"procedure": "expert_review", "reason": "专家评审"} if lawful else {}, 1))
            steps.append(("resume", {}, 1))
        if rnd.random() < 0.1:
            steps.append(("extend", {"days": rnd.choice([5, 10, 12]), "approver_id": rnd.choice([None, "head"])}, 1))
        if rnd.random() < 0.85:
            met = conditions if rnd.random() < 0.9 else conditions[:1]
            steps.append(("review", {"conditions_met": met}, 1))
        if rnd.random() < 0.8:
            steps.append(("approve", {}, rnd.choice([1, 2, 2])))
            if rnd.random() < 0.85:
                steps.append(("certificate_delivered", {}, 0))
                steps.append(("conclude", {}, 0))
        for i, (kind, payload, who) in enumerate(steps):
            t += timedelta(hours=rnd.choice([1, 3, 20, 50, 100, 200]))
            lag = timedelta(minutes=rnd.choice([1, 2, 5])) if rnd.random() > 0.01 else timedelta(days=3)
            out.append(
                (
                    t,
                    json.dumps(
                        {
                            "event_id": f"SIM{seed}-{c}-{i}",
                            "case_id": f"SIM{seed}-{c:06d}",
                            "item_code": item,
                            "department_id": dept,
                            "region_code": region,
                            "staff_id": staff[who],
                            "kind": kind,
                            "occurred_at": t.isoformat(),
                            "recorded_at": (t + lag).isoformat(),
                            "payload": payload,
                        },
                        ensure_ascii=False,
                    ).encode(),
                )
            )
    out.sort(key=lambda p: p[0])
    return [line for _, line in out]


def synthetic_context() -> Context:
    """The rules context the synthetic province is judged with: the example catalog, default thresholds."""
    from pathlib import Path

    from schemas.catalog import load_catalog

    return Context.build(
        calendar(), load_catalog(Path(__file__).resolve().parents[1] / "examples/catalog.yaml"), RuleConfig()
    )


FOOD_MATERIALS = ["application_form", "business_licence", "floor_plan"]  # all SC-FOOD-001 asks for


def working_day_end(after: datetime, calendar: WorkCalendar) -> datetime:
    """24:00 Asia/Shanghai at the end of the first working day on or after ``after``'s date: when timers fall due."""
    day = after.astimezone(TZ).date()
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), TZ)


def application_due_at(deadline: datetime, ctx: Context, item: str = "SC-FOOD-001") -> datetime:
    """An application time (10:00 on an earlier day) whose first timer, the acceptance notice, is due exactly
    at ``deadline``."""
    from streams.rules.clocks import next_due

    for days in range(1, 40):
        t = (deadline - timedelta(days=days)).replace(hour=10)
        apply = parse_event(
            {
                "event_id": "probe",
                "case_id": "probe",
                "item_code": item,
                "department_id": "DZ-SCJG",
                "region_code": "511702",
                "staff_id": "s",
                "kind": "apply",
                "occurred_at": t.isoformat(),
                "recorded_at": t.isoformat(),
                "payload": {"materials": FOOD_MATERIALS},
            }
        )
        state, _ = step(None, apply, ctx)
        if next_due(state, ctx) == deadline:
            return t
    raise AssertionError(f"no application time has a timer due at {deadline}")


def admin_auth() -> dict[str, Any]:
    """Test clients (fixtures, probes) log in as admin; the platform's own processes never do."""
    from esup.kafka_auth import ADMIN, kafka_python_auth
    from esup.settings import load_settings

    return kafka_python_auth(load_settings(), ADMIN)


def admin_aioauth() -> dict[str, Any]:
    from esup.kafka_auth import ADMIN, aiokafka_auth
    from esup.settings import load_settings

    return aiokafka_auth(load_settings(), ADMIN)


def grant_platform(settings: Any) -> None:
    """The platform principals' users and ACLs for the topics and groups these settings name (as `make up` does)."""
    from esup.access import ops
    from esup.topics import quiet_kafka_logging

    if settings.kafka_security_protocol != "PLAINTEXT":
        quiet_kafka_logging()
        ops.bootstrap(settings, command="tests")


def kcat_login() -> list[str]:
    """librdkafka options (kcat -X …) for the admin's login; none on a PLAINTEXT cluster."""
    auth = admin_auth()
    if not auth:
        return []
    opts = {
        "security.protocol": auth["security_protocol"],
        "sasl.mechanisms": auth["sasl_mechanism"],
        "sasl.username": auth["sasl_plain_username"],
        "sasl.password": auth["sasl_plain_password"],
    }
    if "ssl_cafile" in auth:
        opts["ssl.ca.location"] = auth["ssl_cafile"]
    return [arg for k, v in opts.items() for arg in ("-X", f"{k}={v}")]
