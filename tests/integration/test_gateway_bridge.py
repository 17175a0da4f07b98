"""The bridge on real Kafka: each department's topic into case events exactly once, foreign events dead-lettered."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ingest import event_ids, ingest_pipeline, line
from tests.integration.pipeline import Pipeline, wait_until
from tests.support import admin_auth

pytestmark = pytest.mark.integration


@pytest.fixture
def pipe(kafka_bootstrap: str, kafka_admin: Any, tmp_path: Path) -> Iterator[Pipeline]:
    p = ingest_pipeline(kafka_bootstrap, tmp_path, kafka_admin, ["DA", "DB"])
    yield p
    p.close(kafka_admin)


def committed_count(p: Pipeline) -> Callable[[], int]:
    """How many records a read_committed reader has seen on case events so far (read incrementally: cheap)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=p.bootstrap, isolation_level="read_committed", enable_auto_commit=False, **admin_auth()
    )
    tps = [TopicPartition(p.topics["case_events"], i) for i in range(p.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    seen = [0]

    def count() -> int:
        seen[0] += sum(len(rs) for rs in consumer.poll(timeout_ms=50).values())
        return seen[0]

    return count


def ingest(p: Pipeline, dept: str, records: list[tuple[bytes | None, bytes]]) -> int:
    return p.produce(p.topics["ingest_prefix"] + dept, records, linger_ms=50, batch_size=512 * 1024)


def test_bridge_forwards_each_valid_event_once_and_dead_letters_what_speaks_for_another(pipe: Pipeline) -> None:
    good_a = [(f"case-a{i}".encode(), line(f"a{i}", "DA")) for i in range(40)]
    good_b = [(f"case-b{i}".encode(), line(f"b{i}", "DB")) for i in range(30)]
    ingest(
        pipe,
        "DA",
        [*good_a, (b"case-x1", line("x1", "DB")), (b"case-x2", b'{"event_id": '), (b"not-the-case", line("x3", "DA"))],
    )
    ingest(pipe, "DB", good_b)
    pipe.start("bridge", "gateway", "bridge")
    dead = wait_until(
        lambda: len(r := pipe.read("dead_letters", idle_s=1)) >= 3 and r, timeout=60, what="three dead letters"
    )
    got = wait_until(lambda: len(ids := event_ids(pipe)) >= 70 and ids, timeout=60, what="70 events forwarded")
    assert got == {f"a{i}": 1 for i in range(40)} | {f"b{i}": 1 for i in range(30)}
    letters = {json.loads(r.value)["source_offset"]: json.loads(r.value) for r in dead}
    assert len(letters) == 3
    claimed, bad, keyed = (letters[k] for k in sorted(letters))
    prefix = pipe.topics["ingest_prefix"]
    assert claimed["reason"] == (
        f"department_id: 'DB' claimed by an event on DA's topic {prefix}DA (principal dept-DA)"
    )
    assert base64.b64decode(claimed["value_b64"]) == line("x1", "DB") and claimed["source_topic"] == prefix + "DA"
    assert "invalid JSON" in bad["reason"]
    assert keyed["reason"].startswith("key: b'not-the-case'") and "'case-x3'" in keyed["reason"]
    # Forwarded bytes and keys are the department's own, unchanged.
    forwarded = {r.key: r.value for r in pipe.read("case_events", idle_s=1)}
    assert forwarded[b"case-a7"] == line("a7", "DA")
    pipe.stop("bridge")
    assert "Traceback" not in pipe.log("bridge")


def test_bridge_survives_kill_9_mid_stream_with_nothing_lost_or_duplicated(pipe: Pipeline) -> None:
    n = 30_000
    ingest(pipe, "DA", [(f"case-a{i % 997}".encode(), line(f"a{i}", "DA", f"case-a{i % 997}")) for i in range(n)])
    ingest(pipe, "DB", [(f"case-b{i % 991}".encode(), line(f"b{i}", "DB", f"case-b{i % 991}")) for i in range(n)])
    total = 2 * n
    seen = committed_count(pipe)
    for _ in range(2):
        before = seen()
        pipe.start("bridge", "gateway", "bridge")
        # Killed once it has committed a few transactions and is in the middle of the next ones: the restart
        # must resume from the offsets committed with them, and drop what the open one wrote.
        wait_until(
            lambda b=before: seen() > b + 3000,
            timeout=120,
            every=0.01,  # type: ignore[misc]
            what="the bridge committing",
        )
        pipe.stop("bridge", kill=True)
    done = sum(event_ids(pipe, idle_s=1).values())
    assert done < total, "the bridge finished before the kill -9 landed mid-stream: make the input larger"
    pipe.start("bridge", "gateway", "bridge")
    got = wait_until(
        lambda: sum((ids := event_ids(pipe, idle_s=2)).values()) >= total and ids,
        timeout=300,
        every=2,
        what=f"all {total} events",
    )
    time.sleep(3)
    got = event_ids(pipe, idle_s=2)
    pipe.stop("bridge")
    assert len(got) == total and max(got.values()) == 1, (
        f"{total - len(got)} lost, {sum(v - 1 for v in got.values())} duplicated"
    )
    assert not pipe.read("dead_letters", idle_s=1)
