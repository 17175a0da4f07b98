"""The simulated province under per-department principals: each department's own topic, through the bridge, once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ingest import event_ids, ingest_pipeline
from tests.integration.pipeline import Pipeline, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def pipe(kafka_bootstrap: str, kafka_admin: Any, tmp_path: Path) -> Iterator[Pipeline]:
    p = ingest_pipeline(kafka_bootstrap, tmp_path, kafka_admin, [], partitions=1)
    yield p
    p.close(kafka_admin)


def test_each_simulated_department_writes_its_own_topic_and_the_bridge_forwards_all_once(
    pipe: Pipeline, tmp_path: Path
) -> None:
    out = tmp_path / "sim"
    pipe.start("bridge", "gateway", "bridge")
    sim = pipe.esup(
        "simulate",
        "--to-kafka",
        "--per-department",
        "--cases",
        "60",
        "--days",
        "10",
        "--seed",
        "3",
        "--out",
        str(out),
        "--quiet",
        timeout=300,
    )
    assert "each department's Kafka topic" in sim.stdout and "NOT acknowledged" not in sim.stdout
    sent = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    expected = {e["event_id"] for e in sent}
    got = wait_until(
        lambda: (ids := event_ids(pipe, idle_s=2)) and sum(ids.values()) >= len(expected) and ids,
        timeout=180,
        every=2,
        what=f"{len(expected)} events through the bridge",
    )
    assert set(got) == expected and max(got.values()) == 1
    # They came by their departments' own topics: each department's topic holds only its own events.
    by_dept: dict[str, set[str]] = {}
    for e in sent:
        by_dept.setdefault(e["department_id"], set()).add(e["event_id"])
    dept, ids = max(by_dept.items(), key=lambda kv: len(kv[1]))
    own = [json.loads(r.value) for r in pipe.read(pipe.topics["ingest_prefix"] + dept, idle_s=1)]
    assert {e["event_id"] for e in own} == ids and {e["department_id"] for e in own} == {dept}
    assert not pipe.read("dead_letters", idle_s=1)
    pipe.stop("bridge")
