"""The dossier on real ClickHouse and Kafka: the catalog read from its topic, the period the finding used, the head."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from esup.producer import publish_catalog, read_compacted
from loop.basis import catalog_digest, last_audited_publish, resolve, topic_catalog
from loop.config import LoopConfig
from loop.dossier import build, write
from loop.period import deadline_day
from schemas.catalog import parse_catalog
from schemas.config import RuleConfig
from schemas.events import CaseEvent, parse_event
from streams.rules import Context, evaluate
from streams.rules.calendar import TZ, WorkCalendar
from tests.integration.test_loop_api import insert_findings
from tests.support import admin_auth

pytestmark = pytest.mark.integration
ITEM = {
    "code": "SC-PROM-1",
    "name": "承诺件",
    "department_id": "DZ-1",
    "limits": {"decision": {"statutory": 20, "promised": 10}},
}


def _events() -> list[CaseEvent]:
    t = datetime(2026, 2, 9, 10, tzinfo=TZ)  # a Monday before the Spring Festival
    return [
        parse_event(
            {
                "event_id": f"dz-e{i}",
                "case_id": "DZ-CASE-1",
                "item_code": ITEM["code"],
                "department_id": "DZ-1",
                "region_code": "511702",
                "staff_id": "s-1",
                "kind": kind,
                "occurred_at": (t + timedelta(minutes=5 * i)).isoformat(),
                "recorded_at": (t + timedelta(minutes=5 * i + 1)).isoformat(),
                "payload": {},
            }
        )
        for i, kind in enumerate(["apply", "accept"])
    ]


def test_the_dossier_walks_the_promise_with_the_published_catalog_and_names_the_head(
    clean_tables: Any, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    catalog = parse_catalog({"version": "2026.2", "items": [ITEM]})
    events = _events()
    found = evaluate(events, Context.build(WorkCalendar(), catalog, RuleConfig()), datetime(2026, 4, 30, tzinfo=TZ))
    f = next(x for x in found.findings if x.rule == "TIME_DECISION_PROMISE_BREACHED")
    insert_findings(clean_tables, [f])
    clean_tables.execute(
        "INSERT INTO case_events (event_id, case_id, kind, schema_version, item_code, department_id, region_code, "
        "staff_id, occurred_at, recorded_at, payload, source_partition, source_offset) VALUES",
        [
            (
                *(e.event_id, e.case_id, e.kind, e.schema_version, e.item_code, e.department_id, e.region_code),
                *(e.staff_id, e.occurred_at, e.recorded_at, e.payload.model_dump_json(), 2, 40 + i),
            )
            for i, e in enumerate(events)
        ],
    )
    clean_tables.execute(
        "INSERT INTO directory_departments (id, name, region_code, parent, head, bureau, deleted, version) VALUES",
        [("DZ-1", "达州市通川区市场监督管理局", "511702", "", "head-1", "", 0, 1)],
    )
    clean_tables.execute(
        "INSERT INTO directory_staff (id, name, department, roles, email, mobile, deleted, version) VALUES",
        [("s-1", "王晓燕", "DZ-1", ["handler"], "", "", 0, 1), ("head-1", "李建国", "DZ-1", ["head"], "", "", 0, 1)],
    )
    # The deployed catalog is the one on the topic; the example file would say nothing of this item.
    topic = new_topic(1, "catalog", cleanup_policy="compact")
    publish_catalog(kafka_bootstrap, topic, catalog, auth=admin_auth())
    basis = resolve(
        home=tmp_path,
        catalog_file=None,
        rules_file=None,
        calendar_file=None,
        published=lambda: (
            topic_catalog(
                read_compacted(kafka_bootstrap, topic, auth=admin_auth()), topic, last_audited_publish(clean_tables)
            ),
            f"topic {topic}",
        ),
    )
    doc = build(clean_tables, f.finding_id, basis, LoopConfig())
    comp = doc["deadline_computation"]
    assert comp["last_day"] == deadline_day(f).isoformat() and comp["deadline_at"] == f.deadline.isoformat()  # type: ignore[union-attr]
    assert comp["limit_source"] == "promised" and comp["working_days"] == 10 and comp["agrees_with_finding"]
    assert [d["counted"] for d in comp["days"] if d["counted"]] == list(range(1, 11))
    assert doc["basis"]["catalog"]["source"] == f"topic {topic}"
    assert catalog_digest(catalog) in doc["basis"]["catalog"]["version"]
    assert doc["basis"]["calendar"]["version"] == f.calendar_version
    assert not [w for w in doc["warnings"] if "calendar" in w or "the finding used" in w]
    assert doc["accountable"] == {
        "staff_id": "s-1",
        "staff_name": "王晓燕",
        "department_id": "DZ-1",
        "department_name": "达州市通川区市场监督管理局",
        "head_staff_id": "head-1",
        "head_name": "李建国",
    }
    assert [(e["source_partition"], e["source_offset"]) for e in doc["events"]] == [(2, 40), (2, 41)]
    paths = write(doc, tmp_path / "out")
    assert json.loads(paths[0].read_text())["accountable"]["head_name"] == "李建国"
    assert paths[1].stat().st_size > 1000
