"""Adopted configurations (issue 18 part 2): the schedule's choice at a moment, the configuration version every
finding carries, records refused naming the field, and a worker that switches at the adopted moment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.config import RuleConfig
from schemas.events import event_to_json
from streams.batch import Message
from streams.configs import Contexts
from streams.processor import CaseProcessor
from streams.rules import Context, WorkCalendar
from streams.rules.schedule import (
    JUST_BEFORE,
    AdoptionError,
    Schedule,
    adoption_key,
    config_version,
    encode_adoption,
    parse_adoption,
)
from tests.support import at, calendar, context, event, run

M = at("2026-03-10T00:00")  # the adopted moment
STRICT = b"rules:\n  notice_share: 0.5\n  follow_up_wd: 3\n"


def _adoption(content: bytes = STRICT, moment: datetime = M, kind: str = "rules", label: str = "strict") -> Any:
    return parse_adoption(adoption_key(kind, moment), encode_adoption(kind, content, label, moment, "audit-1"))


# ---- the schedule -----------------------------------------------------------------------------------------


def test_the_configuration_in_effect_switches_exactly_at_the_moment() -> None:
    a = _adoption()
    later = _adoption(b"rules:\n  notice_share: 0.6\n", M + timedelta(days=30))
    s = Schedule().adopt(later).adopt(a)  # in any order
    assert s.in_effect("rules", M - JUST_BEFORE) is None  # the start file
    assert s.in_effect("rules", M) == a
    assert s.in_effect("rules", M + JUST_BEFORE) == a
    assert s.in_effect("rules", M + timedelta(days=30)) == later
    assert s.in_effect("calendar", M + timedelta(days=99)) is None  # another kind is not touched
    assert s.boundaries() == [M, M + timedelta(days=30)]
    # The same kind and moment adopted again: replaced, not added.
    again = _adoption(b"rules:\n  notice_share: 0.55\n")
    assert s.adopt(again).in_effect("rules", M) == again and len(s.adopt(again)) == 2


def test_contexts_are_built_once_per_combination_and_capped_at_boundaries() -> None:
    contexts = Contexts(context())
    contexts.adopt(_adoption())
    first = contexts.at(M + timedelta(days=1))
    assert contexts.at(M + timedelta(days=5)) is first  # one context, its memo reused
    assert contexts.at(M - JUST_BEFORE) is contexts.base
    assert first.config.notice_share == 0.5
    # A due moment past the next boundary is brought forward to it; one before it, or none, is kept.
    assert contexts.cap(M + timedelta(days=3), M - timedelta(days=1)) == M
    assert contexts.cap(M - timedelta(hours=1), M - timedelta(days=1)) == M - timedelta(hours=1)
    assert contexts.cap(None, M - timedelta(days=1)) is None
    assert contexts.cap(M + timedelta(days=3), M) == M + timedelta(days=3)


# ---- the configuration version ----------------------------------------------------------------------------


def test_config_version_is_stable_and_tells_configurations_apart() -> None:
    base = config_version(calendar(), RuleConfig())
    assert base == config_version(WorkCalendar(), RuleConfig()) and base.startswith("cv1-") and len(base) == 20
    assert config_version(calendar(), RuleConfig(notice_share=0.5)) != base
    assert config_version(calendar(), RuleConfig(severity_overrides={"TIME_DECISION_NOTICE": "yellow"})) != base
    other = _adoption(b"version: gov\nyears:\n  2026:\n    holidays: [2026-03-09]\n", kind="calendar").value
    assert config_version(other, RuleConfig()) != base
    # The thresholds as validated count, not the file's spelling.
    spelled = _adoption(b"# a comment\nrules: {follow_up_wd: 3, notice_share: 0.50}\n").value
    assert config_version(calendar(), spelled) == config_version(calendar(), _adoption().value)
    # Every finding carries its context's version.
    found = run(
        [event("apply", "2026-03-02T09:00"), event("accept", "2026-03-03T09:00")], context(), "2026-05-30T00:00"
    )
    assert found and {f.config_version for f in found} == {context().version}


# ---- records refused, naming the field --------------------------------------------------------------------


def _record(**change: Any) -> tuple[bytes, bytes]:
    value = json.loads(encode_adoption("rules", STRICT, "strict", M, "audit-1"))
    value.update(change)
    for k in [k for k, v in change.items() if v is _DROP]:
        del value[k]
    return adoption_key("rules", M), json.dumps(value).encode()


_DROP = object()


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        (b"rules@x", None, "<record>"),  # a tombstone
        (b"rules@x", b"\xff\xfe not json", "<record>"),
        (b"rules@x", b"[1, 2]", "<record>"),
        (b"rules@x", b"{" * 100_000, "<record>"),  # deeply nested
        (b"rules@x", b" " * (9 << 20), "<record>"),  # huge
        (*_record(kind=7), "kind"),
        (*_record(kind="scoring"), "kind"),
        (*_record(content=["x"]), "content"),
        (*_record(content="rules:\n  notice_share: 2\n", version=None), "version"),
        (*_record(effective_from="2026-03-10T00:00:00"), "effective_from"),  # no offset
        (*_record(effective_from="next monday"), "effective_from"),
        (*_record(audit_id=""), "audit_id"),
        (*_record(audit_id=_DROP), "audit_id"),
        (*_record(surprise=1), "surprise"),
        (*_record(label="x" * 500), "label"),
        (b"calendar@2026-03-09T16:00:00+00:00", _record()[1], "<key>"),
    ],
)
def test_a_bad_record_is_refused_naming_the_field(key: bytes, value: bytes | None, field: str) -> None:
    with pytest.raises(AdoptionError) as caught:
        parse_adoption(key, value)
    assert caught.value.field == field and caught.value.reason.startswith(f"{field}: ")


def test_a_moment_outside_the_calendar_or_content_that_does_not_load_is_refused() -> None:
    for moment in (datetime(1999, 1, 1, tzinfo=UTC), datetime(2050, 1, 1, tzinfo=UTC)):
        key = adoption_key("rules", moment)
        with pytest.raises(AdoptionError, match=r"effective_from: .*outside the calendar range"):
            parse_adoption(key, encode_adoption("rules", STRICT, "", moment, "a"))
    bad = {
        b"rules:\n  notice_share: 2\n": "notice_share",
        b"rules: [1, 2]\n": "content",
        b"a: &a [*a]\n": "content",
        b"years:\n  2026:\n    holidays: [not-a-date]\n": "years.2026.holidays",
    }
    for content, named in bad.items():
        kind = "calendar" if b"years" in content else "rules"
        with pytest.raises(AdoptionError) as caught:
            parse_adoption(adoption_key(kind, M), encode_adoption(kind, content, "", M, "a"))
        assert caught.value.field == "content" and named in caught.value.reason, caught.value.reason


# ---- a worker switches at the moment ----------------------------------------------------------------------


def _events() -> list[Any]:
    return [
        # before M entirely: judged by the start file only
        event("apply", "2026-02-02T09:00", case="OLD", event_id="OLD-apply"),
        event("accept", "2026-02-03T09:00", case="OLD", event_id="OLD-accept"),
        # straddling: applied before M, its notice and red card fall after it
        event("apply", "2026-03-02T09:00", case="MID", event_id="MID-apply"),
        event("accept", "2026-03-03T09:00", case="MID", event_id="MID-accept"),
        # after M entirely
        event("apply", "2026-03-16T09:00", case="NEW", event_id="NEW-apply"),
        event("accept", "2026-03-17T09:00", case="NEW", event_id="NEW-accept"),
        # a later event on the partition: the event clock passes the straddling case's new notice (18 Mar)
        event("apply", "2026-03-20T09:00", case="PROBE", event_id="PROBE-apply"),
    ]


def _found(outputs: list[Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for name, _, value in outputs:
        if name == "findings":
            f = json.loads(value)
            f.pop("chain")
            found[f["finding_id"]] = f
    return found


def _judge(proc: CaseProcessor, until: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The findings the processor publishes for the events (event clock, one message at a time), and those
    published by the final tick."""
    events = sorted(_events(), key=lambda e: e.occurred_at)
    outputs = []
    for offset, e in enumerate(events):
        outputs += proc.handle([Message("events", 0, offset, e.case_id.encode(), event_to_json(e).encode())]).outputs
    tick = proc.handle([Message("ticks", 0, 0, None, proc.tick_bytes(0, at(until)))]).outputs
    return _found(outputs), _found(tick)


def _moment(f: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(f["detected_at"])


def _unbounded(ctx: Context) -> Context:
    """The same configuration as if in effect from the beginning (no adopted moment to date findings from)."""
    return Context.build(ctx.calendar, ctx.catalog, ctx.config)


def test_a_worker_judges_before_the_moment_with_the_old_configuration_and_after_it_with_the_new() -> None:
    base = context()
    contexts = Contexts(base)
    proc = CaseProcessor(ctx=base, clock="event", ticks_topic="ticks", contexts=contexts)
    contexts.adopt(_adoption())
    new = contexts.at(M)
    by_events, by_tick = _judge(proc, "2026-06-30T00:00")
    got = {**by_events, **by_tick}
    old = {f.finding_id: f for f in run(_events(), base, "2026-06-30T00:00") if f.detected_at < M}
    # The new rules judged alone (from the beginning): what they raise from M on is what the worker raises.
    after = {f.finding_id: f for f in run(_events(), _unbounded(new), "2026-06-30T00:00") if f.detected_at >= M}
    assert got == {k: json.loads(f.model_dump_json(exclude={"chain"})) for k, f in {**old, **after}.items()}
    assert {f["config_version"] for f in got.values() if _moment(f) < M} == {base.version}
    assert {f["config_version"] for f in got.values() if _moment(f) >= M} == {new.version} != {base.version}
    assert {f["case_id"] for f in got.values() if _moment(f) < M} >= {"OLD"}
    # The two configurations do differ on these cases (else the test would prove nothing).
    # On time: the straddling case's notice under the new rules (18 Mar, indexed at the moment, not at its old
    # 25 Mar) is out once the event clock passes 18 Mar, before the final tick.
    assert [f["detected_at"] for f in by_events.values() if f["case_id"] == "MID" and "NOTICE" in f["rule"]] == [
        at("2026-03-18T00:00").isoformat()
    ]
    unswitched = {f.finding_id: f.detected_at for f in run(_events(), base, "2026-06-30T00:00") if f.detected_at >= M}
    assert {k: f.detected_at for k, f in after.items()} != unswitched


def test_an_adoption_received_while_cases_are_pending_wakes_them_at_its_moment() -> None:
    """Adopted after the worker indexed the straddling case's timers under the start file: they move."""
    base = context()
    contexts = Contexts(base)
    proc = CaseProcessor(ctx=base, clock="event", ticks_topic="ticks", contexts=contexts)
    early = [e for e in sorted(_events(), key=lambda e: e.occurred_at) if e.occurred_at < M]
    outputs = []
    for offset, e in enumerate(early):
        outputs += proc.handle([Message("events", 0, offset, e.case_id.encode(), event_to_json(e).encode())]).outputs
    assert "MID" not in proc.index.due_by(0, M) and proc.index.pending(0) == 2  # MID's notice, indexed after M
    basis = proc.basis
    contexts.adopt(_adoption())
    assert proc.basis != basis and proc.env.basis == proc.basis  # rows are written on the new schedule
    assert "MID" in proc.index.due_by(0, M)  # woken at the moment, to be judged again under the new rules
    tick = proc.handle([Message("ticks", 0, 0, None, proc.tick_bytes(0, at("2026-06-30T00:00")))]).outputs
    notices = [json.loads(v) for n, _, v in tick if n == "findings" and b"MID" in v and b"NOTICE" in v]
    new = contexts.at(M)
    expected = [f for f in run(_events(), new, "2026-06-30T00:00") if f.case_id == "MID" and "NOTICE" in f.rule]
    assert [n["detected_at"] for n in notices] == [f.detected_at.isoformat() for f in expected]
    assert [n["config_version"] for n in notices] == [new.version]


def test_a_case_whose_next_event_comes_after_the_moment_first_fires_its_earlier_timers_under_the_old_rules() -> None:
    """Alone on its partition, the case's event clock jumps from February to 20 March with its own event: the
    notice due on 7 March fires under the start file, what falls after the moment under the adopted rules."""
    base = context()
    contexts = Contexts(base)
    proc = CaseProcessor(ctx=base, clock="event", ticks_topic="ticks", contexts=contexts)
    contexts.adopt(_adoption())
    events = [
        event("apply", "2026-02-09T09:00", case="X", event_id="X-apply"),
        event("accept", "2026-02-09T10:00", case="X", event_id="X-accept"),
        event("fee_charged", "2026-03-20T09:00", case="X", event_id="X-fee", fee_code="F", amount_fen=5),
    ]
    outputs = []
    for offset, e in enumerate(events):
        outputs += proc.handle([Message("events", 1, offset, b"X", event_to_json(e).encode())]).outputs
    got = _found(outputs)
    until = "2026-03-20T09:00"
    old = {f.finding_id: f for f in run(events, base, until) if f.detected_at < M}
    after = {f.finding_id: f for f in run(events, _unbounded(contexts.at(M)), until) if f.detected_at >= M}
    assert got == {k: json.loads(f.model_dump_json(exclude={"chain"})) for k, f in {**old, **after}.items()}
    assert [f["rule"] for f in got.values() if _moment(f) < M] == ["TIME_DECISION_NOTICE"]
    assert "TIME_DECISION_RED" in {f["rule"] for f in got.values()}  # 3 working days after the breach: new rules


# ---- the reference evaluation and `esup evaluate --schedule` -----------------------------------------------


def test_the_reference_evaluation_under_a_schedule_equals_what_the_worker_publishes() -> None:
    from streams.rules import evaluate

    base = context()
    contexts = Contexts(base)
    contexts.adopt(_adoption())
    by_events, by_tick = _judge(CaseProcessor(ctx=base, clock="event", ticks_topic="ticks", contexts=contexts), UNTIL)
    reference = evaluate(_events(), base, at(UNTIL), contexts).findings
    assert {f.finding_id: json.loads(f.model_dump_json(exclude={"chain"})) for f in reference} == {
        **by_events,
        **by_tick,
    }
    assert {f.finding_id: f.detected_at for f in reference} != {
        f.finding_id: f.detected_at for f in evaluate(_events(), base, at(UNTIL)).findings
    }


UNTIL = "2026-06-30T00:00"


def test_esup_evaluate_takes_the_schedule_with_any_number_of_jobs(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from esup.cli import main

    events = tmp_path / "events.jsonl"
    events.write_text("".join(event_to_json(e) + "\n" for e in _events()), encoding="utf-8")
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("items:\n  - {code: ITEM, name: 测试事项, department_id: D1}\n", encoding="utf-8")
    (tmp_path / "strict.yaml").write_bytes(STRICT)
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(f"- {{kind: rules, file: strict.yaml, from: '{M.isoformat()}'}}\n", encoding="utf-8")
    args = ["evaluate", str(events), "--catalog", str(catalog), "--at", at(UNTIL).isoformat()]
    runner = CliRunner()
    one = runner.invoke(main, [*args, "--schedule", str(schedule)])
    two = runner.invoke(main, [*args, "--schedule", str(schedule), "--jobs", "2"])
    plain = runner.invoke(main, args)
    assert one.exit_code == two.exit_code == plain.exit_code == 0, one.output + two.output
    lines = [json.loads(x) for x in one.stdout.splitlines()]
    assert lines == [json.loads(x) for x in two.stdout.splitlines()]
    assert len({f["config_version"] for f in lines}) == 2
    assert {f["config_version"] for f in (json.loads(x) for x in plain.stdout.splitlines())} == {context().version}
    # A bad entry is refused, naming it and its field.
    schedule.write_text("- {kind: rules, file: strict.yaml, from: '2050-01-01T00:00:00+08:00'}\n", encoding="utf-8")
    bad = runner.invoke(main, [*args, "--schedule", str(schedule)])
    assert bad.exit_code == 1 and "[0].effective_from:" in bad.output, bad.output


def test_an_adopted_calendar_moves_a_deadline_from_its_moment() -> None:
    """A holiday added from M (20 and 23 March) moves the new case's deadlines; the old case keeps the calendar
    it was judged under before M. The worker equals the reference evaluation under the same schedule."""
    from streams.rules import evaluate

    base = context()
    contexts = Contexts(base)
    holidays = b"version: extra-holidays\nyears:\n  2026:\n    holidays: [2026-03-20, 2026-03-23]\n"
    contexts.adopt(_adoption(holidays, kind="calendar"))
    new = contexts.at(M)
    assert new.calendar.version.endswith(":extra-holidays") and new.config == base.config
    by_events, by_tick = _judge(CaseProcessor(ctx=base, clock="event", ticks_topic="ticks", contexts=contexts), UNTIL)
    got = {**by_events, **by_tick}
    reference = evaluate(_events(), base, at(UNTIL), contexts).findings
    assert got == {f.finding_id: json.loads(f.model_dump_json(exclude={"chain"})) for f in reference}
    plain = {f.finding_id: f.detected_at.isoformat() for f in evaluate(_events(), base, at(UNTIL)).findings}
    moved = {k for k, f in got.items() if f["detected_at"] != plain[k]}
    assert moved and all(got[k]["config_version"] == new.version for k in moved)
    assert {f["calendar_version"] for f in got.values() if _moment(f) < M} == {base.calendar.version}


def test_recovery_reuses_stored_due_moments_only_under_the_same_schedule() -> None:
    from streams.recovery import rebuild_index

    def worker(adopt: bool) -> CaseProcessor:
        contexts = Contexts(context())
        if adopt:
            contexts.adopt(_adoption())
        return CaseProcessor(ctx=contexts.base, clock="event", ticks_topic="ticks", contexts=contexts)

    proc = worker(True)
    for offset, kind in enumerate(("apply", "accept")):
        e = event(kind, f"2026-03-02T{9 + offset:02d}:00", case="A", event_id=f"A-{kind}")
        proc.handle([Message("events", 0, offset, b"A", event_to_json(e).encode())])
    assert proc.index.due_by(0, M) == ["A"]  # its notice (25 March under the start file), capped at the moment
    same, without = worker(True), worker(False)
    for fresh in (same, without):
        fresh.store.partition(0).rows.update(proc.store.partition(0).rows)
        fresh.store.partition(0).watermark = proc.store.partition(0).watermark
        rebuild_index(fresh, 0)
    assert same.basis == proc.basis and same.index.due_by(0, M) == ["A"]
    # Without the adoption the stored moment is not trusted: computed again under the start file alone.
    assert without.basis != proc.basis and without.index.due_by(0, M) == []


# ---- a stored due moment that cannot be trusted: computed again from the case's own moment -----------------

LAX = b"rules:\n  notice_share: 0.8\n"  # adopted from M: a later notice than the start file's (0.3) below


def _down_across_the_moment() -> tuple[list[Any], CaseProcessor, Contexts, dict[str, datetime]]:
    """A case judged on 26 February under the start file (its notice due 6 March) by a worker that then stops;
    the rules adopted from M meanwhile; a wall-clock worker takes the partition over on 12 March."""
    base = context(notice_share=0.3)
    events = [
        event("apply", "2026-02-26T09:00", case="A", event_id="A-apply"),
        event("accept", "2026-02-26T10:00", case="A", event_id="A-accept"),
    ]
    now = {"t": at("2026-02-26T11:00")}
    old = CaseProcessor(ctx=base, clock="wall", ticks_topic="ticks", wall_clock=lambda: now["t"])
    for offset, e in enumerate(events):
        old.handle([Message("events", 0, offset, b"A", event_to_json(e).encode())])
    assert old.index.dues(0)["A"] < M  # the notice under the start file, before the moment
    contexts = Contexts(base)
    contexts.adopt(_adoption(LAX))
    now["t"] = at("2026-03-12T09:00")
    new = CaseProcessor(ctx=base, clock="wall", ticks_topic="ticks", wall_clock=lambda: now["t"], contexts=contexts)
    new.store.partition(0).rows.update(old.store.partition(0).rows)
    return events, new, contexts, now


def test_a_take_over_after_the_moment_keeps_a_timer_due_before_it_under_the_old_rules() -> None:
    """Recovery computes the untrusted due moment under the configuration at the case's last event (capped at
    the next boundary), not at the take-over's "now": the 6 March notice fires under the start file, as
    `evaluate --schedule` gives, and then the case crosses the moment."""
    from streams.recovery import rebuild_index
    from streams.rules import evaluate

    events, new, contexts, now = _down_across_the_moment()
    rebuild_index(new, 0)
    assert new.index.dues(0)["A"] < M
    got = _found(new.handle([Message("ticks", 0, 0, None, new.tick_bytes(0, now["t"]))]).outputs)
    reference = evaluate(events, contexts.base, now["t"], contexts).findings
    assert got == {f.finding_id: json.loads(f.model_dump_json(exclude={"chain"})) for f in reference}
    notices = [f for f in reference if "NOTICE" in f.rule]
    assert [f.config_version for f in notices] == [contexts.base.version] and notices[0].detected_at < M


def test_a_failed_batch_after_a_take_over_does_not_lose_a_timer_due_before_the_moment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch that fails (`Work.abandon`) puts its cases back in the index: a row written on another schedule
    has its due moment computed again from the case's own moment too, not from now's configuration."""
    import streams.batch
    from streams.recovery import rebuild_index
    from streams.rules import evaluate

    events, new, contexts, now = _down_across_the_moment()
    rebuild_index(new, 0)

    def broken(*_: Any) -> Any:
        raise RuntimeError("a rules defect")

    with monkeypatch.context() as patch:
        patch.setattr(streams.batch, "step", broken)
        late = event("fee_charged", "2026-03-12T08:00", case="A", event_id="A-fee", fee_code="F", amount_fen=5)
        out = new.handle([Message("events", 0, 2, b"A", event_to_json(late).encode())]).outputs
    assert [name for name, _, _ in out] == ["dead_letters"]
    assert new.index.dues(0)["A"] < M  # still due before the moment
    got = _found(new.handle([Message("ticks", 0, 0, None, new.tick_bytes(0, now["t"]))]).outputs)
    reference = evaluate(events, contexts.base, now["t"], contexts).findings
    assert got == {f.finding_id: json.loads(f.model_dump_json(exclude={"chain"})) for f in reference}


@pytest.mark.parametrize("during", ["read", "committed"])
def test_an_adoption_arriving_while_a_partition_is_taken_over_wakes_its_cases(
    monkeypatch: pytest.MonkeyPatch, during: str
) -> None:
    """The schedule is complete when the take-over starts reading, and an adoption arrives while the changelog
    is read or, after the rows were checked against the basis, while the group's offsets are read (the partition
    is not in the index yet, so nothing wakes its cases then): once the index is built, the stored due moments
    read on the old basis are not trusted and the case wakes at M."""
    import asyncio
    from types import SimpleNamespace

    import streams.ownership
    from streams.batch import PartitionResult
    from streams.ownership import Ownership

    base = context()
    writer = CaseProcessor(ctx=base, clock="event", ticks_topic="ticks")
    records: list[Any] = []
    for offset, kind in enumerate(("apply", "accept")):
        e = event(kind, f"2026-03-02T{9 + offset:02d}:00", case="A", event_id=f"A-{kind}")
        for part in writer.handle([Message("events", 0, offset, b"A", event_to_json(e).encode())]).parts.values():
            records += [SimpleNamespace(key=k, value=v, offset=len(records)) for k, v in part.rows.items()]
    assert writer.index.dues(0)["A"] > M  # its notice under the start file (25 March)

    contexts = Contexts(base)
    proc = CaseProcessor(ctx=base, clock="event", ticks_topic="ticks", contexts=contexts)

    class Reader:  # the changelog as read: the configuration feed delivers an adoption meanwhile
        def __init__(self, *_: Any) -> None:
            pass

        async def __aenter__(self) -> Reader:
            return self

        async def __aexit__(self, *_: object) -> None:
            pass

        async def end(self) -> int:
            return len(records)

        async def read(self, end: int) -> list[Any]:
            if during == "read":
                contexts.adopt(_adoption())
            return records[:end]

    class Fence:
        def __init__(self) -> None:
            self.changelog_topic = "g-cases-changelog"
            self.ends: dict[int, int] = {}

        async def acquire(self, p: int) -> None:
            pass

        async def commit(self, p: int, result: PartitionResult) -> None:
            pass

    def committed() -> dict[tuple[str, int], int]:  # after the rows were read and checked
        if during == "committed":
            contexts.adopt(_adoption())
        return {}

    monkeypatch.setattr(streams.ownership, "ChangelogReader", Reader)
    owner = Ownership(
        proc,
        Fence(),  # type: ignore[arg-type]
        bootstrap="127.0.0.1:1",
        input_topics=("events",),
        committed=committed,
        ensure_changelog=lambda: None,
    )

    async def take_over() -> None:
        await owner.assigned({0})
        await owner.tasks[0]

    asyncio.run(take_over())
    assert len(contexts.schedule) == 1 and proc.store.partition(0).rows.keys() >= {b"A"}
    assert proc.index.dues(0)["A"] <= M  # woken by the moment, to be judged again under the adopted rules


def test_a_live_worker_refuses_an_adoption_dated_before_the_broker_received_it() -> None:
    """Wall-clock workers compare the moment with the record's broker timestamp (the topic stamps receipt, plus
    the worker's clock offset); event-clock workers replay history and take it."""
    from streams.config_feed import ConfigFeed
    from streams.configs import Contexts

    key, value = adoption_key("rules", M), encode_adoption("rules", STRICT, "strict", M, "audit-1")
    before, after = int((M - timedelta(hours=1)).timestamp() * 1000), int((M + timedelta(hours=1)).timestamp() * 1000)
    live = ConfigFeed("127.0.0.1:1", "t.config", Contexts(context()), published_offset=timedelta(0))
    assert not live.apply(key, value, after) and live.rejected[key.decode()].startswith("effective_from:")
    assert not live.apply(key, value, None) and live.rejected[key.decode()].startswith("timestamp:")
    assert live.apply(key, value, before) and live.adopted == 1
    shifted = ConfigFeed("127.0.0.1:1", "t.config", Contexts(context()), published_offset=timedelta(hours=-2))
    assert shifted.apply(key, value, after)  # the worker's clock runs two hours behind the broker's
    replay = ConfigFeed("127.0.0.1:1", "t.config", Contexts(context()))
    assert replay.apply(key, value, after) and replay.adopted == 1


def test_an_adoption_dates_no_finding_before_its_moment() -> None:
    """Start file: no notice (share 0.99); 0.3 adopted from M = 10 Mar for a case accepted 24 Feb, whose notice
    the new share puts on 4 Mar. Nothing before M was judged under the adopted rules: the notice is raised at M,
    with the adopted version and its own date in details — by the worker and by the reference alike."""
    from schemas.events import event_to_json
    from streams.batch import Message
    from streams.configs import Contexts
    from streams.processor import CaseProcessor
    from streams.rules import evaluate

    base = context(notice_share=0.99)
    contexts = Contexts(base)
    lax = b"rules:\n  notice_share: 0.3\n"
    contexts.adopt(parse_adoption(adoption_key("rules", M), encode_adoption("rules", lax, "x", M, "a")))
    events = [
        event("apply", "2026-02-24T09:00", case="A", event_id="A1"),
        event("accept", "2026-02-24T10:00", case="A", event_id="A2"),
    ]
    proc = CaseProcessor(ctx=base, clock="event", ticks_topic="ticks", contexts=contexts)
    out = []
    for o, e in enumerate(events):
        out += proc.handle([Message("events", 0, o, b"A", event_to_json(e).encode())]).outputs
    out += proc.handle([Message("ticks", 0, 0, None, proc.tick_bytes(0, at("2026-03-12T00:00")))]).outputs
    published = [json.loads(v) for n, _, v in out if n == "findings"]
    notices = [f for f in published if f["rule"] == "TIME_DECISION_NOTICE"]
    assert len(notices) == 1 and datetime.fromisoformat(notices[0]["detected_at"]) == M
    assert notices[0]["config_version"] == contexts.at(M).version != base.version
    assert notices[0]["details"]["due_under_adopted_configuration"].startswith("2026-03-04")
    ref = [f for f in evaluate(events, base, at("2026-03-12T00:00"), contexts).findings]
    assert {(f.rule, f.detected_at, f.config_version) for f in ref} == {
        (f["rule"], datetime.fromisoformat(f["detected_at"]), f["config_version"]) for f in published
    }
    assert all(datetime.fromisoformat(f["detected_at"]) >= M for f in published if f["config_version"] != base.version)
