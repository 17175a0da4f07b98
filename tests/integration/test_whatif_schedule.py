"""`esup whatif` over a window that holds an adoption: its baseline follows the live schedule.

A real worker and sink (event clock) judge three cases, one before the adopted moment M, one straddling it,
one after it, with stricter rules adopted from M through `esup rules adopt` (and two hostile records on the
configuration topic, which the worker refuses). Then `esup whatif`, reading the configuration topic as the
workers do: its baseline equals the live findings and `esup evaluate --schedule`, an identical proposal
shows no difference (with any --jobs, byte for byte), and the report names each side's schedule; with the
schedule ignored the baseline differs from the live findings and a proposal of the same adoption would be
credited with the adoption's effect.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pipeline import ROOT, wait_until, worker_status
from tests.integration.test_adopt_pipeline import AFTER, BEFORE, STRICT, UNTIL, M
from tests.integration.test_pipeline import make_pipeline  # noqa: F401 - fixture
from tests.ports import free_port
from whatif.model import UNREPLAYABLE

pytestmark = pytest.mark.integration

WINDOW = ["--from", "2026-01-01", "--to", "2026-06-30", "--at", UNTIL, "--quiet"]


def _whatif(p: Any, tmp_path: Path, name: str, *args: str) -> tuple[Any, dict[str, Any]]:
    out = tmp_path / f"{name}.json"
    # (the test's workers run on the event clock, which follows an adoption made with --allow-past)
    res = p.esup("whatif", *WINDOW, "--workers-clock", "event", "--json", str(out), *args, check=False, timeout=300)
    assert out.exists(), res.stdout + res.stderr
    return res, json.loads(out.read_text(encoding="utf-8"))


def base_published(report: dict[str, Any]) -> list[str]:
    return list(report["schedule"]["baseline"]["published_after_their_moment"])


def test_whatif_judges_its_baseline_under_the_adopted_schedule(
    make_pipeline: Any,  # noqa: F811 - fixture
    clickhouse_client: Any,
    tmp_path: Path,
) -> None:
    p = make_pipeline(partitions=2).setup()
    port = free_port()
    p.worker(web_port=port)
    p.sink()

    def status() -> Any:
        try:
            return worker_status(port)
        except OSError:
            return None

    wait_until(lambda: (s := status()) and s["config"].get("ready"), timeout=90, what="the worker to start")
    p.produce("config", [(b"rules@x", b"\xff\xfe"), (b"rules@2026-04-01T00:00:00+00:00", b'{"kind": 7}')])
    wait_until(lambda: len(status()["config"]["rejected"]) == 2, timeout=30, what="the bad records refused")
    strict = tmp_path / "strict.yaml"
    strict.write_text(STRICT, encoding="utf-8")
    p.esup("rules", "adopt", str(strict), "--kind", "rules", "--from", M, "--reason", "stricter", "--allow-past")
    wait_until(lambda: status()["config"]["adopted"] == 1, timeout=30, what="the worker to read the adoption")
    # A tombstone withdraws nothing: the worker refuses it and keeps the adoption (so must whatif, which reads
    # every record in order as the worker does, not the latest value per key).
    p.produce("config", [(b"rules@2026-03-09T16:00:00+00:00", None)])
    wait_until(lambda: len(status()["config"]["rejected"]) == 3, timeout=30, what="the tombstone refused")
    p.publish_events(BEFORE + AFTER)
    p.advance(UNTIL)

    # The reference: `esup evaluate --schedule` over the same events.
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(line + b"\n" for line in BEFORE + AFTER))
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(f"- {{kind: rules, file: strict.yaml, from: '{M}'}}\n", encoding="utf-8")
    catalog = str(ROOT / "examples/catalog.yaml")
    ref = p.esup("evaluate", str(events), "--catalog", catalog, "--at", UNTIL, "--schedule", str(schedule))
    expected = {f["finding_id"]: f for f in map(json.loads, ref.stdout.splitlines()) if f["rule"] not in UNREPLAYABLE}
    plain = p.esup("evaluate", str(events), "--catalog", catalog, "--at", UNTIL)
    unscheduled = {f["finding_id"]: f["detected_at"] for f in map(json.loads, plain.stdout.splitlines())}
    assert {k: f["detected_at"] for k, f in expected.items()} != unscheduled  # the adoption matters here
    versions = {f["config_version"] for f in expected.values()}
    assert len(versions) == 2

    db = p.database

    def stored() -> dict[str, str]:
        rows = clickhouse_client.execute(f"SELECT finding_id, config_version FROM {db}.findings FINAL")
        return dict(rows)

    wait_until(lambda: set(stored()) == set(expected), timeout=90, what="the live findings in ClickHouse")
    wait_until(
        lambda: clickhouse_client.execute(f"SELECT count() FROM {db}.case_events FINAL") == [(6,)],
        timeout=60,
        what="the events in ClickHouse",
    )
    assert stored() == {k: f["config_version"] for k, f in expected.items()}  # the live system equals evaluate

    # The baseline follows the configuration topic: it equals the live findings id for id and in content (so
    # `esup evaluate --schedule` too); nothing proposed: no difference. The hostile records are refused with
    # a warning naming the field, and whatif goes on.
    res, one = _whatif(p, tmp_path, "one", "--jobs", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 configuration records refused" in res.stderr
    assert "rules@2026-03-09T16:00:00+00:00: <record>: a tombstone cannot withdraw" in res.stderr
    assert "rules@2026-04-01T00:00:00+00:00: kind: expected a string, got int" in res.stderr
    assert "rules@x: <record>: not UTF-8 JSON" in res.stderr
    # Adopted with --allow-past (M is in the past): followed, as the event-clock workers followed it; said.
    assert "adoptions dated before they were published (rules@2026-03-09T16:00:00+00:00" in res.stderr
    assert base_published(one) == ["rules@2026-03-09T16:00:00+00:00"]
    assert one["check"]["ok"], one["check"]
    assert one["findings"]["baseline"] == one["findings"]["scenario"] == len(expected)
    assert (one["findings"]["added"], one["findings"]["removed"], one["findings"]["changed"]) == (0, 0, 0)
    assert one["configuration"]["changed"] == []
    base = one["schedule"]["baseline"]
    assert base["source"] == f"config topic {p.topics['config']}"
    version = "sha256:" + hashlib.sha256(STRICT.encode()).hexdigest()
    adopted = [(a["kind"], a["from"], a["version"]) for a in base["adoptions"]]
    assert adopted == [("rules", M, version)]
    assert {base["start_config_version"], base["adoptions"][0]["config_version"]} == versions
    refused = ["rules@2026-03-09T16:00:00+00:00", "rules@2026-04-01T00:00:00+00:00", "rules@x"]
    assert [r["record"] for r in base["refused"]] == refused
    assert status()["config"]["adopted"] == 1 and sorted(status()["config"]["rejected"]) == refused
    scen = one["schedule"]["scenario"]
    assert [(a["kind"], a["from"], a["version"]) for a in scen["adoptions"]] == adopted

    # Any --jobs: the same report, byte for byte.
    res, _ = _whatif(p, tmp_path, "two", "--jobs", "2")
    assert res.returncode == 0 and (tmp_path / "two.json").read_bytes() == (tmp_path / "one.json").read_bytes()

    # An identical proposal given as its own schedule: no difference; the same adoption from a file as the base.
    res, same = _whatif(p, tmp_path, "same", "--schedule", str(schedule), "--jobs", "2")
    assert res.returncode == 0 and same["check"]["ok"], res.stderr
    assert (same["findings"]["added"], same["findings"]["removed"], same["findings"]["changed"]) == (0, 0, 0)
    assert same["configuration"]["changed"] == [] and same["schedule"]["scenario"]["source"].startswith("file ")
    res, from_file = _whatif(p, tmp_path, "file", "--base-schedule", str(schedule))
    assert res.returncode == 0 and from_file["check"]["ok"] and "refused" not in res.stderr, res.stderr

    # The stricter rules proposed for the whole window: only what they change before M differs (after M the
    # baseline judges with them too), so the case that started after M does not move.
    res, whole = _whatif(p, tmp_path, "whole", "--rules", str(strict), "--jobs", "2")
    assert res.returncode == 0 and whole["check"]["ok"], res.stderr
    assert (
        whole["configuration"]["changed"] == ["rules", "schedule"] and whole["schedule"]["scenario"]["adoptions"] == []
    )
    moved = {e["case_id"] for g in whole["findings"]["by_rule"] for side in g["examples"].values() for e in side}
    assert moved and "NEW" not in moved

    # With the schedule ignored the baseline is not what the live system found, and a proposal of the very
    # adoption the workers already made would be credited with its effect.
    res, ignored = _whatif(p, tmp_path, "ignored", "--no-base-schedule", "--schedule", str(schedule))
    assert res.returncode == 1, res.stdout + res.stderr
    c = ignored["check"]
    assert not c["ok"] and c["only_live"] + c["only_replay"] + c["content_differs"] > 0
    assert ignored["findings"]["added"] + ignored["findings"]["removed"] + ignored["findings"]["changed"] > 0
    assert ignored["schedule"]["baseline"]["source"] == "none (--no-base-schedule)"
    assert ignored["configuration"]["changed"] == ["schedule"]

    # Stored as a scenario: its report names both schedules.
    res = p.esup("whatif", *WINDOW, "--workers-clock", "event", "--store", "schedule-check", check=False, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    ((report,),) = clickhouse_client.execute(f"SELECT report FROM {db}.whatif_runs WHERE scenario = 'schedule-check'")
    kept = json.loads(report)["schedule"]
    assert [(a["kind"], a["from"], a["version"]) for a in kept["baseline"]["adoptions"]] == adopted
    assert kept == one["schedule"]
