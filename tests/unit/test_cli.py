"""`esup evaluate` and `esup schema export` as a person runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from esup.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _evaluate(*args: str) -> tuple[int, list[dict], str]:  # type: ignore[type-arg]
    res = CliRunner().invoke(main, ["evaluate", *args])
    lines = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    return res.exit_code, lines, res.stderr


def test_examples_exercise_every_category_and_severity() -> None:
    code, findings, err = _evaluate(
        str(ROOT / "examples/events.jsonl"), "--catalog", str(ROOT / "examples/catalog.yaml")
    )
    assert code == 0, err
    assert {f["category"] for f in findings} == {
        "time",
        "fee",
        "procedure",
        "condition",
        "first_inquiry",
        "data_quality",
    }
    assert {f["severity"] for f in findings} == {"notice", "yellow", "red"}
    assert len({f["finding_id"] for f in findings}) == len(findings)
    by_case = Counter(f["case_id"] for f in findings)
    assert by_case["DZ2026-0001"] == 0 and by_case["DZ2026-0010"] == 0 and by_case["DZ2026-0013"] == 0
    assert "16 cases" in err and "timers run to 2026-06-30T17:00:00+08:00" in err


def test_every_finding_carries_its_evidence() -> None:
    _, findings, _ = _evaluate(str(ROOT / "examples/events.jsonl"), "--catalog", str(ROOT / "examples/catalog.yaml"))
    ids = {json.loads(line)["event_id"] for line in (ROOT / "examples/events.jsonl").read_text().splitlines()}
    for f in findings:
        assert f["evidence_event_ids"] and set(f["evidence_event_ids"]) <= ids
        assert f["calendar_version"].startswith("chinesecalendar-")
        if f["category"] == "time":
            assert f["deadline"] is not None


def test_at_runs_the_timers_further(tmp_path: Path) -> None:
    base = [str(ROOT / "examples/events.jsonl"), "--catalog", str(ROOT / "examples/catalog.yaml")]
    _, now, _ = _evaluate(*base)
    _, later, _ = _evaluate(*base, "--at", "2026-09-01T00:00:00+08:00")
    assert {f["finding_id"] for f in now} < {f["finding_id"] for f in later}
    res = CliRunner().invoke(main, ["evaluate", *base, "--at", "2026-09-01T00:00:00"])
    assert res.exit_code == 2 and "has no timezone offset" in res.stderr


def test_rejected_lines_are_reported_and_the_rest_evaluated(tmp_path: Path) -> None:
    lines = (ROOT / "examples/events.jsonl").read_text(encoding="utf-8").splitlines()
    f = tmp_path / "events.jsonl"
    f.write_text("\n".join([lines[0], "{oops", lines[1]]) + "\n", encoding="utf-8")
    code, _, err = _evaluate(str(f), "--catalog", str(ROOT / "examples/catalog.yaml"))
    assert code == 1
    assert f"{f}:2: rejected: <event>: invalid JSON" in err
    assert "2 events" in err


def test_schema_export_writes_json_schemas(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["schema", "export", str(tmp_path)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "case-event.schema.json").read_text(encoding="utf-8"))
    kinds = set(doc["discriminator"]["mapping"])
    assert {"apply", "accept", "review", "approve", "conclude", "extend", "suspend", "fee_charged"} <= kinds
    assert (tmp_path / "finding.schema.json").exists() and (tmp_path / "catalog.schema.json").exists()


def test_committed_examples_are_what_the_builder_writes(tmp_path: Path) -> None:
    before = (ROOT / "examples/events.jsonl").read_bytes()
    subprocess.run([sys.executable, str(ROOT / "examples/build_examples.py")], check=True, capture_output=True)
    assert (ROOT / "examples/events.jsonl").read_bytes() == before


def test_hostile_lines_are_reported_by_line_and_the_valid_ones_still_evaluated(tmp_path: Path) -> None:
    from tests.hostile import corpus

    lines = (ROOT / "examples/events.jsonl").read_bytes().splitlines()
    hostile = [h for h in corpus() if b"\n" not in h.raw and h.raw.strip()]
    mixed = lines[:40] + [h.raw for h in hostile] + lines[40:]
    f = tmp_path / "hostile.jsonl"
    f.write_bytes(b"\n".join(mixed) + b"\n")
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"\n".join(lines) + b"\n")
    catalog = str(ROOT / "examples/catalog.yaml")

    # As a person runs it: a separate process, so a traceback would show on its stderr.
    run = subprocess.run(
        [sys.executable, "-m", "esup.cli", "evaluate", str(f), "--catalog", catalog],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    code, err = run.returncode, run.stderr
    findings = [json.loads(line) for line in run.stdout.splitlines()]
    _, expected, _ = _evaluate(str(clean), "--catalog", catalog)
    assert code == 1 and "Traceback" not in err
    assert findings == expected and findings  # the valid lines' findings, all of them
    for n, h in enumerate(hostile, start=41):
        assert f"{f}:{n}: rejected: {h.field}: " in err, h.name
    assert f"warning: {len(hostile)} lines rejected" in err and f"{len(lines)} events" in err
