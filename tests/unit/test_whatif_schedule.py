"""The what-if's schedules: the baseline reads the configuration topic as a worker does, the proposal's schedule
follows the documented semantics, the replay of each side judges every step under the configuration in
effect at its moment (with any number of jobs), and the report names each side's schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from schemas.events import event_to_json
from streams.rules import evaluate
from streams.rules.schedule import adoption_key, encode_adoption, parse_adoption
from tests.support import at, context, event
from whatif import shadow
from whatif.model import UNREPLAYABLE, FindingRow
from whatif.schedule import SideSchedule, from_adoptions, from_records, proposal

M = at("2026-03-10T00:00")
STRICT = b"rules:\n  notice_share: 0.5\n  follow_up_wd: 3\n"
HOLIDAYS = b"version: extra-holidays\nyears:\n  2026:\n    holidays: [2026-03-20, 2026-03-23]\n"
UNTIL = at("2026-06-30T00:00")


def _record(kind: str = "rules", content: bytes = STRICT, moment: datetime = M, audit: str = "a-1") -> Any:
    return adoption_key(kind, moment), encode_adoption(kind, content, "", moment, audit)


def _adoption(kind: str = "rules", content: bytes = STRICT, moment: datetime = M) -> Any:
    return parse_adoption(*_record(kind, content, moment))


def _events() -> list[Any]:
    return [
        event("apply", "2026-02-02T09:00", case="OLD", event_id="OLD-apply"),
        event("accept", "2026-02-03T09:00", case="OLD", event_id="OLD-accept"),
        event("apply", "2026-03-02T09:00", case="MID", event_id="MID-apply"),  # its warnings fall after M
        event("accept", "2026-03-03T09:00", case="MID", event_id="MID-accept"),
        event("apply", "2026-03-16T09:00", case="NEW", event_id="NEW-apply"),
        event("accept", "2026-03-17T09:00", case="NEW", event_id="NEW-accept"),
    ]


# ---- the baseline: the configuration topic as a worker reads it -------------------------------------------


def _feed(records: list[Any]) -> Any:
    """A worker's configuration feed (event clock: no broker-time check) fed the same records."""
    from streams.config_feed import ConfigFeed
    from streams.configs import Contexts

    feed = ConfigFeed("unused:9092", "esup.config", Contexts(context()))
    for key, value, _ in records:
        feed.apply(key, value)
    return feed


def _signature(schedule: Any) -> list[tuple[str, str, str]]:
    every = [a for kind in sorted(schedule.by_kind) for a in schedule.by_kind[kind]]
    ordered = sorted(every, key=lambda a: (a.effective_from, a.kind))
    return [(a.kind, a.effective_from.astimezone(UTC).isoformat(), a.version) for a in ordered]


def test_the_topic_gives_the_schedule_a_worker_has_and_refuses_what_it_refuses_naming_the_field() -> None:
    strict_key, strict = _record()
    stricter = encode_adoption("rules", b"rules:\n  notice_share: 0.4\n", "", M, "a-2")
    records = [
        (strict_key, strict, None),
        (b"rules@x", b"\xff\xfe", None),  # not JSON
        (b"rules@2026-04-01T00:00:00+00:00", b'{"kind": 7}', None),  # a field of the wrong type
        (*_record("calendar", HOLIDAYS, M + timedelta(days=5)), None),
        (strict_key, None, None),  # a tombstone withdraws nothing: the worker keeps what it adopted
        (strict_key, strict, None),  # read again (a reconnect): nothing changes
        (b"rules@x", b"[]", None),  # refused again, for another reason
    ]
    got = from_records(records, "config topic esup.config")
    feed = _feed(records)
    assert [(a.kind, a.effective_from.astimezone(UTC).isoformat(), a.version) for a in got.adoptions] == _signature(
        feed.contexts.schedule
    )
    assert [a.kind for a in got.adoptions] == ["rules", "calendar"]
    assert (
        got.refused
        == feed.rejected
        == {
            "rules@x": "<record>: expected a JSON object, got list",
            "rules@2026-04-01T00:00:00+00:00": "kind: expected a string, got int",
        }
    )
    # A later record of the same kind and moment replaces the earlier one, as in the worker.
    replaced = [*records, (strict_key, stricter, None)]
    assert (
        from_records(replaced, "t").adoptions[0].version
        == _feed(replaced).contexts.schedule.by_kind["rules"][0].version
    )
    assert from_records(replaced, "t").adoptions[0].version != got.adoptions[0].version


def test_an_adoption_dated_before_it_was_published_is_followed_and_named() -> None:
    key, value = _record()
    published = int((M + timedelta(days=1)).timestamp() * 1000)  # made with --allow-past
    got = from_records([(key, value, published)], "t")
    assert len(got.adoptions) == 1 and got.published_after_their_moment == (key.decode(),)
    ahead = int((M - timedelta(days=1)).timestamp() * 1000)
    assert from_records([(key, value, ahead)], "t").published_after_their_moment == ()


def test_for_wall_clock_workers_an_adoption_dated_before_it_was_published_is_refused_as_they_refuse_it() -> None:
    """The default of `esup whatif` (--workers-clock wall): the baseline refuses what a live worker's feed
    refuses (streams/config_feed.py), keeping an earlier good record of the same key; a timestamp out of
    datetime's range is no time, refused, never an exception."""
    from streams.config_feed import ConfigFeed
    from streams.configs import Contexts

    key, value = _record()
    late = int((M + timedelta(days=1)).timestamp() * 1000)
    ahead = int((M - timedelta(days=1)).timestamp() * 1000)
    offset = timedelta(0)
    got = from_records([(key, value, late)], "t", refuse_before_receipt=offset)
    assert got.adoptions == () and "before the record was published" in got.refused[key.decode()]
    # an earlier good record of the key stays; a huge timestamp or none is refused as the worker refuses it
    for bad in (late, 10**18, None):
        kept = from_records([(key, value, ahead), (key, value, bad)], "t", refuse_before_receipt=offset)
        assert len(kept.adoptions) == 1 and set(kept.refused) == {key.decode()}
        feed = ConfigFeed("127.0.0.1:1", "t", Contexts(context()), published_offset=offset)
        assert feed.apply(key, value, ahead) and not feed.apply(key, value, bad)


def test_a_moment_at_the_limits_of_datetime_is_refused_naming_the_field() -> None:
    """9999-12-31 at -14:00 has no UTC time, 0001-01-01 at +14:00 none in Beijing: refused, not raised."""
    from streams.rules.schedule import AdoptionError

    for text in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        record = json.loads(_record()[1])
        record["effective_from"] = text
        with pytest.raises(AdoptionError) as exc:
            parse_adoption(b"rules@x", json.dumps(record).encode())
        assert exc.value.field == "effective_from"
        got = from_records([(b"rules@x", json.dumps(record).encode(), None)], "t")
        assert got.adoptions == () and "rules@x" in got.refused


# ---- the proposal's schedule ------------------------------------------------------------------------------


def test_the_proposal_keeps_the_baseline_adoptions_of_the_kinds_it_does_not_propose() -> None:
    rules, calendar = _adoption(), _adoption("calendar", HOLIDAYS, M + timedelta(days=5))
    base = from_adoptions([calendar, rules], "config topic esup.config")
    assert [a.kind for a in base.adoptions] == ["rules", "calendar"]  # by moment
    # Nothing proposed: the baseline's schedule, so the proposal is the baseline.
    assert proposal(base, []).signature() == base.signature()
    # A proposed rules file is in force for the whole window: the baseline's rules adoption is not applied.
    only_calendar = proposal(base, ["rules", "scoring"])
    assert [a.kind for a in only_calendar.adoptions] == ["calendar"]
    assert "rules adoptions" in only_calendar.source and "whole window" in only_calendar.source
    assert [a.kind for a in proposal(base, ["catalog", "scoring"]).adoptions] == ["rules", "calendar"]
    # Its own schedule: exactly those adoptions.
    own = from_adoptions([_adoption(moment=M + timedelta(days=30))], "file s.yaml sha256:x")
    assert proposal(base, ["rules"], own) is own


def test_the_report_names_each_adoption_with_the_configuration_version_in_effect_from_its_moment() -> None:
    from streams.configs import Contexts

    ctx = context()
    side = from_adoptions([_adoption()], "file s.yaml")
    described = side.describe(ctx)
    contexts = Contexts(ctx)
    contexts.adopt(_adoption())
    assert described["start_config_version"] == ctx.version
    assert [(a["kind"], a["from"], a["config_version"]) for a in described["adoptions"]] == [
        ("rules", M.isoformat(), contexts.at(M).version)
    ]
    assert described["adoptions"][0]["config_version"] != ctx.version
    assert SideSchedule("none").describe(ctx)["adoptions"] == [] and SideSchedule("none").timeline(ctx) is None


# ---- the replay of a side ---------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 3])
def test_a_side_with_a_schedule_replays_as_the_reference_evaluation_under_it(tmp_path: Path, jobs: int) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(event_to_json(e) + "\n" for e in _events()), encoding="utf-8")
    ctx = context()
    side = from_adoptions([_adoption()], "file s.yaml")
    got = shadow.run(path, ctx, UNTIL, jobs, side.timeline(ctx)).findings
    reference = evaluate(_events(), ctx, UNTIL, side.timeline(ctx)).findings
    assert got == sorted(FindingRow.of(f) for f in reference if f.rule not in UNREPLAYABLE)
    assert {f.config_version for f in reference} == {ctx.version, side.describe(ctx)["adoptions"][0]["config_version"]}
    # Without the schedule the same events give other findings (else this test would prove nothing).
    assert shadow.run(path, ctx, UNTIL, jobs).findings != got


# ---- the command's files ----------------------------------------------------------------------------------


def _cli(tmp_path: Path, *extra: str) -> Any:
    from esup.cli import main

    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("items:\n  - {code: ITEM, name: 测试事项, department_id: D1}\n", encoding="utf-8")
    (tmp_path / "strict.yaml").write_bytes(STRICT)
    args = ["whatif", "--base-catalog", str(catalog), "--from", "2026-03-01", "--to", "2026-03-31", *extra]
    return CliRunner().invoke(main, args, env={"ESUP_HOME": str(tmp_path / "home")})


@pytest.mark.parametrize("option", ["--base-schedule", "--schedule"])
@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("{kind: rules, file: strict.yaml, from: '2050-01-01T00:00:00+08:00'}", "[1].effective_from:"),
        ("{kind: scoring, file: strict.yaml, from: '2026-03-10T00:00:00+08:00'}", "[1].kind:"),
        ("{kind: rules, file: strict.yaml, from: '2026-03-10T00:00:00'}", "[1]: "),
        ("{kind: rules, file: missing.yaml, from: '2026-03-10T00:00:00+08:00'}", "[1]: "),
        ("{kind: rules, file: strict.yaml}", "[1]: expected exactly kind, file and from"),
    ],
)
def test_a_bad_schedule_entry_is_refused_naming_the_entry_and_field(
    tmp_path: Path, option: str, entry: str, says: str
) -> None:
    schedule = tmp_path / "schedule.yaml"
    good = "{kind: rules, file: strict.yaml, from: '2026-03-10T00:00:00+08:00'}"
    schedule.write_text(f"- {good}\n- {entry}\n", encoding="utf-8")
    res = _cli(tmp_path, option, str(schedule))
    assert res.exit_code == 1, res.output
    assert f"{schedule}: {says}" in res.output, res.output


def test_a_base_schedule_and_no_base_schedule_exclude_each_other(tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("[]\n", encoding="utf-8")
    res = _cli(tmp_path, "--base-schedule", str(schedule), "--no-base-schedule")
    assert res.exit_code == 2 and "exclude each other" in res.output, res.output


def test_the_report_shows_each_sides_schedule_on_the_terminal_and_the_page() -> None:
    import io

    from rich.console import Console

    from tests.unit.test_whatif_report import sample_report
    from whatif.render import html, terminal

    ctx = context()
    report: dict[str, Any] = sample_report()
    base = from_records([(*_record(), None), (b"rules@x", b"\xff", None)], "config topic esup.config")
    report["schedule"] = {"baseline": base.describe(ctx), "scenario": proposal(base, ["rules"]).describe(ctx)}
    version = base.describe(ctx)["adoptions"][0]["config_version"]
    page = html(report)
    out = io.StringIO()
    terminal(report, Console(file=out, width=240))
    for text in (page, out.getvalue()):
        assert "Adopted configurations" in text and "config topic esup.config" in text
        assert M.isoformat() in text and version in text and ctx.version in text
        assert "&lt;record&gt;: not UTF-8 JSON" in text if text is page else "<record>: not UTF-8 JSON" in text
    assert json.loads(json.dumps(report)) == report  # plain JSON
