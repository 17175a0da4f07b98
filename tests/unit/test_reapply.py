"""Withdraw-and-reapply (DQ_WITHDRAW_REAPPLY): the pure cross-case check, the reference evaluation, the worker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace as R
from typing import Any

from schemas.control import DeadLetter
from schemas.events import CaseEvent, event_to_json
from schemas.findings import Category, Finding, Severity, finding_id
from streams.applicants import APPLICANT_PREFIX
from streams.batch import Message
from streams.processor import CaseProcessor
from streams.recovery import load, rebuild_index
from streams.replay import replay
from streams.rules.reapply import FACT_LIMIT, Applicant, Fact, admit, case_facts, cross_case, fact_key
from tests.support import at, context, event, only, run

CTX = context()
RULE = "DQ_WITHDRAW_REAPPLY"


def withdrawn(
    case: str = "A",
    applied: str = "2026-07-01T09:00",
    gone: str = "2026-07-08T15:00",
    who: str = "APP-1",
    item: str = "ITEM",
) -> list[CaseEvent]:
    return [
        event("apply", applied, case=case, item=item, applicant_id=who, materials=["m1"], staff="s-wang"),
        event("accept", applied.replace("09:00", "09:30"), case=case, item=item, staff="s-wang"),
        event("withdraw", gone, case=case, item=item, staff="s-wang", reason="申请人主动撤回"),
    ]


def reapplied(when: str, case: str = "B", who: str = "APP-1", item: str = "ITEM", dept: str = "D1") -> list[CaseEvent]:
    return [event("apply", when, case=case, item=item, applicant_id=who, staff="s-sun", dept=dept)]


def fact(kind: str, case: str, when: str, who: str = "APP-1", item: str = "ITEM") -> Fact:
    return Fact(kind, case, who, item, at(when), f"{case}-{kind}", "D1", "511702", "s1")  # type: ignore[arg-type]


# ---- the reference evaluation ------------------------------------------------------------------------------


def test_a_reapplication_two_working_days_after_a_withdrawal_is_one_notice_on_the_new_case() -> None:
    events = withdrawn() + reapplied("2026-07-10T10:00", dept="D1")
    f = only(run(events, CTX), RULE)
    assert (f.case_id, f.staff_id, f.department_id, f.item_code) == ("B", "s-sun", "D1", "ITEM")
    assert (f.category, f.severity) == (Category.data_quality, Severity.notice)
    assert f.finding_id == finding_id("B", RULE, "after:A")  # from both case ids
    assert f.evidence_event_ids == [events[2].event_id, events[3].event_id]  # the withdrawal, the application
    assert f.detected_at == at("2026-07-10T10:00")
    assert f.details["withdrawn_case_id"] == "A" and f.details["working_days"] == 2
    assert f.details["applicant_id"] == "APP-1" and f.details["window_wd"] == 10
    assert f.law_article is None  # the law sets no window: a review heuristic, its source in the registry


def test_the_window_counts_working_days_from_the_withdrawal_day_and_is_configurable() -> None:
    # 8 July 2026 (Wednesday) + 10 working days = 22 July; the 23rd is the 11th.
    assert RULE in {f.rule for f in run(withdrawn() + reapplied("2026-07-22T16:00"), CTX)}
    assert RULE not in {f.rule for f in run(withdrawn() + reapplied("2026-07-23T09:00"), CTX)}
    narrow = context(reapply_window_wd=2)
    assert RULE in {f.rule for f in run(withdrawn() + reapplied("2026-07-10T09:00"), narrow)}
    assert RULE not in {f.rule for f in run(withdrawn() + reapplied("2026-07-13T09:00"), narrow)}
    same_day = context(reapply_window_wd=0)
    assert RULE in {f.rule for f in run(withdrawn() + reapplied("2026-07-08T16:00"), same_day)}


def test_an_application_before_the_withdrawal_another_item_or_applicant_raises_nothing() -> None:
    assert RULE not in {f.rule for f in run(withdrawn() + reapplied("2026-07-07T09:00"), CTX)}
    assert RULE not in {f.rule for f in run(withdrawn() + reapplied("2026-07-10T09:00", item="OTHER"), CTX)}
    assert RULE not in {f.rule for f in run(withdrawn() + reapplied("2026-07-10T09:00", who="APP-2"), CTX)}
    assert RULE not in {f.rule for f in run(withdrawn(), CTX)}  # one case: withdrawn, nothing more


def test_every_new_case_after_a_withdrawal_gets_its_own_finding_and_the_old_case_none() -> None:
    events = withdrawn() + reapplied("2026-07-09T09:00", case="B") + reapplied("2026-07-10T09:00", case="C")
    found = [f for f in run(events, CTX) if f.rule == RULE]
    assert sorted(f.case_id for f in found) == ["B", "C"]


# ---- the pure check --------------------------------------------------------------------------------------


def _admit_all(facts: list[Fact]) -> list[Finding]:
    states: dict[bytes, Applicant] = {}
    out: list[Finding] = []
    for x in facts:
        states[x.key], found, _ = admit(states.get(x.key), x, CTX)
        out += found
    return out


def test_either_arrival_order_gives_the_same_single_finding() -> None:
    w, a = fact("withdraw", "A", "2026-07-08T15:00"), fact("apply", "B", "2026-07-10T10:00")
    first, second = _admit_all([w, a]), _admit_all([a, w])
    assert len(first) == 1 and first == second
    assert cross_case([a, w], CTX) == first


def test_same_case_outside_the_window_and_a_fact_seen_twice_raise_nothing_more() -> None:
    assert _admit_all([fact("withdraw", "A", "2026-07-08T15:00"), fact("apply", "A", "2026-07-09T09:00")]) == []
    assert _admit_all([fact("withdraw", "A", "2026-07-08T15:00"), fact("apply", "B", "2026-07-23T09:00")]) == []
    w, a = fact("withdraw", "A", "2026-07-08T15:00"), fact("apply", "B", "2026-07-10T10:00")
    assert len(_admit_all([w, a, a, w, a])) == 1  # a replay of either fact is kept once


def test_a_key_past_its_bound_keeps_nothing_more() -> None:
    state = Applicant([fact("apply", f"C{i}", "2026-07-01T09:00") for i in range(FACT_LIMIT)])
    state, found, over = admit(state, fact("withdraw", "X", "2026-06-30T09:00"), CTX)
    assert over and found == [] and len(state.facts) == FACT_LIMIT


def test_the_key_is_unambiguous_and_a_fact_reads_back_the_same() -> None:
    assert fact_key("a:1", "b") != fact_key("a", ":1b") and fact_key("1:a", "b") != fact_key("1", "a1:b")
    assert fact_key("APP-1", "ITEM") == b"5:APP-14:ITEM"
    x = fact("apply", "B", "2026-07-10T10:00")
    assert Fact.from_json(x.to_json()) == x
    state = Applicant([x, fact("withdraw", "A", "2026-07-08T15:00")])
    assert Applicant.from_json(state.to_json()) == state


def test_only_the_first_application_and_the_withdrawal_are_facts() -> None:
    from streams.rules import step

    state = None
    facts: list[Fact] = []
    events = [*withdrawn(), event("withdraw", "2026-07-09T09:00", case="A", staff="s-wang")]
    for e in [events[0], events[0], *events[1:]]:  # the application resent: not a second fact
        applied = state is not None and state.applied_at is not None
        gone = state is not None and state.outcome == "withdrawn"
        state, _ = step(state, e, CTX)
        facts += case_facts(applied, gone, state, e)
    assert [(x.kind, x.occurred_at) for x in facts] == [
        ("apply", at("2026-07-01T09:00")),
        ("withdraw", at("2026-07-08T15:00")),
    ]
    assert facts[0].staff_id == "s-wang" and facts[0].applicant_id == "APP-1"


# ---- the worker ------------------------------------------------------------------------------------------


def _proc() -> CaseProcessor:
    return CaseProcessor(ctx=CTX, clock="event", ticks_topic="ticks", facts_topic="facts")


def _events(proc: CaseProcessor, events: list[CaseEvent], partition: int, offset: int = 0) -> list[Any]:
    msgs = [
        Message("events", partition, offset + i, e.case_id.encode(), event_to_json(e).encode())
        for i, e in enumerate(events)
    ]
    return proc.handle(msgs).outputs


def _facts(outputs: list[Any], partition: int, offset: int = 0) -> list[Message]:
    return [
        Message("facts", partition, offset + i, k, v)
        for i, (name, k, v) in enumerate(o for o in outputs if o[0] == "facts")
    ]


def test_the_worker_sends_facts_from_the_case_partitions_and_pairs_them_on_the_key_partition() -> None:
    proc = _proc()
    out_a = _events(proc, withdrawn(), partition=0)
    out_b = _events(proc, reapplied("2026-07-10T10:00"), partition=1)
    facts = _facts(out_b, 2) + _facts(out_a, 2, offset=1)  # the application arrives before the withdrawal
    assert [Fact.from_json(m.value).kind for m in facts] == ["apply", "apply", "withdraw"]  # type: ignore[arg-type]
    assert all(m.key == fact_key("APP-1", "ITEM") for m in facts)
    result = proc.handle(facts)
    found = [Finding.model_validate_json(v) for name, _, v in result.outputs if name == "findings"]
    assert [(f.rule, f.case_id) for f in found] == [(RULE, "B")]
    assert found[0].chain is not None and found[0].chain.partition == 2  # sealed in the key partition's chain
    row = APPLICANT_PREFIX + fact_key("APP-1", "ITEM")
    assert row in result.parts[2].rows and row in proc.store.partition(2).rows
    assert result.parts[2].offsets == {"facts": 3}  # committed with the row, in partition 2's transaction
    # The same facts again (a replay): nothing new.
    again = proc.handle([m._replace(offset=m.offset + 10) for m in facts])
    assert not [o for o in again.outputs if o[0] == "findings"]


def test_an_applicant_row_is_recovered_and_never_taken_for_a_case() -> None:
    proc = _proc()
    facts = _facts(_events(proc, withdrawn(), 0), 3)
    proc.handle(facts)
    rows = proc.store.partition(3).rows
    fresh = _proc()
    records = [R(key=k, value=v, offset=i) for i, (k, v) in enumerate(rows.items())]
    assert load(fresh, 3, "cl", records) == []  # nothing quarantined
    rebuild_index(fresh, 3)  # would raise on an applicant row read as a case
    assert fresh.store.partition(3).rows == rows
    out = fresh.handle(_facts(_events(fresh, reapplied("2026-07-10T10:00"), 1), 3, offset=5))
    assert [Finding.model_validate_json(v).rule for n, _, v in out.outputs if n == "findings"] == [RULE]
    broken = [R(key=APPLICANT_PREFIX + b"x", value=b"{}", offset=0)]
    assert load(_proc(), 4, "cl", broken)[0][0] == "dead_letters"  # quarantined, not loaded


def test_an_unreadable_or_misrouted_fact_is_a_dead_letter() -> None:
    proc = _proc()
    (m,) = _facts(_events(proc, withdrawn()[:1], 0), 1)
    bad = proc.handle([Message("facts", 1, 5, m.key, b"{not json")]).outputs
    assert bad[0][0] == "dead_letters" and "<fact>" in DeadLetter.model_validate_json(bad[0][2]).reason
    wrong = proc.handle([m._replace(key=b"1:x1:y", offset=6)]).outputs
    assert wrong[0][0] == "dead_letters" and "not the encoding" in DeadLetter.model_validate_json(wrong[0][2]).reason


def test_no_facts_leave_a_worker_without_a_facts_topic() -> None:
    proc = CaseProcessor(ctx=CTX, clock="event", ticks_topic="ticks")
    assert not [o for o in _events(proc, withdrawn(), 0) if o[0] == "facts"]


def test_facts_do_not_move_the_event_clock() -> None:
    proc = _proc()
    facts = _facts(_events(proc, withdrawn(), 0), 2)
    proc.handle([m._replace(value=Fact.from_json(m.value).to_json()) for m in facts])  # type: ignore[arg-type]
    assert 2 not in proc.watermarks
    assert proc.watermarks[0] == at("2026-07-08T15:00") - timedelta(0)


def test_esup_evaluate_jobs_finds_the_pair_across_jobs_byte_for_byte() -> None:
    import json
    import zlib

    from click.testing import CliRunner

    from esup.cli import main

    root = Path(__file__).resolve().parents[2]
    args = [
        str(root / "examples/triggers.jsonl"),
        "--catalog",
        str(root / "examples/catalog.yaml"),
        "--at",
        "2026-12-31T00:00:00+08:00",
    ]
    assert zlib.crc32(b"DZ2026-0111") % 3 != zlib.crc32(b"DZ2026-0112") % 3  # the two cases in different jobs
    one = CliRunner().invoke(main, ["evaluate", *args]).stdout
    three = CliRunner().invoke(main, ["evaluate", *args, "--jobs", "3"]).stdout
    assert three == one
    assert [json.loads(x)["case_id"] for x in one.splitlines() if RULE in x] == ["DZ2026-0112"]


# ---- under configurations adopted from moments -------------------------------------------------------------


def _scheduled(window_before: int, window_after: str) -> tuple[Any, Any]:
    from streams.configs import Contexts
    from streams.rules.schedule import adoption_key, encode_adoption, parse_adoption

    moment = at("2026-03-10T00:00")
    contexts = Contexts(context(reapply_window_wd=window_before))
    content = f"rules:\n  reapply_window_wd: {window_after}\n".encode()
    contexts.adopt(parse_adoption(adoption_key("rules", moment), encode_adoption("rules", content, "x", moment, "a")))
    return contexts, contexts.at(moment)


def test_a_pair_straddling_an_adoption_is_judged_at_its_own_moment_whichever_fact_arrives_first(tmp_path: Path) -> None:
    """Withdrawn on Monday 9 March under the start file, applied again on Friday 13 March (4 working days later)
    under the rules adopted from 10 March. The pair's moment is the application's (the finding's detected_at):
    its window is the adopted one, whether the withdrawal's fact or the application's reaches the key's
    partition last (their cases sit on other partitions, so either may), as the reference under the schedule."""
    from streams.rules import evaluate

    events = withdrawn(applied="2026-03-02T09:00", gone="2026-03-09T15:00") + reapplied("2026-03-13T10:00")
    for before, after, expected in ((10, "2", 0), (2, "10", 1)):
        contexts, new = _scheduled(before, after)
        got = []
        for withdraw_first in (True, False):
            proc = CaseProcessor(
                ctx=contexts.base, clock="event", ticks_topic="ticks", facts_topic="facts", contexts=contexts
            )
            out_a, out_b = _events(proc, events[:3], 0), _events(proc, events[3:], 1)
            case_a, case_b = _facts(out_a, 2), _facts(out_b, 2)
            facts = [m._replace(offset=i) for i, m in enumerate(case_a + case_b if withdraw_first else case_b + case_a)]
            kinds = [Fact.from_json(m.value or b"").kind for m in facts]
            assert kinds == (["apply", "withdraw", "apply"] if withdraw_first else ["apply", "apply", "withdraw"])
            found = [Finding.model_validate_json(v) for n, _, v in proc.handle(facts).outputs if n == "findings"]
            got.append([f.model_dump(exclude={"chain"}) for f in found if f.rule == RULE])
        reference = [
            f for f in evaluate(events, contexts.base, at("2026-03-13T10:00"), contexts).findings if f.rule == RULE
        ]
        assert got[0] == got[1] == [f.model_dump(exclude={"chain"}) for f in reference]
        assert len(reference) == expected
        assert all(f.config_version == new.version != contexts.base.version for f in reference)
        # `esup evaluate --schedule --jobs 2`: the pair spans jobs, judged where their facts meet.
        path = tmp_path / "events.jsonl"
        path.write_text("".join(event_to_json(e) + "\n" for e in events), encoding="utf-8")
        jobs = replay(path, contexts.base, at("2026-03-13T10:00"), 2, timeline=contexts)
        assert [x for x in (Finding.model_validate_json(line) for line in jobs.lines) if x.rule == RULE] == reference
