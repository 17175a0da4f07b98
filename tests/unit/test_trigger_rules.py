"""Issue 13: refusals (arts. 32, 38), step limits (环节时限), off-system handling (体外循环), clock manipulation,
over-long extensions (art. 42), and the registry kept equal to the README, the CLI and the engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
from click.testing import CliRunner

from esup.cli import main
from esup.cli.rules import README_BEGIN, README_END, rules_markdown
from schemas.events import EVENT_KINDS
from streams.rules.offsystem import BATCH_LIMIT
from streams.rules.registry import NOT_SIMULATED, RULES
from streams.rules.state import CaseState
from tests.support import at, context, event, only, rules, run, run_state

ROOT = Path(__file__).resolve().parents[2]
ITEM = {"required_materials": ["form", "plan"], "required_conditions": ["inspected"]}
STEPS = {"steps": {"review": 4, "decision": 2}, "limits": {"decision": {"statutory": 20, "promised": 10}}}


# ---- refusals (arts. 32, 38 ¶2) -------------------------------------------------------------------------------


def test_a_refusal_without_reasons_or_remedies_is_a_procedure_finding() -> None:
    for kind, before in (("refuse_accept", []), ("refuse_license", [event("accept", "2026-03-02T10:00")])):
        events = [event("apply", "2026-03-02T09:00"), *before, event(kind, "2026-03-03T10:00", staff="s9")]
        found = run(events, context())
        # Neither a reason nor the remedy stated: both findings (an omitted remedy_notified is not "told").
        assert sorted(rules(found)) == ["PROC_REFUSAL_NO_REASON", "PROC_REFUSAL_NO_REMEDY"]
        f = only(found, "PROC_REFUSAL_NO_REASON")
        assert f.staff_id == "s9" and f.law_article == "行政许可法 第32条、第38条第2款"
        assert only(found, "PROC_REFUSAL_NO_REMEDY").details["remedy_stated"] is False
        untold = [*events[:-1], event(kind, "2026-03-03T10:00", reason="不符合法定条件", remedy_notified=False)]
        assert rules(run(untold, context())) == ["PROC_REFUSAL_NO_REMEDY"]
        assert only(run(untold, context()), "PROC_REFUSAL_NO_REMEDY").details["remedy_stated"] is True
        unstated = [*events[:-1], event(kind, "2026-03-03T10:00", reason="不符合法定条件")]
        f = only(run(unstated, context(), until="2026-12-01T00:00"), "PROC_REFUSAL_NO_REMEDY")
        assert "not stating" in f.message and f.details["remedy_notified"] is None
        told = [*events[:-1], event(kind, "2026-03-03T10:00", reason="不符合法定条件", remedy_notified=True)]
        assert run(told, context(), until="2026-12-01T00:00") == []


def test_refusing_a_complete_application_is_a_notice_for_review() -> None:
    complete = event("apply", "2026-03-02T09:00", materials=["form", "plan"])
    f = only(
        run([complete, event("refuse_accept", "2026-03-02T11:00", reason="r", remedy_notified=True)], context(ITEM)),
        "COND_QUALIFIED_REFUSED",
    )
    assert f.severity == "notice" and f.details["materials"] == ["form", "plan"]
    # Refused after the review verified every condition: for review; with a condition unverified: lawful.
    base = [complete, event("accept", "2026-03-02T10:00")]
    verified = [*base, event("review", "2026-03-04T10:00", conditions_met=["inspected"])]
    assert "COND_QUALIFIED_REFUSED" in rules(
        run([*verified, event("refuse_license", "2026-03-05T10:00", reason="r", remedy_notified=True)], context(ITEM))
    )
    unverified = [
        *base,
        event("review", "2026-03-04T10:00"),
        event("refuse_license", "2026-03-05T10:00", reason="r", remedy_notified=True),
    ]
    assert run(unverified, context(ITEM)) == []
    # Incomplete, told to supplement, or no list of materials to judge by: nothing.
    partial = [
        event("apply", "2026-03-02T09:00", materials=["form"]),
        event("refuse_accept", "2026-03-02T11:00", reason="r", remedy_notified=True),
    ]
    assert run(partial, context(ITEM)) == []
    told = [
        complete,
        event("supplement_notice", "2026-03-02T10:00"),
        event("refuse_accept", "2026-03-03T11:00", reason="r", remedy_notified=True),
    ]
    assert run(told, context(ITEM)) == []
    assert (
        run([complete, event("refuse_accept", "2026-03-02T11:00", reason="r", remedy_notified=True)], context()) == []
    )


# ---- step limits (环节时限) -----------------------------------------------------------------------------------


def test_each_step_is_its_own_clock_while_the_overall_promise_holds() -> None:
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T09:30"),
        event("review", "2026-03-09T10:00", staff="r1"),  # day 5 of a 4-day step
        event("approve", "2026-03-12T10:00", staff="a1"),  # day 3 of a 2-day step; day 8 of the 10-day promise
    ]
    found = run(events, context(STEPS), until="2026-12-01T00:00")
    steps = [(f.rule, f.details["step"], f.detected_at, f.deadline) for f in found if f.rule.startswith("TIME_STEP")]
    assert steps == [
        ("TIME_STEP_NOTICE", "承办→审核", at("2026-03-06T00:00"), at("2026-03-07T00:00")),  # 3 of 4 used on Thu 5th
        ("TIME_STEP_BREACHED", "承办→审核", at("2026-03-07T00:00"), at("2026-03-07T00:00")),
        ("TIME_STEP_BREACHED", "审核→批准", at("2026-03-12T00:00"), at("2026-03-12T00:00")),  # 10th, 11th
    ]
    assert not any(r.startswith("TIME_DECISION") for r in rules(found))  # the overall promise held
    no_cert = {**STEPS, "issues_certificate": False}
    on_time = [*events[:2], event("review", "2026-03-05T10:00"), event("approve", "2026-03-06T10:00")]
    assert run(on_time, context(no_cert), until="2026-12-01T00:00") == []


def test_a_special_procedure_holds_the_step_clock_too() -> None:
    events = [
        event("apply", "2026-03-02T09:00"),
        event("accept", "2026-03-02T09:30"),
        event("suspend", "2026-03-03T10:00", procedure="inspection", reason="现场检验"),
        event("resume", "2026-03-16T10:00"),
        event("review", "2026-03-19T10:00"),  # 3-13 March held: 16, 17, 18 → notice on the 18th; the 19th is day 4
    ]
    assert rules(run(events, context(STEPS))) == ["TIME_STEP_NOTICE"]


# ---- off-system handling (体外循环) -----------------------------------------------------------------------------


def test_an_application_recorded_after_its_decision() -> None:
    events = [
        event("apply", "2026-04-07T09:00", recorded="2026-04-07T17:00"),
        event("accept", "2026-04-07T09:10"),
        event("review", "2026-04-07T10:00"),
        event("approve", "2026-04-07T11:00", staff="a1"),
    ]
    f = only(run(events, context()), "DQ_APPLY_AFTER_DECISION")
    assert f.staff_id == "a1" and f.details["apply_recorded_at"] == "2026-04-07T17:00:00+08:00"
    assert f.evidence_event_ids == [events[0].event_id, events[3].event_id]
    in_time = [event("apply", "2026-04-07T09:00", recorded="2026-04-07T10:59"), *events[1:]]
    assert run(in_time, context()) == []


def test_a_case_entered_in_one_sitting_days_later_is_one_batch_finding() -> None:
    days = ["2026-04-13T09:00", "2026-04-13T09:30", "2026-04-14T10:00", "2026-04-15T10:00"]
    kinds = ["apply", "accept", "review", "approve"]
    events = [event(k, d, recorded=f"2026-04-20T10:0{i}") for i, (k, d) in enumerate(zip(kinds, days, strict=True))]
    found = run(events, context())
    batch = only(found, "DQ_BATCH_ENTERED")
    assert batch.evidence_event_ids == [e.event_id for e in events[:3]]  # raised by the third
    assert rules(found).count("DQ_BACKDATED") == 4
    # Two back-dated events, or three entered hours apart, are not a batch.
    assert "DQ_BATCH_ENTERED" not in rules(run([*events[:2], event("review", "2026-04-14T10:00")], context()))
    apart = [event(k, d, recorded=f"2026-04-20T1{i}:00") for i, (k, d) in enumerate(zip(kinds, days, strict=True))]
    assert "DQ_BATCH_ENTERED" not in rules(run(apart, context()))


def test_the_batch_memory_stays_bounded() -> None:
    ctx = context(batch_min_events=16)
    events = [event("apply", "2026-03-02T09:00", recorded="2026-03-10T09:00")]
    events += [
        event(
            "fee_charged",
            f"2026-03-02T1{i % 10}:{i:02d}",
            recorded=f"2026-03-{11 + i:02d}T09:00",
            fee_code=f"F{i}",
            amount_fen=0,
        )
        for i in range(18)
    ]
    state, _ = run_state(events, ctx)
    assert len(state.backdated) == BATCH_LIMIT


def test_a_decision_faster_than_the_item_plausibly_allows() -> None:
    ctx = context({"min_decision_minutes": 240})
    base = [
        event("apply", "2026-05-06T09:00"),
        event("accept", "2026-05-06T09:02"),
        event("review", "2026-05-06T09:05"),
    ]
    f = only(run([*base, event("approve", "2026-05-06T09:08")], ctx), "DQ_IMPLAUSIBLY_FAST")
    assert f.details == {"minutes": 8.0, "min_minutes": 240, "applied_at": "2026-05-06T09:00:00+08:00"}
    assert run([*base, event("approve", "2026-05-06T13:00")], ctx) == []
    assert run([*base, event("approve", "2026-05-06T09:08")], context()) == []  # no minimum set


# ---- clock manipulation ------------------------------------------------------------------------------------------


def test_suspensions_past_the_share_of_the_period_are_for_review() -> None:
    base = [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-02T09:30")]
    long = [
        *base,
        event("suspend", "2026-03-03T10:00", procedure="expert_review", reason="专家评审"),
        event("resume", "2026-04-08T10:00", staff="r1"),
    ]
    f = only(run(long, context()), "DQ_SUSPENSION_EXCESSIVE")
    assert f.staff_id == "r1" and f.details["suspended_wd"] == 25 and f.details["limit_wd"] == 20
    assert run(long, context(suspension_share=1.5)) == []
    # Two procedures adding up: 3-13 March (9 WD) and 16-27 March (10 WD) → 19 of 20 at share 0.9 (18).
    two = [
        *base,
        event("suspend", "2026-03-03T10:00", procedure="testing", reason="检测"),
        event("resume", "2026-03-14T10:00"),
        event("suspend", "2026-03-16T10:00", procedure="testing", reason="复检"),
        event("resume", "2026-03-28T10:00"),
    ]
    assert rules(run(two, context(suspension_share=0.9))) == ["DQ_SUSPENSION_EXCESSIVE"]
    assert run(two, context()) == []


def test_a_supplement_notice_after_acceptance_does_not_restart_the_period() -> None:
    events = [
        event("apply", "2026-05-11T09:00"),
        event("accept", "2026-05-11T09:30"),
        event("supplement_notice", "2026-05-14T09:00"),
        event("supplement_received", "2026-05-18T09:00"),
    ]
    found = run(events, context(), until="2026-06-10T00:00")
    f = only(found, "DQ_SUPPLEMENT_AFTER_ACCEPTANCE")
    assert f.details == {"decision_start": "2026-05-11", "working_days_used": 3}
    assert "PROC_STAGE_ORDER" in rules(found)
    # The 20 days still count from 11 May: overdue at the end of 8 June, not 20 WD after the supplement.
    assert only(found, "TIME_DECISION_OVERDUE").deadline == at("2026-06-09T00:00")


# ---- over-long extensions (art. 42): flagged and capped at the maximum ---------------------------------------


def test_an_approved_over_long_extension_is_flagged_and_applied_capped() -> None:
    base = [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-02T10:00")]
    found = run(
        [*base, event("extend", "2026-03-10T10:00", days=15, approver_id="head")], context(), until="2026-06-01T00:00"
    )
    assert only(found, "PROC_EXTENSION_EXCESS").details["requested_wd"] == 15
    # 20 + 10 WD from 2 March (not 20 + 15): the deadline is 14 April, not 21 April.
    assert only(found, "TIME_DECISION_OVERDUE").deadline == at("2026-04-15T00:00")
    # Excessive and without approval: unlawful as such, not applied at all.
    bare = run([*base, event("extend", "2026-03-10T10:00", days=15)], context(), until="2026-06-01T00:00")
    assert {"PROC_EXTENSION_EXCESS", "PROC_EXTENSION_NO_APPROVER"} <= set(rules(bare))
    assert only(bare, "TIME_DECISION_OVERDUE").deadline == at("2026-03-31T00:00")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "applied capped at the maximum" in readme and "Unlawful extensions are flagged and not" not in readme


# ---- state, registry, CLI and README -------------------------------------------------------------------------


def test_the_new_state_serialises_the_same_through_orjson_and_to_dict() -> None:
    events = [
        event("apply", "2026-04-13T09:00", recorded="2026-04-20T10:00", applicant_id="A1"),
        event("accept", "2026-04-13T09:30", recorded="2026-04-20T10:01:30"),
    ]
    state, _ = run_state(events, context(STEPS))
    assert state.backdated and state.applied_at and state.applicant_id == "A1" and "step_review" in state.clocks
    assert orjson.loads(orjson.dumps(state)) == json.loads(json.dumps(state.to_dict()))
    assert CaseState.from_dict(state.to_dict()) == state
    old = state.to_dict()
    for new in ("applicant_id", "applied_at", "apply_recorded_at", "backdated"):
        del old[new]  # a state written before these fields existed still loads
    assert CaseState.from_dict(old).backdated == []


def test_every_handler_and_stage_key_is_an_event_kind_and_every_rule_has_its_basis() -> None:
    from streams.rules.engine import _HANDLERS, _STAGES

    assert set(_HANDLERS) <= set(EVENT_KINDS) and set(_STAGES) <= set(EVENT_KINDS)
    assert all(r.basis for r in RULES.values()), [c for c, r in RULES.items() if not r.basis]


def test_the_readme_rule_table_is_the_registry() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0].strip("\n") + "\n"
    assert table == rules_markdown()
    assert all(f"`{code}`" in table for code in RULES)


def test_esup_rules_list_prints_every_rule() -> None:
    res = CliRunner().invoke(main, ["rules", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert [r["code"] for r in rows] == list(RULES)
    assert set(rows[0]) == {"code", "category", "severity", "article", "meaning"}
    text = CliRunner().invoke(main, ["rules", "list"]).output
    assert "PROC_REFUSAL_NO_REASON" in text and "第38条第2款" in text


def test_every_rule_is_raised_by_the_examples(tmp_path: Path) -> None:
    before = (ROOT / "examples/triggers.jsonl").read_bytes()
    subprocess.run([sys.executable, str(ROOT / "examples/build_examples.py")], check=True, capture_output=True)
    assert (ROOT / "examples/triggers.jsonl").read_bytes() == before  # the committed file is the builder's output
    seen: set[str] = set()
    for name in ("events.jsonl", "triggers.jsonl"):
        catalog = str(ROOT / "examples/catalog.yaml")
        res = CliRunner().invoke(
            main, ["evaluate", str(ROOT / "examples" / name), "--catalog", catalog, "--at", "2026-12-31T00:00:00+08:00"]
        )
        assert res.exit_code == 0, res.stderr
        seen |= {json.loads(line)["rule"] for line in res.stdout.splitlines()}
    # input-integrity rules need a stream (receipt times, runaway volumes): tests/unit/test_integrity_rules.py
    assert seen == set(RULES) - NOT_SIMULATED, sorted(set(RULES) - NOT_SIMULATED - seen)
