"""The console's server time per page with a province of 100,000 cases in ClickHouse (ESUP_BENCH_CASES to change).

Prints the scoreboard's build times (the score pages read it), then each page's median and worst of a few
requests (in process, through the whole ASGI stack, the audit included; no browser, no network); the issue's
budget is 300 ms a page. Figures: docs/performance.md.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from esup.stack.servers import Provided
from sinks.clickhouse import connect_url
from sinks.scoreboard import refresh
from tests.console_support import PASSWORD, console_app
from tests.integration.analytics_db import fresh_database, insert
from tests.loop_support import t
from tests.support import admin_auth

pytestmark = pytest.mark.bench
DB = "esup_bench_console"
CASES = int(os.environ.get("ESUP_BENCH_CASES", "100000"))
DEPTS, STAFF_PER_DEPT = 200, 10
KINDS = ("apply", "accept", "review", "approve", "certificate_delivered")


def region(dept: int) -> str:
    return "51%02d%02d" % (17 if dept == 0 else 1 + dept // 10, 2 if dept == 0 else 1 + dept % 10)  # noqa: UP031


def dept_id(k: int) -> str:
    return "DZ-1" if k == 0 else f"D-{k:03d}"  # DZ-1 (Dazhou 511702) is the test users' department


def load(client: Any, n: int) -> dict[str, str]:
    rnd = random.Random(7)
    events, snaps, findings, messages = [], [], [], []
    start = t(2026, 6, 1, 9)
    for i in range(n):
        k = i % DEPTS
        case, dept, staff = f"C{i:06d}", dept_id(k), f"s-{k:03d}-{i % STAFF_PER_DEPT}"
        opened = start + timedelta(minutes=(i * 263) % (180 * 24 * 60))
        for j, kind in enumerate(KINDS):
            at = opened + timedelta(days=2 * j)
            events.append(
                {
                    "event_id": f"{case}-{j}",
                    "case_id": case,
                    "kind": kind,
                    "schema_version": 1,
                    "item_code": "ITEM",
                    "department_id": dept,
                    "region_code": region(k),
                    "staff_id": staff,
                    "occurred_at": at,
                    "recorded_at": at,
                    "payload": "{}",
                    "source_partition": i % 6,
                    "source_offset": i * 5 + j,
                }
            )
        done = opened + timedelta(days=8)
        snaps.append(
            {
                "case_id": case,
                "item_code": "ITEM",
                "department_id": dept,
                "region_code": region(k),
                "responsible_staff": staff,
                "first_staff": staff,
                "stage": "concluded",
                "outcome": "granted",
                "open": 0,
                "deemed_accepted": 0,
                "decision_deadline": opened + timedelta(days=28),
                "working_days_used": 6,
                "next_due": None,
                "last_event_at": done,
                "provisional": 0,
                "calendar_version": "bench",
                "clocks": "[]",
                "updated_at": done,
                "version": 1,
            }
        )
        if rnd.random() < 0.3:
            sev = rnd.choice(("notice", "yellow", "yellow", "red"))
            fid = f"F{i:06d}"
            findings.append(
                {
                    "finding_id": fid,
                    "schema_version": 1,
                    "case_id": case,
                    "rule": "TIME_DECISION_OVERDUE",
                    "category": "time",
                    "severity": sev,
                    "title": "超期未决定",
                    "message": "m",
                    "staff_id": staff,
                    "department_id": dept,
                    "region_code": region(k),
                    "item_code": "ITEM",
                    "detected_at": opened + timedelta(days=5),
                    "deadline": None,
                    "law_article": "行政许可法 第42条",
                    "evidence_event_ids": [f"{case}-1"],
                    "calendar_version": "bench",
                    "provisional": 0,
                    "details": "{}",
                    "version": 1,
                }
            )
            if sev != "notice" and rnd.random() < 0.5:
                messages.append(_message(fid, "response", opened + timedelta(days=6), dept))
                if rnd.random() < 0.5:
                    messages.append(_message(fid, "decision", opened + timedelta(days=7), ""))
    for table, rows in (("case_events", events), ("case_snapshots", snaps), ("findings", findings)):
        for s in range(0, len(rows), 50_000):
            insert(client, table, rows[s : s + 50_000])
    cols = list(messages[0])
    client.execute(
        f"INSERT INTO loop_messages ({', '.join(cols)}) VALUES", [tuple(m[c] for c in cols) for m in messages]
    )
    client.execute(
        "INSERT INTO directory_departments (id, name, region_code, parent, head, bureau, deleted, version) VALUES",
        [(dept_id(k), f"第{k}部门", region(k), "", "", "", 0, 1) for k in range(DEPTS)],
    )
    client.execute(
        "INSERT INTO directory_staff (id, name, department, roles, email, mobile, deleted, version) VALUES",
        [
            (f"s-{k:03d}-{j}", f"工作人员{k}-{j}", dept_id(k), ["handler"], "", "", 0, 1)
            for k in range(DEPTS)
            for j in range(STAFF_PER_DEPT)
        ],
    )
    first = next(f for f in findings if f["department_id"] == "DZ-1")
    return {"finding": first["finding_id"], "case": first["case_id"], "staff": first["staff_id"]}


def _message(fid: str, kind: str, at: Any, dept: str) -> dict[str, Any]:
    decision = kind == "decision"
    return {
        "message_id": f"{fid}-{kind}",
        "finding_id": fid,
        "type": kind,
        "schema_version": 1,
        "actor_id": "u",
        "department_id": dept,
        "at": at,
        "kind": "" if decision else "explanation",
        "outcome": "confirmed" if decision else "",
        "reason": "r" if decision else "",
        "dismissal_reason": "",
        "recommendation": "",
        "report_within_wd": 0,
        "measure": "",
        "target_kind": "",
        "target_id": "",
        "text": "" if decision else "说明",
        "attachments": "[]",
        "body": json.dumps({}),
        "source_partition": 0,
        "source_offset": 0,
    }


def test_every_page_with_a_province_of_cases(
    clickhouse_server: Provided, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    from esup.producer import kafka_producer

    client = fresh_database(clickhouse_server.address, DB)
    began = time.perf_counter()
    ids = load(client, CASES)
    print(f"\nloaded {CASES} cases in {time.perf_counter() - began:.0f} s")
    # The scoreboard the score pages read (sinks/scoreboard.py): its first build, a rebuild swapped over a
    # board in place, and the look that finds nothing changed (what `esup scores refresh --every` pays each round).
    for what in ("first build", "rebuild and swap"):
        began = time.perf_counter()
        done = refresh(client, force=True)
        print(
            f"scoreboard {what}: {1000 * (time.perf_counter() - began):,.0f} ms "
            f"({done.rows['department']:,} department and {done.rows['staff']:,} staff rows)"
        )
    began = time.perf_counter()
    assert refresh(client) is None
    print(f"scoreboard check, inputs unchanged: {1000 * (time.perf_counter() - began):,.1f} ms")
    producer = kafka_producer(kafka_bootstrap, "bench-console", auth=admin_auth())
    topics = {"responses": new_topic(1, "responses"), "audit": new_topic(1, "audit")}
    app = console_app(lambda: connect_url(clickhouse_server.address, DB), producer, topics, lambda: t(2026, 11, 20, 10))
    pages = {
        "dz1": [
            "/inbox",
            f"/findings/{ids['finding']}",
            f"/cases/{ids['case']}",
            "/departments/DZ-1",
            f"/staff/{ids['staff']}",
            "/ranking",
            "/live/ranking",
            "/live/inbox",
            "/bulletins",
        ],
        "sup-dazhou": ["/queue", "/ranking", "/departments/DZ-1"],
    }
    try:
        for user, paths in pages.items():
            web = TestClient(app, base_url="http://127.0.0.1")
            token = web.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
            assert (
                web.post(
                    "/login", data={"username": user, "password": PASSWORD, "csrf": token}, follow_redirects=False
                ).status_code
                == 303
            )
            for path in paths:
                times = []
                for _ in range(5):
                    began = time.perf_counter()
                    r = web.get(path)
                    times.append(1000 * (time.perf_counter() - began))
                    assert r.status_code == 200, (path, r.status_code)
                print(f"{user:<11} {path:<32} median {statistics.median(times):7.1f} ms  worst {max(times):7.1f} ms")
    finally:
        producer.close()
        client.execute(f"DROP DATABASE IF EXISTS {DB}")
