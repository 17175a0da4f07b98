"""`esup api serve` as a process, driven over HTTP as a department system and a supervisor would: its users from
the simulated directory (`esup services up`'s users.yaml, passwords in the 0600 file), its messages on the
responses topic, every request in the audit log, and `esup loop run` taking the response in."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from directory.model import dump_directory
from esup.cli.api_users import ensure_users
from sim.directory import build_directory
from sim.province import build_province
from sinks.clickhouse import connect_url, with_database
from tests.integration.pipeline import Pipeline, wait_until
from tests.integration.test_loop_api import insert_findings
from tests.loop_support import finding, t
from tests.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, clickhouse_url: str, kafka_admin: Any, clickhouse_client: Any, tmp_path: Path
) -> Iterator[Pipeline]:
    p = Pipeline(kafka_bootstrap, clickhouse_url, tmp_path / "pipeline", partitions=2)
    p.workdir.mkdir(parents=True)
    p.esup("topics", "create")
    p.esup("db", "migrate")
    yield p
    p.close(kafka_admin, clickhouse_client)


def test_esup_api_serve_answers_over_http(
    pipeline: Pipeline, clickhouse_client: Any, clickhouse_url: str, tmp_path: Path
) -> None:
    p, db = pipeline, pipeline.database
    home = Path(p.env["ESUP_HOME"])
    directory = build_directory(build_province(1, 1, 1), 1)
    path = dump_directory(directory, tmp_path / "directory.yaml")
    users = ensure_users(home, path)
    passwords = json.loads(users.with_name("passwords.json").read_text())
    mine, other = directory.departments[-1], directory.departments[-2]
    bureau = next(b for b in directory.bureaus if mine.region_code.startswith(b.region_code[:4]))
    f_mine = finding(t(2026, 6, 3, 10), case="A", dept=mine.id, region=mine.region_code)
    f_other = finding(t(2026, 6, 3, 11), case="B", dept=other.id, region=other.region_code)
    assert mine.head
    own = connect_url(with_database(clickhouse_url, db))
    insert_findings(own, [f_mine, f_other])
    own.disconnect()
    port = free_port()
    p.start("api", "api", "serve", "--users", str(users), "--directory", str(path), "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base), timeout=60, what="the API to answer")
    p.sink()  # the API audits on the topic only (it has no write login to ClickHouse); the sink copies it
    assert (home / "api" / "token.key").stat().st_mode & 0o777 == 0o600

    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/findings").status_code == 401
        assert http.post("/auth/token", json={"username": f"u-{mine.id}", "password": "wrong"}).status_code == 401
        dept = _login(http, f"u-{mine.id}", passwords)
        assert [x["finding_id"] for x in http.get("/findings", headers=dept).json()] == [f_mine.finding_id]
        assert http.get(f"/findings/{f_other.finding_id}", headers=dept).status_code == 403
        body = {"kind": "rectification", "text": "整改情况：已补正"}
        first = http.post(
            f"/findings/{f_mine.finding_id}/responses", json=body, headers={**dept, "Idempotency-Key": "k1"}
        )
        again = http.post(
            f"/findings/{f_mine.finding_id}/responses", json=body, headers={**dept, "Idempotency-Key": "k1"}
        )
        assert first.status_code == again.status_code == 202
        assert first.json()["message_id"] == again.json()["message_id"]
        sup = _login(http, f"jc-{bureau.region_code}", passwords)
        head = mine.head
        decided = http.post(
            f"/findings/{f_mine.finding_id}/decisions",
            headers=sup,
            json={
                "outcome": "accountability",
                "reason": "整改迟缓",
                "measure": "reminder_talk",
                "target_kind": "head",
                "target_id": head,
            },
        )
        assert decided.status_code == 202, decided.text
        wrong = http.post(
            f"/findings/{f_mine.finding_id}/decisions",
            headers=sup,
            json={
                "outcome": "accountability",
                "reason": "x",
                "measure": "reminder_talk",
                "target_kind": "head",
                "target_id": "nobody",
            },
        )
        assert wrong.status_code == 422  # the directory says who heads the department
        assert (
            http.post(
                f"/findings/{f_mine.finding_id}/decisions", headers=dept, json={"outcome": "confirmed", "reason": "x"}
            ).status_code
            == 403
        )

    on_topic = [json.loads(r.value) for r in p.read("responses")]
    assert [(m["type"], m["actor_id"]) for m in on_topic] == [
        ("response", f"u-{mine.id}"),
        ("response", f"u-{mine.id}"),
        ("decision", f"jc-{bureau.region_code}"),
    ]
    assert len({m["message_id"] for m in on_topic}) == 2  # the retried request is one message
    on_audit_topic = p.read(p.audit_topic("esup-api"))  # the API's own audit topic: its records alone
    assert len(on_audit_topic) == 11
    assert all(json.loads(r.value)["role"] in ("", "department", "supervisor") for r in on_audit_topic)
    audit = wait_until(
        lambda: (lambda r: r if len(r) >= 11 else None)(
            clickhouse_client.execute(
                f"SELECT actor_id, action, status FROM {db}.audit_log FINAL WHERE writer = 'esup-api' "
                "ORDER BY at, audit_id"
            )
        ),
        timeout=60,
        what="the API's audit records in audit_log",
    )
    assert ("", "/findings", 401) in audit and (f"u-{mine.id}", "view_finding", 403) in audit
    assert sum(1 for a in audit if a[1] == "respond" and a[2] == 202) == 2
    assert len(audit) == 11 and (f"jc-{bureau.region_code}", "decide", 422) in audit

    # The loop takes the messages in: one response and one accountability decision for the finding.
    p.produce("findings", [(f_mine.case_id.encode(), f_mine.model_dump_json().encode())])
    p.start("loop", "loop", "run", "--clock", "event")
    q = f"SELECT type, actor_id, measure, target_id FROM {db}.loop_messages FINAL ORDER BY at, type DESC"
    rows = wait_until(
        lambda: (lambda r: r if len(r) == 2 else None)(clickhouse_client.execute(q)),
        timeout=60,
        what="the API's messages in loop_messages",
    )
    assert rows[0][:2] == ("response", f"u-{mine.id}")
    assert rows[1] == ("decision", f"jc-{bureau.region_code}", "reminder_talk", head)
    # The decision the API accepted is matched by its audit record (`esup verify`'s check).
    from sinks.verify_audit import verify_decisions

    assert verify_decisions(clickhouse_client, db) == []


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        time.sleep(0.5)
        return False


def _login(http: httpx.Client, user: str, passwords: dict[str, str]) -> dict[str, str]:
    r = http.post("/auth/token", json={"username": user, "password": passwords[user]})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
