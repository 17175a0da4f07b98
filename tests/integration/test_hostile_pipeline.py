"""The hostile corpus through the real pipeline (two workers and the sink): nothing stops, every hostile
message is a dead letter in ClickHouse naming its field, and the findings equal `esup evaluate` over the
valid events — plus the one finding a conflicting resend must raise (issue 10)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from streams.app import changelog_topic
from tests.hostile import corpus
from tests.integration.pipeline import (
    ROOT,
    committed_lag,
    reference,
    wait_for_split,
    wait_until,
    worker_status,
)
from tests.integration.test_pipeline import make_pipeline  # noqa: F401 - fixture
from tests.ports import free_port
from tests.support import synthetic_lines

pytestmark = pytest.mark.integration

AT = "2026-10-01T00:00:00+08:00"


def test_hostile_corpus_through_two_workers_and_the_sink(make_pipeline: Any, clickhouse_client: Any) -> None:  # noqa: F811
    p = make_pipeline(partitions=4)
    p.esup("topics", "create")
    p.esup("db", "migrate")  # no catalog yet: the workers must wait for one, not judge against nothing
    # A malformed row in the changelog (written before any worker owns the partition): quarantined, not fatal.
    from esup.settings import load_settings

    settings = load_settings(kafka_bootstrap_servers=p.bootstrap, worker_app_id=p.env["ESUP_WORKER_APP_ID"])
    from streams.app import _ensure_changelog

    _ensure_changelog(settings.model_copy(update={"case_events_partitions": 4}))
    p.produce(changelog_topic(settings), [(b"HX-GHOST", b"{not a row")], partition=0)

    ports = [free_port(), free_port()]
    workers = [p.worker(f"worker-{i}", web_port=port) for i, port in enumerate(ports)]
    sink = p.sink()
    lines = synthetic_lines(300, seed=6)
    p.publish_events(lines[: len(lines) // 2])

    def catalog_state() -> str:
        try:
            return str(worker_status(ports[0])["catalog"]["state"])
        except OSError:  # the status page is not up yet
            return ""

    # The feed reads the (empty) catalog topic to its end, then says it waits; on a busy machine that takes a while.
    wait_until(lambda: "waiting" in catalog_state(), timeout=90, what="the worker to wait for a catalog")
    time.sleep(2)
    status = worker_status(ports[0])
    assert status["catalog"]["ready"] is False and "waiting" in status["catalog"]["state"]
    assert status["counters"]["events"] == 0  # nothing judged against an empty catalog
    p.esup("catalog", "publish", str(ROOT / "examples/catalog.yaml"))
    wait_for_split(ports)

    hostile = corpus()
    p.produce("case_events", [(h.key, h.raw) for h in hostile])
    # A resend of a valid event with other content (a 5,000-fen fee for the province's own fee event).
    fee = next(json.loads(line) for line in lines[: len(lines) // 2] if json.loads(line)["kind"] == "fee_charged")
    resent = {**fee, "payload": {**fee["payload"], "amount_fen": fee["payload"]["amount_fen"] + 4000}}
    p.produce("case_events", [(fee["case_id"].encode(), json.dumps(resent).encode())])
    # A forged tick far in the future on every partition.
    forged = [(None, json.dumps({"partition": i, "now": "2039-01-01T00:00:00+08:00"}).encode()) for i in range(4)]
    for i, (key, value) in enumerate(forged):
        p.produce("ticks", [(key, value)], partition=i)
    p.publish_events(lines[len(lines) // 2 :])

    group = p.env["ESUP_WORKER_APP_ID"]
    wait_until(
        lambda: committed_lag(p.bootstrap, group, p.topics["case_events"]) == 0,
        timeout=180,
        what="the workers to catch up",
    )
    p.advance(AT)
    expected = {fid: (f["case_id"], f["rule"], f["severity"]) for fid, f in reference(lines, AT).items()}

    def findings() -> dict[str, tuple[str, str, str]]:
        rows = clickhouse_client.execute(f"SELECT finding_id, case_id, rule, severity FROM {p.database}.findings FINAL")
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    got = wait_until(
        lambda: (lambda g: g if set(expected) <= set(g) else None)(findings()),
        timeout=180,
        what="every reference finding in ClickHouse",
    )
    extra = {k: v for k, v in got.items() if k not in expected}
    assert list(extra.values()) == [(fee["case_id"], "DQ_CONFLICTING_RESEND", "yellow")], extra
    assert {k: got[k] for k in expected} == expected  # field for field

    import base64
    import hashlib

    def letters() -> list[tuple[str, int, str, str]]:
        rows = clickhouse_client.execute(
            "SELECT source_topic, source_partition, reason, value_sha256, value_b64 "
            f"FROM {p.database}.dead_letters FINAL"
        )
        return [(t, n, why, sha or hashlib.sha256(base64.b64decode(b64)).hexdigest()) for t, n, why, sha, b64 in rows]

    want = len(hostile) + len(forged) + 1  # + the quarantined changelog row
    rows = wait_until(
        lambda: (lambda r: r if len(r) >= want else None)(letters()),
        timeout=120,
        what=f"{want} dead letters in ClickHouse",
    )
    by_sha = {r[3]: r for r in rows}
    for h in hostile:
        row = by_sha.get(hashlib.sha256(h.raw).hexdigest())
        assert row is not None, f"no dead letter for {h.name}"
        assert row[2].startswith(f"{h.field}:") or f"{h.field}:" in row[2], (h.name, row[2])
    ticks = [r for r in rows if r[0] == p.topics["ticks"]]
    assert len(ticks) == 4 and all("tick.now" in r[2] for r in ticks)
    assert any("quarantined" in r[2] for r in rows)
    for proc in [*workers, sink]:
        assert proc.poll() is None, "a process died"
