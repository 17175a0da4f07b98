"""End to end: a simulated province through Kafka, two workers on the event clock and the sink into ClickHouse.

The findings in ClickHouse must be exactly the simulator's ground truth — every injected violation found with
its rule and responsible staff, nothing that was not injected — and exactly what `esup evaluate` finds in
the same events. Everything runs as a person runs it: `esup simulate`, `esup worker`, `esup sink`,
`esup clock advance`, on the session's real servers, with this test's own topics and database.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.truth import keys, read_truth
from tests.integration.pipeline import Pipeline, committed_lag, reference, wait_for_split, wait_until
from tests.ports import free_port

pytestmark = pytest.mark.integration

CASES = 2500


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, clickhouse_url: str, kafka_admin: Any, clickhouse_client: Any, tmp_path: Path
) -> Iterator[Pipeline]:
    p = Pipeline(kafka_bootstrap, clickhouse_url, tmp_path / "pipeline", partitions=4)
    p.workdir.mkdir(parents=True)
    yield p
    p.close(kafka_admin, clickhouse_client)


def findings_in_clickhouse(client: Any, database: str) -> dict[str, tuple[str, str, str]]:
    rows = client.execute(f"SELECT finding_id, case_id, rule, staff_id FROM {database}.findings FINAL")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_a_simulated_province_ends_in_clickhouse_exactly_as_injected(
    pipeline: Pipeline, clickhouse_client: Any, tmp_path: Path
) -> None:
    p, sim = pipeline, tmp_path / "sim"
    began = time.monotonic()
    p.esup("simulate", "--catalog-only", "--out", str(sim))
    p.setup(catalog=sim / "catalog.yaml")
    ports = [free_port(), free_port()]
    p.worker("worker-1", web_port=ports[0])
    p.worker("worker-2", web_port=ports[1])
    p.sink()
    wait_for_split(ports)
    run = p.esup(
        "simulate",
        "--cases",
        str(CASES),
        "--seed",
        "2026",
        "--violation-rate",
        "0.3",
        "--to-kafka",
        "--speed",
        "max",
        "--out",
        str(sim),
        timeout=300,
    )
    manifest = json.loads((sim / "manifest.json").read_text())
    assert manifest["cases"] == CASES and f"sent {manifest['events']} events" in run.stdout
    truth = read_truth(sim / "truth.jsonl")
    assert {e.category for e in truth} == {"time", "fee", "procedure", "condition", "first_inquiry", "data_quality"}

    group = p.env["ESUP_WORKER_APP_ID"]
    wait_until(
        lambda: committed_lag(p.bootstrap, group, p.topics["case_events"]) == 0,
        timeout=150,
        what="the workers to apply every event",
    )
    p.advance(manifest["at"])  # the moment the ground truth is computed for
    got = wait_until(
        lambda: (lambda f: f if len(f) >= len(truth) else None)(findings_in_clickhouse(clickhouse_client, p.database)),
        timeout=120,
        what=f"{len(truth)} findings in ClickHouse",
    )
    time.sleep(2)  # anything beyond the truth would be late by now: read once more
    got = findings_in_clickhouse(clickhouse_client, p.database)

    found = Counter(got.values())
    expected = keys(truth)
    assert found == expected, (
        f"missing {sorted(expected - found)[:5]} ({sum((expected - found).values())}); "
        f"not injected {sorted(found - expected)[:5]} ({sum((found - expected).values())})"
    )
    # The same findings, id for id, as the reference evaluation of the same file.
    lines = (sim / "events.jsonl").read_bytes().splitlines()
    assert set(got) == set(reference(lines, manifest["at"], catalog=sim / "catalog.yaml"))
    # And every event and case made it to ClickHouse.
    count = f"SELECT count() FROM {p.database}.case_events FINAL"
    wait_until(lambda: clickhouse_client.execute(count)[0][0] == manifest["events"], timeout=30, what="event rows")
    snapshots = clickhouse_client.execute(f"SELECT count() FROM {p.database}.case_snapshots FINAL")[0][0]
    # One per arrival, and one per re-application after a withdrawal (sim/reapply.py: "<case id>-R").
    again = {c for c in (json.loads(x)["case_id"] for x in lines) if c.endswith("-R")}
    assert snapshots == CASES + len(again) and again
    print(
        f"\ne2e: {CASES} cases, {manifest['events']} events, {len(truth)} findings as injected "
        f"({len(expected)} distinct case/rule/staff), {time.monotonic() - began:.0f} s"
    )
