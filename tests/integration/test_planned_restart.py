"""A planned restart (SIGTERM, then the same --instance again) takes its partitions over from the local
snapshots the stop wrote, and judges on exactly as if it had read the changelog; a snapshot left behind while
another worker moved the changelog on is refused and the changelog read (`streams.snapshot`)."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pipeline import Pipeline, committed_lag, diff, reference, settle, wait_until
from tests.support import synthetic_lines

pytestmark = pytest.mark.integration

AT = "2026-10-01T00:00:00+08:00"  # after every synthetic event: each case's timers have run
TAKEN = re.compile(r"partition (\d+) taken over from (snapshot|changelog): (\d+) cases")
WRITTEN = re.compile(r"partition (\d+): snapshot written at changelog offset (\d+) \((\d+) rows")


@pytest.fixture
def pipeline(kafka_bootstrap: str, clickhouse_url: str, kafka_admin: Any, tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(kafka_bootstrap, clickhouse_url, tmp_path / "p", partitions=2)
    p.workdir.mkdir(parents=True)
    p.esup("topics", "create")
    p.esup("catalog", "publish", "examples/catalog.yaml")
    yield p
    p.close(kafka_admin)


def _worker(p: Pipeline, name: str, instance: str, home: Path | None = None) -> None:
    env = {"ESUP_HOME": str(home)} if home else None
    p.start(name, "worker", "--clock", "event", "--loglevel", "info", "--instance", instance, env=env)


def _taken(p: Pipeline, name: str) -> dict[int, str]:
    """Partition → where the worker ``name`` took it over from, once it took every partition over."""
    found = {int(m.group(1)): m.group(2) for m in TAKEN.finditer(p.log(name))}
    return found if len(found) == p.partitions else {}


def _caught_up(p: Pipeline, name: str) -> None:
    group = p.env["ESUP_WORKER_APP_ID"]
    wait_until(
        lambda: committed_lag(p.bootstrap, group, p.topics["case_events"]) == 0,
        timeout=180,
        every=0.5,
        what=f"{name} to judge every event:\n{p.log(name)[-2000:]}",
    )


def _chains_hold(p: Pipeline) -> None:
    """Per partition the findings' chain entries run 1, 2, … each linking to the one before: the chain head
    went through the restarts (a head lost or stale would restart or repeat a sequence number)."""
    by_part: dict[int, dict[int, dict[str, Any]]] = {}
    for r in p.read("findings"):
        chain = json.loads(r.value)["chain"]
        by_part.setdefault(chain["partition"], {})[chain["seq"]] = chain
    for part, entries in by_part.items():
        assert sorted(entries) == list(range(1, len(entries) + 1)), f"partition {part}: {sorted(entries)[:20]}…"
        for seq in range(2, len(entries) + 1):
            assert entries[seq]["prev"] == entries[seq - 1]["hash"], f"partition {part}, entry {seq}"


def test_planned_restart_takes_over_from_the_snapshot_and_a_stale_one_is_refused(pipeline: Pipeline) -> None:
    p = pipeline
    lines = synthetic_lines(150, seed=11)
    first, second = int(len(lines) * 0.4), int(len(lines) * 0.7)
    snapshots = Path(p.env["ESUP_HOME"]) / "worker-data" / "snapshots" / p.env["ESUP_WORKER_APP_ID"]

    # 1. A worker judges the first part and is stopped: one snapshot per partition, owner-only.
    p.publish_events(lines[:first])
    _worker(p, "a", "one")
    _caught_up(p, "a")
    p.stop("a")  # SIGTERM
    written = {int(m.group(1)): int(m.group(2)) for m in WRITTEN.finditer(p.log("a"))}
    assert sorted(written) == [0, 1], p.log("a")[-3000:]
    files = sorted(snapshots.glob("*.snap"))
    assert len(files) == 2 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert stat.S_IMODE(snapshots.stat().st_mode) == 0o700

    # 2. Restarted under the same instance: both partitions from the snapshots, which are consumed.
    _worker(p, "b", "one")
    taken = wait_until(lambda: _taken(p, "b"), timeout=120, every=0.5, what=f"b's take-over:\n{p.log('b')[-2000:]}")
    assert taken == {0: "snapshot", 1: "snapshot"}, p.log("b")[-3000:]
    assert not list(snapshots.glob("*.snap"))
    p.publish_events(lines[first:second])
    _caught_up(p, "b")
    p.stop("b")
    stale = {int(m.group(1)): int(m.group(2)) for m in WRITTEN.finditer(p.log("b"))}
    assert sorted(stale) == [0, 1] and all(stale[k] > written[k] for k in stale), (written, stale)

    # 3. Another worker (another machine: its own home) takes the partitions over from the changelog and
    # writes to it; the first worker's snapshots stay on its disk, now behind the changelog.
    _worker(p, "other", "two", home=p.workdir / "home-other")
    taken = wait_until(
        lambda: _taken(p, "other"), timeout=180, every=0.5, what=f"the other worker:\n{p.log('other')[-2000:]}"
    )
    assert taken == {0: "changelog", 1: "changelog"}
    p.publish_events(lines[second:])
    _caught_up(p, "other")
    p.stop("other")

    # 4. The first worker again: its snapshots are refused (the changelog moved on), the changelog is read,
    # and everything judged from here on equals the reference evaluation of every event.
    assert len(list(snapshots.glob("*.snap"))) == 2
    _worker(p, "c", "one")
    taken = wait_until(lambda: _taken(p, "c"), timeout=180, every=0.5, what=f"c's take-over:\n{p.log('c')[-2000:]}")
    p.advance(AT)
    expected = reference(lines, AT)
    got = settle(p.findings, expected, timeout=120)
    assert got == expected, diff(got, expected)
    _chains_hold(p)
    assert taken == {0: "changelog", 1: "changelog"}, p.log("c")[-3000:]
    assert p.log("c").count("not used, reading the changelog: stands at changelog offset") == 2
    assert not list(snapshots.glob("*.snap"))
