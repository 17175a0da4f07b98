"""Withdraw-and-reapply on real Kafka: the two cases of one applicant sit on different partitions, their facts
meet on a third, and the pair gives exactly one finding — in either arrival order, and across a kill -9."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pipeline import Pipeline, committed_lag, diff, reference, settle, wait_until
from tests.support import admin_auth

pytestmark = pytest.mark.integration

PARTITIONS = 4
AT = "2026-07-10T18:00:00+08:00"
RULE = "DQ_WITHDRAW_REAPPLY"


def partition_of(key: bytes) -> int:
    from kafka.partitioner.default import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


def spread() -> tuple[str, str, str]:
    """Case ids A and B and an applicant whose (applicant, item) key is on a third partition."""
    from streams.rules.reapply import fact_key

    a = "RA-1"
    b = next(f"RB-{i}" for i in range(100) if partition_of(f"RB-{i}".encode()) != partition_of(a.encode()))
    used = {partition_of(a.encode()), partition_of(b.encode())}
    who = next(f"APP-{i}" for i in range(100) if partition_of(fact_key(f"APP-{i}", "SC-FOOD-001")) not in used)
    return a, b, who


def line(case: str, n: int, kind: str, when: str, staff: str, **payload: Any) -> bytes:
    return json.dumps(
        {
            "event_id": f"{case}-e{n}",
            "case_id": case,
            "item_code": "SC-FOOD-001",
            "department_id": "DZ-SCJG",
            "region_code": "511702",
            "staff_id": staff,
            "kind": kind,
            "occurred_at": f"{when}:00+08:00",
            "recorded_at": f"{when}:30+08:00",
            "payload": payload,
        }
    ).encode()


def histories() -> tuple[list[bytes], list[bytes]]:
    a, b, who = spread()
    materials = ["application_form", "business_licence", "floor_plan"]
    first = [
        line(a, 1, "apply", "2026-07-01T09:00", "s-wang", applicant_id=who, materials=materials),
        line(a, 2, "accept", "2026-07-01T09:30", "s-wang"),
        line(a, 3, "withdraw", "2026-07-08T15:00", "s-wang", reason="申请人主动撤回"),
    ]
    second = [line(b, 1, "apply", "2026-07-10T10:00", "s-sun", applicant_id=who, materials=materials)]
    return first, second


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, clickhouse_url: str, kafka_admin: Any, clickhouse_client: Any, tmp_path: Path
) -> Iterator[Pipeline]:
    p = Pipeline(kafka_bootstrap, clickhouse_url, tmp_path / "pipeline", partitions=PARTITIONS)
    p.workdir.mkdir(parents=True)
    yield p
    p.close(kafka_admin, clickhouse_client)


def facts_read(p: Pipeline, n: int) -> bool:
    """``n`` facts on the topic, each below the offset the worker committed (not "lag 0": a committed offset
    stops at the transaction marker after the last fact, which the topic's end offset counts)."""
    from esup.lag import committed_offsets

    facts = p.read("applicant_facts")
    done = committed_offsets(p.bootstrap, p.env["ESUP_WORKER_APP_ID"], auth=admin_auth())
    return len(facts) == n and all(done.get((r.topic, r.partition), 0) > r.offset for r in facts)


def caught_up(p: Pipeline, facts: int) -> bool:
    group = p.env["ESUP_WORKER_APP_ID"]
    return committed_lag(p.bootstrap, group, p.topics["case_events"]) == 0 and facts_read(p, facts)


def check(p: Pipeline, lines: list[bytes]) -> None:
    """Exactly the reference's findings, one DQ_WITHDRAW_REAPPLY among them, on the new case."""
    wait_until(lambda: caught_up(p, 3), timeout=90, what="the worker to catch up")
    p.advance(AT)
    expected = reference(lines, AT)
    got = settle(p.findings, expected, timeout=60)
    assert got == expected, diff(got, expected)
    hits = [f for f in got.values() if f["rule"] == RULE]
    assert len(hits) == 1 and hits[0]["case_id"].startswith("RB-") and hits[0]["staff_id"] == "s-sun"
    raw = [json.loads(r.value) for r in p.read("findings")]
    assert sum(f["rule"] == RULE for f in raw) == 1  # published once, not once per replay


def test_two_cases_on_different_partitions_give_one_finding_in_either_order(pipeline: Pipeline) -> None:
    p = pipeline.setup()
    first, second = histories()
    p.worker()
    p.publish_events(second)  # the new application arrives first: its fact waits for the withdrawal
    wait_until(lambda: facts_read(p, 1), timeout=90, what="the application's fact")
    p.publish_events(first)
    check(p, first + second)
    parts = {partition_of(json.loads(x)["case_id"].encode()) for x in (first[0], second[0])}
    facts = {r.partition for r in p.read("applicant_facts")}
    assert len(parts) == 2 and len(facts) == 1 and not facts & parts  # three partitions, one worker each


def test_the_pair_survives_a_kill_between_the_cases_and_inside_the_finding_transaction(pipeline: Pipeline) -> None:
    p = pipeline.setup()
    first, second = histories()
    p.worker("w1")
    p.publish_events(first)
    wait_until(lambda: facts_read(p, 2), timeout=90, what="the withdrawn case's facts to be read")
    p.stop("w1", kill=True)  # kill -9: the applicant row must come back from the changelog
    # The next worker dies inside its 2nd transaction: the 1st judges the application (and sends its fact),
    # the 2nd pairs the fact and carries the finding — sent to Kafka, never committed.
    w2 = p.worker("w2", env={"ESUP_TEST_KILL_IN_COMMIT": "2"})
    p.publish_events(second)
    wait_until(lambda: w2.poll() is not None, timeout=120, what="the worker to die in its 2nd transaction")
    assert "kill -9 inside transaction 2" in p.log("w2")
    p.processes.pop("w2")
    uncommitted = [json.loads(r.value)["rule"] for r in p.read("findings", committed=False)]
    assert RULE in uncommitted and RULE not in {f["rule"] for f in p.findings().values()}
    p.worker("w3")
    check(p, first + second)
