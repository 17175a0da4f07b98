"""The streaming pipeline on real Kafka and ClickHouse, checked against the reference engine (`esup evaluate`).

Each test has its own topics, worker group and database (tests/integration/pipeline.py) and asserts
exact results: the same finding ids, rules and severities as the reference, nothing lost, nothing doubled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pipeline import ROOT, Pipeline, committed_lag, diff, reference, settle, wait_until
from tests.integration.test_sink import private_clickhouse  # noqa: F401 - fixture
from tests.ports import free_port
from tests.support import synthetic_lines

pytestmark = pytest.mark.integration

EXAMPLES = ROOT / "examples/events.jsonl"
EXAMPLES_AT = "2026-06-30T17:00:00+08:00"  # the latest event of the examples: what `esup evaluate` defaults to


@pytest.fixture
def make_pipeline(
    kafka_bootstrap: str, clickhouse_url: str, kafka_admin: Any, clickhouse_client: Any, tmp_path: Path
) -> Iterator[Any]:
    made: list[Pipeline] = []

    def make(partitions: int = 4, ch_url: str | None = None) -> Pipeline:
        p = Pipeline(kafka_bootstrap, ch_url or clickhouse_url, tmp_path / f"p{len(made)}", partitions=partitions)
        p.workdir.mkdir(parents=True)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close(kafka_admin, clickhouse_client)


def caught_up(p: Pipeline, group: str, topic: str = "case_events") -> bool:
    return committed_lag(p.bootstrap, group, p.topics[topic]) == 0


def clickhouse_findings(client: Any, database: str) -> dict[str, tuple[str, str, str]]:
    rows = client.execute(f"SELECT finding_id, case_id, rule, severity FROM {database}.findings FINAL")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def as_rows(findings: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str, str]]:
    return {k: (f["case_id"], f["rule"], f["severity"]) for k, f in findings.items()}


def test_examples_through_kafka_and_clickhouse_equal_esup_evaluate(make_pipeline: Any, clickhouse_client: Any) -> None:
    p = make_pipeline().setup()
    p.worker()
    p.sink()
    p.esup("publish", str(EXAMPLES), "--sort-by-time")
    wait_until(lambda: caught_up(p, p.env["ESUP_WORKER_APP_ID"]), timeout=90, what="the worker to catch up")
    p.advance(EXAMPLES_AT)
    expected = reference(EXAMPLES.read_bytes().splitlines(), EXAMPLES_AT)
    got = wait_until(
        lambda: (lambda g: g if set(g) == set(expected) else None)(clickhouse_findings(clickhouse_client, p.database)),
        timeout=90,
        what="ClickHouse to hold the findings",
    )
    assert got == as_rows(expected)
    # The findings topic carries exactly the reference findings, field for field.
    assert p.findings() == expected
    # Every case has its snapshot, and every event its row.
    cases = {json.loads(line)["case_id"] for line in EXAMPLES.read_bytes().splitlines()}
    assert clickhouse_client.execute(f"SELECT count() FROM {p.database}.case_snapshots FINAL")[0][0] == len(cases)
    n_events = len(EXAMPLES.read_bytes().splitlines())
    wait_until(
        lambda: clickhouse_client.execute(f"SELECT count() FROM {p.database}.case_events FINAL")[0][0] == n_events,
        timeout=30,
        what="every event row",
    )


def test_deadlines_fire_from_the_sweeper_alone(make_pipeline: Any) -> None:
    """An open case and no further event: its notice, yellow and red cards come from the wall-clock sweeper."""
    p = make_pipeline(partitions=2).setup()
    lines = [
        json.dumps(
            {
                "event_id": f"late-{i}",
                "case_id": "LATE-1",
                "item_code": "SC-BUILD-003",
                "department_id": "DZ-ZJ",
                "region_code": "511702",
                "staff_id": "s-chen",
                "kind": kind,
                "occurred_at": f"2026-09-01T{9 + i:02d}:00:00+08:00",
                "recorded_at": f"2026-09-01T{9 + i:02d}:01:00+08:00",
                "payload": {},
            }
        ).encode()
        for i, kind in enumerate(["apply", "accept"])
    ]
    p.publish_events(lines)
    p.worker(clock="wall")
    # The events alone raise nothing (their timers are run only up to 1 Sep): everything below is the sweeper's.
    expected = reference(lines, datetime.now(UTC).isoformat())
    assert {f["rule"] for f in expected.values()} >= {
        "TIME_DECISION_NOTICE",
        "TIME_DECISION_OVERDUE",
        "TIME_DECISION_RED",
    }
    got = settle(p.findings, expected, timeout=90)
    assert got == expected, diff(got, expected)
    assert {f["severity"] for f in got.values()} == {"notice", "yellow", "red"}


def test_timers_armed_ahead_are_published_at_their_deadline(make_pipeline: Any) -> None:
    """A deadline that comes during the run: the worker's wall clock is shifted to just before 24:00 at the end
    of a working day. It arms the timers due then, and at the deadline — not before — publishes exactly what
    the reference finds, every case from its armed result."""
    import time
    from datetime import timedelta

    from tests.integration.pipeline import worker_status
    from tests.support import FOOD_MATERIALS, application_due_at, synthetic_context, working_day_end

    ctx = synthetic_context()
    deadline = working_day_end(datetime.now(UTC) + timedelta(days=7), ctx.calendar)
    applied = application_due_at(deadline, ctx)
    p = make_pipeline(partitions=2)
    p.env.update({"ESUP_SWEEP_INTERVAL_S": "1.0", "ESUP_SWEEP_ARM_AHEAD_S": "20"})
    p.setup()
    n = 24
    lines = [
        json.dumps(
            {
                "event_id": f"arm-{i}",
                "case_id": f"ARM-{i}",
                "item_code": "SC-FOOD-001",
                "department_id": "DZ-SCJG",
                "region_code": "511702",
                "staff_id": f"s-{i % 3}",
                "kind": "apply",
                "occurred_at": (applied + timedelta(minutes=i)).isoformat(),
                "recorded_at": (applied + timedelta(minutes=i)).isoformat(),
                "payload": {"materials": FOOD_MATERIALS},
            }
        ).encode()
        for i in range(n)
    ]
    p.publish_events(lines)
    offset = (deadline - datetime.now(UTC)).total_seconds() - 45  # the deadline comes 45 s from now
    p.env["ESUP_CLOCK_OFFSET_S"] = f"{offset:.3f}"
    port = free_port()
    p.worker(clock="wall", web_port=port)
    expected = reference(lines, deadline.isoformat())
    assert len(expected) == n and {f["rule"] for f in expected.values()} == {"TIME_ACCEPT_NOTICE"}
    got = settle(p.findings, expected, timeout=120)
    assert got == expected, diff(got, expected)
    counters = worker_status(port)["counters"]
    assert counters["armed"] == n and counters["armed_used"] == n
    # Published at the deadline, not when armed: each record's time on the worker's shifted clock.
    for record in p.read("findings"):
        assert record.timestamp / 1000 + offset >= deadline.timestamp() - 0.05
    assert time.time() + offset >= deadline.timestamp()


def _after_the_second_worker(p: Pipeline, group: str, lines: list[bytes], clickhouse: Any) -> dict[str, Any]:
    """Once the second worker caught up and the clock is advanced: ClickHouse holds exactly the reference."""
    wait_until(lambda: caught_up(p, group), timeout=180, what="the second worker to catch up")
    at = "2026-10-01T00:00:00+08:00"
    p.advance(at)
    expected = reference(lines, at)
    got = wait_until(
        lambda: (lambda g: g if set(g) == set(expected) else None)(clickhouse_findings(clickhouse, p.database)),
        timeout=120,
        what="every finding in ClickHouse",
    )
    assert got == as_rows(expected)
    return expected


def test_kill_9_mid_stream_loses_and_doubles_nothing(make_pipeline: Any, clickhouse_client: Any) -> None:
    p = make_pipeline().setup()
    lines = synthetic_lines(1500, seed=3)
    half = len(lines) // 2
    p.publish_events(lines[:half])
    group = p.env["ESUP_WORKER_APP_ID"]
    p.sink()
    p.worker("worker-1")
    wait_until(
        lambda: (lambda lag: lag < half * 0.8)(committed_lag(p.bootstrap, group, p.topics["case_events"])),
        timeout=90,
        every=0.2,
        what="the first worker to make progress",
    )
    p.stop("worker-1", kill=True)  # kill -9, mid-stream
    p.publish_events(lines[half:])
    p.worker("worker-2")
    expected = _after_the_second_worker(p, group, lines, clickhouse_client)
    # Each finding once in the final view; redelivered copies (at-least-once) collapse there.
    assert clickhouse_client.execute(f"SELECT count() FROM {p.database}.findings FINAL")[0][0] == len(expected)


def test_kill_9_inside_a_transaction_commits_nothing_of_it(make_pipeline: Any, clickhouse_client: Any) -> None:
    """The fault hook kills the first worker after Kafka acknowledged a transaction's findings and rows and
    before the commit: those records are in the log but never visible, and the next owner (fencing the
    dead one's transactional id) judges the messages again: ClickHouse equals the reference exactly."""
    p = make_pipeline().setup()
    lines = synthetic_lines(800, seed=4)
    p.publish_events(lines)
    group = p.env["ESUP_WORKER_APP_ID"]
    p.sink()
    first = p.worker("worker-1", env={"ESUP_TEST_KILL_IN_COMMIT": "3"})
    assert first.wait(timeout=120) == -9
    assert "fault hook: kill -9 inside transaction 3" in p.log("worker-1")
    p.processes.pop("worker-1")
    p.worker("worker-2")
    expected = _after_the_second_worker(p, group, lines, clickhouse_client)
    # The killed transaction's records reached the log (read_uncommitted sees more) and stayed invisible.
    assert len(p.read("case_snapshots", committed=False)) > len(p.read("case_snapshots"))
    assert {json.loads(r.value)["finding_id"] for r in p.read("findings")} == set(expected)


def test_clickhouse_outage_mid_stream_delivers_every_row(
    make_pipeline: Any,
    private_clickhouse: tuple[Any, str],  # noqa: F811 - fixture
) -> None:
    launcher, url = private_clickhouse
    from sinks.clickhouse import connect_url

    p = make_pipeline(ch_url=url).setup()
    client = connect_url(url.rsplit("/", 1)[0] + "/default")
    lines = synthetic_lines(600, seed=4)
    half = len(lines) // 2
    p.worker()
    p.sink()
    p.publish_events(lines[:half])
    wait_until(
        lambda: client.execute(f"SELECT count() FROM {p.database}.case_events")[0][0] > 0,
        timeout=90,
        what="the first rows",
    )
    launcher.stop()
    try:
        p.publish_events(lines[half:])
        wait_until(lambda: caught_up(p, p.env["ESUP_WORKER_APP_ID"]), timeout=120, what="the worker")
        at = "2026-10-01T00:00:00+08:00"
        p.advance(at)
    finally:
        assert launcher.start().state == "running"
    client = connect_url(url.rsplit("/", 1)[0] + "/default")
    expected = reference(lines, at)
    got = wait_until(
        lambda: (lambda g: g if set(g) == set(expected) else None)(clickhouse_findings(client, p.database)),
        timeout=120,
        what="every finding after the outage",
    )
    assert got == as_rows(expected)
    wait_until(
        lambda: client.execute(f"SELECT count() FROM {p.database}.case_events FINAL")[0][0] == len(lines),
        timeout=60,
        what="every event row",
    )
    assert "ClickHouse" in p.log("sink")  # the outage was seen and reported, not silently skipped
    # … and the inserts were retried until they landed (not merely a server name in a log line).
    retried = [int(n) for n in re.findall(r"ClickHouse is back: \d+ rows written after (\d+) retries", p.log("sink"))]
    assert retried and all(n >= 1 for n in retried), p.log("sink")[-3000:]


def _malformed(n: int) -> list[tuple[bytes | None, bytes]]:
    good = json.loads(EXAMPLES.read_bytes().splitlines()[0])
    makers = [
        lambda i: b"{not json " + str(i).encode(),
        lambda i: json.dumps({**good, "event_id": f"bad-{i}", "payload": {"materials": "one"}}).encode(),
        lambda i: json.dumps({**good, "event_id": f"bad-{i}", "kind": "teleport"}).encode(),
        lambda i: json.dumps({k: v for k, v in good.items() if k != "occurred_at"} | {"event_id": f"bad-{i}"}).encode(),
        lambda i: json.dumps({**good, "event_id": f"bad-{i}", "payload": {"materials": ["x" * 100] * 800}}).encode(),
        lambda i: json.dumps({**good, "event_id": f"bad-{i}", "staff_id": "张三"}, ensure_ascii=False).encode("gbk"),
        lambda i: json.dumps({**good, "event_id": f"bad-{i}", "occurred_at": "2026-03-02T09:00:00"}).encode(),
        lambda i: b"",
    ]
    return [(good["case_id"].encode(), makers[i % len(makers)](i)) for i in range(n)]


def test_a_thousand_malformed_messages_go_to_dead_letters_and_the_rest_is_processed(make_pipeline: Any) -> None:
    p = make_pipeline().setup()
    valid = sorted(EXAMPLES.read_bytes().splitlines(), key=lambda line: json.loads(line)["occurred_at"])
    bad = _malformed(1000)
    mixed: list[tuple[bytes | None, bytes]] = []
    for i, line in enumerate(valid):  # bad messages between every valid one
        mixed.append((json.loads(line)["case_id"].encode(), line))
        mixed.extend(bad[i * 12 : (i + 1) * 12])
    mixed.extend(bad[len(valid) * 12 :])
    p.produce("case_events", mixed)
    p.worker()
    letters = wait_until(
        lambda: (lambda r: r if len(r) >= 1000 else None)(p.read("dead_letters")), timeout=120, what="1000 dead letters"
    )
    import base64

    decoded = [json.loads(r.value) for r in letters]
    assert len(decoded) == 1000
    import hashlib

    # Each message whole, or (above the dead-letter bound) its prefix with the whole one's length and digest.
    assert sorted(d["value_sha256"] for d in decoded) == sorted(hashlib.sha256(v).hexdigest() for _, v in bad)
    for d in decoded:
        kept = base64.b64decode(d["value_b64"])
        assert len(kept) == d["value_length"] or (d["truncated"] and len(kept) < d["value_length"])
    assert all(
        d["reason"] and d["source_topic"] == p.topics["case_events"] and d["source_offset"] >= 0 for d in decoded
    )
    reasons = " | ".join(d["reason"] for d in decoded)
    for expected_reason in (
        "invalid JSON",
        "unknown kind",
        "Field required",
        "exceeds",
        "not UTF-8",
        "timezone",
        "payload.materials",
    ):
        assert expected_reason in reasons
    wait_until(lambda: caught_up(p, p.env["ESUP_WORKER_APP_ID"]), timeout=60, what="the worker")
    p.advance(EXAMPLES_AT)
    expected = reference(valid, EXAMPLES_AT)
    got = settle(p.findings, expected, timeout=60)
    assert got == expected, diff(got, expected)


def test_two_workers_split_the_partitions_and_find_what_one_worker_finds(make_pipeline: Any) -> None:
    p = make_pipeline(partitions=6).setup()
    lines = synthetic_lines(800, seed=5)
    ports = [free_port(), free_port()]
    p.worker("worker-a", web_port=ports[0])
    p.worker("worker-b", web_port=ports[1])

    def split() -> bool:
        try:
            owned = [set(_status(port)["partitions"]) for port in ports]
        except OSError:
            return False
        return bool(owned[0] and owned[1] and not owned[0] & owned[1])

    wait_until(split, timeout=90, what="the group to give each worker its partitions")
    p.publish_events(lines)
    group = p.env["ESUP_WORKER_APP_ID"]
    wait_until(lambda: caught_up(p, group), timeout=180, what="both workers to catch up")
    at = "2026-10-01T00:00:00+08:00"
    p.advance(at)
    expected = reference(lines, at)
    got = settle(p.findings, expected, timeout=120)
    assert got == expected, diff(got, expected)
    # Both workers owned partitions and processed events; together each event exactly once (no duplicates).
    statuses = [_status(port) for port in ports]
    owned = [set(s["partitions"]) for s in statuses]
    assert owned[0] and owned[1] and not owned[0] & owned[1] and owned[0] | owned[1] == {str(i) for i in range(6)}
    assert all(s["counters"]["events"] > 0 for s in statuses)
    # Each event applied once in all (a redelivery after a rebalance is recognised as a duplicate).
    assert sum(s["counters"]["events"] - s["counters"]["duplicates"] for s in statuses) == len(lines)


def _status(port: int) -> Any:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/esup/status/", timeout=10) as resp:
        return json.loads(resp.read())


def test_catalog_changes_apply_without_a_restart(make_pipeline: Any, tmp_path: Path) -> None:
    """A fee added to an item in the catalog file and published again is in force for the next events."""
    import yaml

    p = make_pipeline(partitions=2).setup()
    port = free_port()
    p.worker(web_port=port)
    wait_until(lambda: _ready(port), timeout=60, what="the worker to load the catalog")
    before = _status(port)["catalog"]

    def case(case_id: str, amount: int) -> list[bytes]:
        base = {
            "case_id": case_id,
            "item_code": "SC-FOOD-001",
            "department_id": "DZ-SCJG",
            "region_code": "511702",
            "staff_id": "s-wang",
            "occurred_at": "2026-03-02T09:00:00+08:00",
            "recorded_at": "2026-03-02T09:01:00+08:00",
        }
        return [
            json.dumps({**base, "event_id": f"{case_id}-1", "kind": "apply", "payload": {}}).encode(),
            json.dumps(
                {
                    **base,
                    "event_id": f"{case_id}-2",
                    "kind": "fee_charged",
                    "payload": {"fee_code": "INSPECT", "amount_fen": amount},
                }
            ).encode(),
        ]

    p.publish_events(case("FREE-1", 3000))
    # Judged before the change: "ready" says the catalog is loaded, not that the worker owns its partitions yet
    # (a slow first assignment would judge FREE-1 under the new catalog, where its fee is within the standard).
    wait_until(lambda: caught_up(p, p.env["ESUP_WORKER_APP_ID"]), timeout=90, what="the worker to judge FREE-1")
    catalog = yaml.safe_load((ROOT / "examples/catalog.yaml").read_text(encoding="utf-8"))
    food = next(i for i in catalog["items"] if i["code"] == "SC-FOOD-001")
    food["fees"] = [{"code": "INSPECT", "standard_fen": 5000, "basis": "test basis"}]
    changed = tmp_path / "catalog.yaml"
    changed.write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    p.esup("catalog", "publish", str(changed))
    wait_until(
        lambda: _status(port)["catalog"]["updates"] > before["updates"],
        timeout=30,
        what="the worker to see the new catalog",
    )
    p.publish_events(case("PAID-1", 3000) + case("PAID-2", 6000))
    wait_until(lambda: caught_up(p, p.env["ESUP_WORKER_APP_ID"]), timeout=60, what="the worker")
    got = wait_until(lambda: (lambda f: f if len(f) >= 2 else None)(p.findings()), timeout=30, what="findings")
    fee_rules = sorted((f["case_id"], f["rule"]) for f in got.values() if f["category"] == "fee")
    assert fee_rules == [("FREE-1", "FEE_ON_FREE_ITEM"), ("PAID-2", "FEE_OVER_STANDARD")]


def _ready(port: int) -> bool:
    try:
        return bool(_status(port)["catalog"]["ready"])
    except OSError:
        return False
