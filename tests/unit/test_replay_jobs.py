"""`esup evaluate --jobs N` splits the cases over processes and prints exactly what `--jobs 1` prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from esup.cli import main
from streams.replay import job_of

HOSTILE = [
    b"{oops",
    b"\xff\xfe not UTF-8",
    b'{"case_id": "SIM-X", "case_id": "SIM-Y"}',  # a duplicate key: refused by the strict parser
    b'{"case_id": 1}',
    b"[]",
]


def _evaluate(*args: str) -> tuple[int, list[str], str]:
    res = CliRunner().invoke(main, ["evaluate", *args])
    return res.exit_code, res.stdout.splitlines(), res.stderr


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A simulated province (the simulator's own events) with hostile lines spliced in."""
    out = tmp_path_factory.mktemp("sim")
    res = CliRunner().invoke(
        main, ["simulate", "--cases", "600", "--days", "90", "--seed", "3", "--quiet", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    lines = (out / "events.jsonl").read_bytes().splitlines()
    for i, bad in enumerate(HOSTILE):
        lines.insert(1 + i * len(lines) // len(HOSTILE), bad)
    (out / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return out / "mixed.jsonl", out / "catalog.yaml", json.loads((out / "manifest.json").read_text())["at"]


@pytest.mark.parametrize("at", [True, False])
def test_jobs_4_prints_what_jobs_1_prints_id_for_id(province: tuple[Path, Path, str], at: bool) -> None:
    events, catalog, moment = province
    args = [str(events), "--catalog", str(catalog), *(["--at", moment] if at else [])]
    code1, one, err1 = _evaluate(*args)
    code4, four, err4 = _evaluate(*args, "--jobs", "4")
    assert code1 == code4 == 1  # the hostile lines
    assert len(one) > 100, "the province raises findings"
    assert [json.loads(x)["finding_id"] for x in four] == [json.loads(x)["finding_id"] for x in one]
    assert four == one  # byte for byte, in the same order
    assert err4 == err1  # the same rejected lines by number, the same counts and timer moment
    assert err1.count("rejected:") == len(HOSTILE)


def test_a_case_goes_to_one_job_whatever_its_line() -> None:
    a = b'{"event_id": "e1", "case_id": "C-17", "kind": "apply"}'
    b = b'{"kind": "accept", "payload": {"n": 123456789012345678901234567890}, "case_id": "C-17"}'  # > 64 bits
    assert {job_of(a, n, 4) for n in range(1, 9)} == {job_of(b, n, 4) for n in range(1, 9)} and len(
        {job_of(a, n, 4) for n in range(1, 9)}
    ) == 1
    assert {job_of(b"{oops", n, 4) for n in range(8)} == {0, 1, 2, 3}  # unreadable: spread by line number


def test_snapshots_are_the_reference_states_whatever_the_jobs(province: tuple[Path, Path, str]) -> None:
    """`replay(..., snapshots=True)` (what `esup whatif` stores as finished cases): each case's snapshot as of the
    timers' end, equal to the reference evaluation's state after its timers, for 1 and for 3 jobs."""
    from datetime import datetime

    from esup.cli.evaluate import read_events
    from schemas.catalog import load_catalog
    from streams.replay import replay
    from streams.rules import Context, WorkCalendar, evaluate
    from streams.rules.snapshot import snapshot

    events, catalog, moment = province
    at = datetime.fromisoformat(moment)
    ctx = Context.build(WorkCalendar(), load_catalog(catalog), None)
    parsed, _ = read_events(events)
    reference = evaluate(parsed, ctx, at)
    expected = [snapshot(s, at, ctx).model_dump_json() for _, s in sorted(reference.states.items())]
    for jobs in (1, 3):
        got = replay(events, ctx, at, jobs, snapshots=True)
        assert got.snapshots == expected
        assert list(got.lines) == [f.model_dump_json() for f in reference.findings]
    assert replay(events, ctx, at, 2).snapshots == []  # only when asked for
