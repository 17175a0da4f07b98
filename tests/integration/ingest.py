"""Helpers for the ingestion tests: a Pipeline with department topics, case events of a department, readers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tests.integration.pipeline import Pipeline

TEMPLATE = {
    "item_code": "SC-FOOD-001",
    "region_code": "511702",
    "staff_id": "s1",
    "kind": "apply",
    "occurred_at": "2026-06-01T09:00:00+08:00",
    "recorded_at": "2026-06-01T09:01:00+08:00",
    "payload": {"materials": ["application_form"]},
}


def event(event_id: str, dept: str, case: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id, "case_id": case or f"case-{event_id}", "department_id": dept, **TEMPLATE}


def line(event_id: str, dept: str, case: str | None = None) -> bytes:
    return json.dumps(event(event_id, dept, case)).encode()


def ingest_pipeline(bootstrap: str, workdir: Path, admin: Any, departments: list[str], partitions: int = 2) -> Pipeline:
    """A pipeline whose ingestion prefix, case-events and dead-letter topics are its own, and exist."""
    p = Pipeline(bootstrap, "clickhouse://default@127.0.0.1:9000/unused", workdir, partitions=partitions)
    p.topics["ingest_prefix"] = f"test.{p.tag}.ingest."
    p.env["ESUP_TOPIC_INGEST_PREFIX"] = p.topics["ingest_prefix"]
    p.env["ESUP_BRIDGE_GROUP"] = f"test-{p.tag}-bridge"
    names = [
        p.topics["case_events"],
        p.topics["dead_letters"],
        *p.audit_topics(),  # the shared audit topic and each writer's (the gateway's, the admin's)
        *(p.topics["ingest_prefix"] + d for d in departments),
    ]
    admin.create_topics(
        {n: {"num_partitions": partitions, "replication_factor": 1} for n in names}, wait_for_metadata=True
    )
    if p.env["ESUP_KAFKA_SECURITY_PROTOCOL"] != "PLAINTEXT":
        p.esup("access", "bootstrap")  # the bridge's and the gateway's grants on this pipeline's names
    return p


def event_ids(p: Pipeline, topic: str = "case_events", idle_s: float = 3.0) -> Counter[str]:
    """How many times each event id is in a topic, as a read_committed reader sees it."""
    return Counter(json.loads(r.value)["event_id"] for r in p.read(topic, idle_s=idle_s))
