"""The province simulator and its ground truth, checked against the reference engine (no servers needed).

The ground truth comes from the simulator's own working-day logic (sim/clock.py, sim/case.py); the engine
never computes it. Where they agree on thousands of cases, both are right or both wrong the same way.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from esup.cli import main
from schemas.catalog import load_catalog
from schemas.config import RuleConfig
from schemas.events import parse_event
from schemas.findings import Finding
from sim.case import CaseBuilder
from sim.catalog import UNKNOWN_ITEM, build_catalog, write_catalog
from sim.clock import TZ, LegalClock, Pause, Thresholds
from sim.generator import Options, Simulation, default_at, ground_truth
from sim.province import Office
from sim.run import run
from sim.truth import Expected, keys, read_truth
from sim.violations import KINDS, draw, rates
from sim.writers import Pacer, parse_speed
from streams.rules import Context, evaluate
from streams.rules.registry import NOT_SIMULATED, RULES
from tests.support import at as local
from tests.support import context, event, only
from tests.support import run as engine_run

CATEGORIES = {"time", "fee", "procedure", "condition", "first_inquiry", "data_quality"}


def simulate(**kw: object) -> tuple[Simulation, list[dict[str, object]], list[Expected], datetime]:
    sim = Simulation(Options(**kw))  # type: ignore[arg-type]
    cases = list(sim.cases())
    events = list(sim.events(iter(cases)))
    at = default_at(cases)
    return sim, events, ground_truth(cases, at), at


def engine(sim: Simulation, events: list[dict[str, object]], at: datetime) -> list[Finding]:
    ctx = Context.build(sim.calendar, sim.catalog, sim.options.rules)
    return evaluate([parse_event(e) for e in events], ctx, at).findings


def day_before(moment: datetime | None) -> date | None:
    """The day a period ran out on, from the 24:00 moment the engine reports."""
    return (moment.astimezone(TZ) - timedelta(days=1)).date() if moment else None


def assert_engine_equals_truth(findings: list[Finding], truth: list[Expected]) -> None:
    got = Counter((f.case_id, f.rule, f.staff_id) for f in findings)
    want = keys(truth)
    assert got == want, f"missing {sorted(want - got)[:5]}; unexpected {sorted(got - want)[:5]}"
    # Timer findings: the same moment, deadline and provisional flag; event findings: the same event.
    engine_days = Counter(
        (
            f.case_id,
            f.rule,
            f.detected_at if f.rule.startswith("TIME_") else f.evidence_event_ids[-1],
            day_before(f.deadline),
            f.provisional,
        )
        for f in findings
    )
    truth_days = Counter((e.case_id, e.rule, e.detected_at or e.event_id, e.deadline, e.provisional) for e in truth)
    expected_only, engine_only = sorted(truth_days - engine_days)[:3], sorted(engine_days - truth_days)[:3]
    assert engine_days == truth_days, f"expected {expected_only}, the engine has {engine_only}"


# ---- the province and its catalog ---------------------------------------------------------------------------


def test_the_catalog_file_loads_and_the_province_uses_sichuan_codes(tmp_path: Path) -> None:
    catalog = build_catalog()
    assert load_catalog(write_catalog(catalog, tmp_path / "catalog.yaml")) == catalog
    assert UNKNOWN_ITEM not in catalog.by_code()
    assert any(i.fees for i in catalog.items) and any(not i.fees for i in catalog.items)
    assert any(i.joint_handling and i.deemed_approval for i in catalog.items)
    assert any(i.limits.review for i in catalog.items) and any(not i.issues_certificate for i in catalog.items)
    sim = Simulation(Options(cities=5, counties=8))
    codes = [c.region_code for c in sim.province.counties]
    assert len(codes) == len(set(codes)) and all(len(c) == 6 and c.startswith("51") for c in codes)
    assert {c[:4] for c in codes} == {"5101", "5117", "5107", "5113", "5105"}  # Chengdu, Dazhou, Mianyang…
    office = sim.province.office("511702", "SCJG")
    assert office.department_id == "511702-SCJG" and office.windows and office.reviewers and office.approvers
    staff = [s.staff_id for c in sim.province.counties for o in c.offices.values() for s in o.all_staff()]
    assert len(staff) == len(set(staff))


def test_every_event_meets_the_contract_and_events_come_in_time_order() -> None:
    _, events, _, at = simulate(cases=600, violation_rate=0.5, seed=3)
    parsed = [parse_event(e) for e in events]  # raises on any event outside the contract
    assert [e.occurred_at for e in parsed] == sorted(e.occurred_at for e in parsed)
    assert all(e.occurred_at <= at for e in parsed)
    by_case: dict[str, list[datetime]] = {}
    for e in parsed:
        by_case.setdefault(e.case_id, []).append(e.occurred_at)
    # Every arrival is a case; a withdraw_reapply case brings its applicant's new case ("<id>-R") with it.
    again = {c for c in by_case if c.endswith("-R")}
    assert len(by_case) - len(again) == 600
    assert again and all(c.removesuffix("-R") in by_case for c in again)
    assert all(len(set(times)) == len(times) for times in by_case.values())  # no ties inside a case
    assert len({e.event_id for e in parsed}) == len(parsed)
    assert {e.region_code[:2] for e in parsed} == {"51"}


def test_the_same_seed_gives_the_same_province_and_another_seed_another() -> None:
    one = simulate(cases=300, seed=11)
    two = simulate(cases=300, seed=11)
    assert one[1] == two[1] and one[2] == two[2] and one[3] == two[3]
    assert one[0].province.to_dict() == two[0].province.to_dict()
    other = simulate(cases=300, seed=12)
    assert other[1] != one[1]


# ---- the ground truth ---------------------------------------------------------------------------------------


def test_every_violation_kind_every_category_and_every_rule_is_injected() -> None:
    _, _, truth, _ = simulate(cases=2000, violation_rate=0.9, seed=1)
    assert {e.violation for e in truth} == set(KINDS)
    assert {e.category for e in truth} == CATEGORIES
    # every rule of the registry, notices to red cards, but those only hostile input raises
    assert {e.rule for e in truth} == set(RULES) - NOT_SIMULATED


def test_a_refusal_that_omits_the_remedy_is_simulated_and_found_like_one_that_denies_it() -> None:
    sim, events, truth, at = simulate(cases=2000, violation_rate=0.9, seed=1)
    refusals = [e for e in events if str(e["kind"]).startswith("refuse_")]
    stated = Counter(json.dumps(e["payload"], sort_keys=True).count("remedy_notified") for e in refusals)
    assert stated[0] and stated[1]  # some say nothing of the remedy, the others say true or false
    untold = {
        e["event_id"]
        for e in refusals
        if e["payload"].get("remedy_notified") is not True  # type: ignore[attr-defined]
    }
    flagged = {f.evidence_event_ids[-1] for f in engine(sim, events, at) if f.rule == "PROC_REFUSAL_NO_REMEDY"}
    expected = {x.event_id for x in truth if x.rule == "PROC_REFUSAL_NO_REMEDY"}
    assert untold == flagged == expected


def test_clean_cases_raise_nothing_in_the_engine() -> None:
    sim, events, truth, at = simulate(cases=1500, violation_rate=0.0, seed=2)
    assert truth == []
    assert engine(sim, events, at) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_reference_engine_finds_exactly_the_ground_truth(seed: int) -> None:
    sim, events, truth, at = simulate(cases=1500, violation_rate=0.5, seed=seed)
    assert len(truth) > 500
    assert_engine_equals_truth(engine(sim, events, at), truth)


def test_the_ground_truth_holds_across_an_unpublished_year() -> None:
    """Cases from November 2026 run into 2027, whose holidays are not published: provisional findings."""
    sim, events, truth, at = simulate(cases=1200, violation_rate=0.5, seed=4, start=datetime(2026, 11, 2, tzinfo=TZ))
    assert at.year == 2027 and any(e.provisional for e in truth) and not all(e.provisional for e in truth)
    assert_engine_equals_truth(engine(sim, events, at), truth)


def test_the_ground_truth_follows_other_thresholds() -> None:
    rules = RuleConfig(notice_share=0.6, follow_up_wd=3)
    sim, events, truth, at = simulate(cases=1200, violation_rate=0.5, seed=6, rules=rules)
    assert_engine_equals_truth(engine(sim, events, at), truth)


def test_timer_findings_go_to_the_first_handler_or_the_named_referee() -> None:
    """首问负责制: a referral naming a person moves the timers to them; otherwise the first handler keeps them."""
    sim = Simulation(Options(cases=3000, violation_rate=0.5, seed=1))
    cases = list(sim.cases())
    truth = ground_truth(cases, default_at(cases))
    first = {c.builder.case_id: str(c.events[0]["staff_id"]) for c in cases}
    timers = [e for e in truth if e.detected_at]
    moved = [e for e in timers if e.staff_id != first[e.case_id]]
    assert moved and len(moved) < len(timers) / 4  # referrals naming a person, and reassignments
    # An inquiry at another office, referred without naming anyone: that office's person stays responsible.
    kept = {
        c.builder.case_id
        for c in cases
        if c.events[0]["kind"] == "inquiry"
        and c.events[0]["department_id"] != c.builder.office.department_id
        and len({who for _, who in c.builder.handovers}) == 1
    }
    assert any(e.case_id in kept and e.staff_id == first[e.case_id] for e in timers)


def test_a_ground_truth_for_a_moment_before_the_last_event_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="before the last simulated event"):
        run(Options(cases=50), tmp_path, at=datetime(2026, 1, 20, tzinfo=TZ))


def test_the_oracle_counts_from_the_day_after_and_skips_holidays_and_suspensions() -> None:
    cal = Simulation(Options(cases=0)).calendar
    th = Thresholds.of(0.75, 5)
    # Accepted Thursday 24 Sep 2026: 25 Sep is Mid-Autumn, 1-7 Oct National Day, Saturday 10 Oct a working day.
    clock = LegalClock("decision", date(2026, 9, 24), 20, 10)
    assert clock.day_of(1, cal) == date(2026, 9, 28)  # the start day is not counted, nor the holiday after it
    assert clock.first_warning(th) == 8  # 75 % of the stricter (promised) 10 days
    clock.suspensions.append(Pause(date(2026, 9, 29), date(2026, 10, 9)))  # an expert review, art. 45
    assert clock.used_on(date(2026, 10, 12), cal) == 4  # 28 Sep, 9 Oct, Saturday 10 Oct, 12 Oct
    fired = clock.milestones(cal, th, datetime(2026, 12, 31, tzinfo=TZ))
    assert [m.name for m in fired] == ["notice", "promise", "statutory", "red"]
    assert fired[0].deadline == fired[1].day  # the notice warns of the promise's last day


# ---- pacing, rates and the command --------------------------------------------------------------------------


def test_speed_and_pacing_with_catch_up() -> None:
    assert parse_speed("max") is None and parse_speed("realtime") == 1.0 and parse_speed("600x") == 600.0
    with pytest.raises(ValueError):
        parse_speed("fast")
    ticks = [0.0]
    wall = [datetime(2026, 6, 1, 12, 0, tzinfo=TZ)]

    def clock() -> float:
        return ticks[0]

    def now() -> datetime:
        return wall[0] + timedelta(seconds=ticks[0])

    origin = datetime(2026, 5, 1, tzinfo=TZ)
    pacer = Pacer(600, origin, catch_up=True, clock=clock, wall=now)
    assert pacer.wait_s(origin + timedelta(minutes=10)) == 1.0  # ten simulated minutes: one second at 600x
    ticks[0] = 3600.0  # an hour: 25 simulated days, still behind the present
    assert pacer.sim_now() == origin + timedelta(days=25)
    ticks[0] = 7200.0  # two hours: the accelerated clock would be 50 days on, past the present: real time now
    assert pacer.sim_now() == now()
    assert pacer.wait_s(now() + timedelta(seconds=30)) == 30.0


def test_violation_rates_are_checked_and_drawn() -> None:
    table = rates(0.3, {"late_decision": 0.1})
    assert table["late_decision"] == 0.1 and abs(table["backdated"] - 0.3 / len(KINDS)) < 1e-12
    with pytest.raises(ValueError, match="unknown"):
        rates(0.1, {"teleport": 0.1})
    with pytest.raises(ValueError, match="at most 1"):
        rates(0.9, {"late_decision": 0.5})
    rnd = random.Random(1)
    drawn = Counter(draw(rnd, rates(0.5)) for _ in range(20_000))
    assert abs(drawn[None] / 20_000 - 0.5) < 0.02


def test_esup_simulate_writes_what_esup_evaluate_finds(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    res = CliRunner().invoke(
        main, ["simulate", "--cases", "400", "--seed", "9", "--violation-rate", "0.6", "--out", str(out), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cases"] == 400 and manifest["expected_findings"] > 0
    assert json.loads((out / "province.json").read_text())["code"] == "510000"
    res = CliRunner().invoke(
        main, ["evaluate", str(out / "events.jsonl"), "--catalog", str(out / "catalog.yaml"), "--at", manifest["at"]]
    )
    assert res.exit_code == 0, res.stderr
    found = Counter((f["case_id"], f["rule"], f["staff_id"]) for f in map(json.loads, res.stdout.splitlines()))
    assert found == keys(read_truth(out / "truth.jsonl"))
    listed = CliRunner().invoke(main, ["simulate", "--list-kinds"])
    assert all(kind in listed.output for kind in KINDS)


def test_a_live_province_keeps_arriving_in_time_order() -> None:
    sim = Simulation(Options(cases=None, cases_per_day=300, start=datetime(2026, 12, 20, 10, tzinfo=TZ)))
    events = []
    for e in sim.events(sim.cases()):
        events.append(e)
        if len(events) == 20_000:
            break
    moments = [datetime.fromisoformat(str(e["occurred_at"])) for e in events]
    assert moments == sorted(moments) and moments[0] >= datetime(2026, 12, 20, 10, tzinfo=TZ)
    assert moments[-1].year == 2027  # on into the unpublished year


# ---- found by the oracle: a notice made due by a late extension (now fixed in the engine) ------------------------


def test_an_extension_after_a_broken_three_day_promise_raises_no_backdated_notice() -> None:
    # Promised 3 WD: 75 % of 3 rounds up to 3, so no notice; the promise breaks at day 3 (a yellow card).
    ctx = context({"limits": {"decision": {"statutory": 20, "promised": 3}}})
    events = [
        event("apply", "2026-03-02T09:00", staff="s1"),
        event("accept", "2026-03-02T09:30", staff="s1"),
        event("review", "2026-03-03T10:00", staff="r1"),
        # Day 20 of the statutory period (the extension is lawful on the last day), 10 WD more: the extended
        # promise (13 WD) ran out a week ago, so a notice that it is "due soon" is no warning at all…
        event("extend", "2026-03-30T10:00", staff="s1", days=10, approver_id="head"),
        event("approve", "2026-03-30T15:00", staff="a1"),  # …and the decision comes the same afternoon.
    ]
    found = engine_run(events, ctx, "2026-04-30T00:00")
    assert [f.rule for f in found].count("TIME_DECISION_PROMISE_BREACHED") == 1
    notices = [f for f in found if f.rule == "TIME_DECISION_NOTICE"]
    # The engine reports one detected at 24:00 on 16 March (day 10), two weeks before the extension existed.
    assert notices == [], [(f.detected_at.isoformat(), f.details) for f in notices]


def test_a_notice_made_due_by_an_extension_is_not_dated_before_it() -> None:
    ctx = context({"limits": {"decision": {"statutory": 20, "promised": 3}}})
    extend_at = local("2026-03-18T10:00")  # day 12: the 13-day extended promise still has a day to run
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T09:30"),
        event("review", "2026-03-03T10:00", staff="r1"),
        event("extend", extend_at.isoformat()[:16], days=10, approver_id="head"),
    ]
    notice = only(engine_run(events, ctx, "2026-03-25T00:00"), "TIME_DECISION_NOTICE")
    assert notice.detected_at >= extend_at, f"notice detected at {notice.detected_at}, extension at {extend_at}"


def test_the_engine_agrees_with_the_ground_truth_when_short_promises_are_extended_late() -> None:
    sim, events, truth, at = simulate(cases=3000, violation_rate=0.3, seed=1, rates={"late_decision": 0.3})
    # Some notices came at an extension rather than at the end of a day.
    assert any(e.detected_at and e.detected_at.hour for e in truth if e.rule == "TIME_DECISION_NOTICE")
    assert_engine_equals_truth(engine(sim, events, at), truth)


# ---- hand-written edges: the simulator's builder drives one case, the oracle and the engine must agree ----------


def _one_case(item_code: str, steps: Callable[[CaseBuilder, Office], None]) -> None:
    sim = Simulation(Options(cases=0))
    item = sim.catalog.by_code()[item_code]
    office = sim.province.office("511702", item.department_id.removeprefix("SC-"))
    b = CaseBuilder("EDGE-1", item, office, random.Random(1), sim.calendar, sim.thresholds, violation="edge")
    steps(b, office)
    at = datetime(2026, 12, 31, tzinfo=TZ)
    assert_engine_equals_truth(engine(sim, b.events, at), b.finish(at))


def test_an_extension_during_a_procedure_after_the_notice_day_warns_at_once_without_a_deadline() -> None:
    def steps(b: CaseBuilder, o: Office) -> None:
        w, r, a, head = o.windows[0][0], o.reviewers[0], o.approvers[0], o.head
        assert head is not None
        b.apply(datetime(2026, 3, 2, 9, tzinfo=TZ), w, list(b.item.required_materials))
        b.accept(date(2026, 3, 2), w)
        b.review(date(2026, 3, 3), r, [])
        b.suspend(date(2026, 3, 18), r, "testing", "委托检测")  # day 12: the 3-day promise broke long ago
        b.extend(date(2026, 3, 19), w, 10, head.staff_id)  # 13 WD now, notice at 10: due; its last day held open
        b.resume(date(2026, 3, 25), r)
        b.approve(date(2026, 3, 26), a)

    _one_case("SC-GA-001", steps)


def test_a_procedure_opened_on_the_last_day_holds_the_period() -> None:
    def steps(b: CaseBuilder, o: Office) -> None:
        w, r, a = o.windows[0][0], o.reviewers[0], o.approvers[0]
        b.apply(datetime(2026, 4, 1, 10, tzinfo=TZ), w, list(b.item.required_materials))
        b.supplement_notice(date(2026, 4, 9), w, ["identity"])  # on the 5th working day after receipt: in time
        b.supplement_received(date(2026, 4, 13), w, ["identity"])
        b.accept(date(2026, 4, 14), w)
        last = b.clocks["decision"].statutory_day(b.cal)
        assert last is not None
        b.suspend(last, r, "inspection", "现场核查")
        b.resume(last + timedelta(days=14), r)
        b.review(last + timedelta(days=14), r, list(b.item.required_conditions))
        b.approve(last + timedelta(days=15), a)

    _one_case("SC-WJ-002", steps)
