"""End to end, the correction loop: a simulated province → worker → findings → the notifier's mail (a real SMTP
server) → the departments' responses and the supervisors' decisions (`esup loop simulate`) → `esup loop run` →
supervision findings, decisions and accountability measures in ClickHouse, equal to the simulator's loop truth;
then `esup dossier` on one of those findings. Everything runs as a person runs it, on the real servers.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from directory.index import DirectoryIndex
from directory.model import load_directory
from notifier.config import load_config
from notifier.receivers import SmtpReceiver
from notifier.routing import plan
from schemas.findings import Finding
from sim.respond import TRUTH_FILE
from sim.truth import read_loop_truth, read_truth
from streams.rules.calendar import TZ
from tests.integration.pipeline import Pipeline, committed_lag, wait_until
from tests.ports import free_port

pytestmark = pytest.mark.integration

CASES = 300


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, clickhouse_url: str, kafka_admin: Any, clickhouse_client: Any, tmp_path: Path
) -> Iterator[Pipeline]:
    p = Pipeline(kafka_bootstrap, clickhouse_url, tmp_path / "pipeline", partitions=2)
    p.workdir.mkdir(parents=True)
    yield p
    p.close(kafka_admin, clickhouse_client)


def count_findings(client: Any, db: str) -> int:
    return int(client.execute(f"SELECT count() FROM {db}.findings FINAL WHERE category != 'supervision'")[0][0])


def topic_findings(p: Pipeline) -> list[Finding]:
    """The findings on Kafka (one per id: a redelivered finding is the same finding)."""
    return list({f.finding_id: f for f in (Finding.model_validate_json(r.value) for r in p.read("findings"))}.values())


def supervision_in_clickhouse(client: Any, db: str) -> Counter[tuple[str, str, datetime]]:
    rows = client.execute(f"SELECT rule, detected_at, details FROM {db}.findings FINAL WHERE category = 'supervision'")
    return Counter((json.loads(d)["supervised_finding_id"], r, t.astimezone(TZ)) for r, t, d in rows)


def test_the_correction_loop_of_a_simulated_province_ends_as_the_truth_says(
    pipeline: Pipeline, clickhouse_client: Any, tmp_path: Path
) -> None:
    p, sim, db = pipeline, tmp_path / "sim", pipeline.database
    began = time.monotonic()
    p.esup("simulate", "--catalog-only", "--seed", "14", "--out", str(sim))
    p.setup(catalog=sim / "catalog.yaml")
    p.esup("db", "views")
    p.esup("directory", "publish", str(sim / "directory.yaml"))
    inbox = tmp_path / "inbox"
    smtp = SmtpReceiver(inbox, free_port()).start()
    config_file = tmp_path / "notifier.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "notifier": {
                    "quiet_hours": [],
                    "retry": {"initial_s": 0.5, "max_s": 2},
                    "channels": {
                        "email": {"port": smtp.port, "timeout_s": 3},
                        "webhook": {"enabled": False},
                        "sms": {"enabled": False},
                    },
                }
            }
        )
    )
    try:
        p.worker("worker")
        p.sink()
        p.start(
            "notifier",
            "notifier",
            "run",
            "--config",
            str(config_file),
            "--loglevel",
            "warning",
            env={"ESUP_NOTIFIER_GROUP": f"test-{p.tag}-notifier"},
        )
        p.esup(
            "simulate",
            "--cases",
            str(CASES),
            "--seed",
            "14",
            "--violation-rate",
            "0.4",
            "--to-kafka",
            "--speed",
            "max",
            "--out",
            str(sim),
            timeout=300,
        )
        manifest = json.loads((sim / "manifest.json").read_text())
        truth = read_truth(sim / "truth.jsonl")
        wait_until(
            lambda: committed_lag(p.bootstrap, p.env["ESUP_WORKER_APP_ID"], p.topics["case_events"]) == 0,
            timeout=150,
            what="the worker to apply every event",
        )
        p.advance(manifest["at"])
        wait_until(
            lambda: count_findings(clickhouse_client, db) >= len(truth),
            timeout=120,
            what=f"{len(truth)} findings in ClickHouse",
        )
        found = topic_findings(p)
        assert Counter((f.case_id, f.rule, f.staff_id) for f in found) == Counter(e.key() for e in truth)

        # 预警推送: every finding's planned emails (staff, head, bureau) reached the SMTP server exactly once.
        index = DirectoryIndex.of(load_directory(sim / "directory.yaml"))
        config = load_config(config_file)
        mails = {d.delivery_id: d for f in found for d in plan(f, index, config, escalation=False) if d.address}
        assert mails and {d.reason for d in mails.values()} >= {"responsible", "head"}
        wait_until(
            lambda: set(mails) <= {r["delivery"] for r in smtp.log.rows}, timeout=120, what=f"{len(mails)} emails"
        )

        # The departments answer (or not) and the supervisors decide, in simulated time up to `until`.
        until = datetime.fromisoformat(manifest["at"]) + timedelta(days=40)
        out = p.esup("loop", "simulate", "--seed", "14", "--until", until.isoformat(), "--out", str(sim))
        loop_truth = read_loop_truth(sim / TRUTH_FILE)
        stories = Counter(e.story for e in loop_truth)
        assert {e.behaviour for e in loop_truth} == {"on_time", "late", "missing"}, stories
        assert len(stories) >= 5, stories
        sent = int(out.stdout.split()[1])
        p.start("loop", "loop", "run", "--clock", "event")

        want = Counter(
            (e.finding_id, rule, datetime.fromisoformat(at)) for e in loop_truth for rule, at in e.supervision
        )
        got = wait_until(
            lambda: (lambda s: s if sum(s.values()) >= sum(want.values()) else None)(
                supervision_in_clickhouse(clickhouse_client, db)
            ),
            timeout=90,
            what=f"{sum(want.values())} escalations",
        )
        time.sleep(2)  # anything beyond the truth would be there by now
        got = supervision_in_clickhouse(clickhouse_client, db)
        assert got == want, f"missing {sorted(want - got)[:3]}; not expected {sorted(got - want)[:3]}"
        assert all(n == 1 for n in got.values())

        count = f"SELECT count() FROM {db}.loop_messages FINAL"
        wait_until(lambda: clickhouse_client.execute(count)[0][0] == sent, timeout=30, what=f"{sent} loop messages")
        # Every simulated decision carries the audit record the API would write: `esup verify` finds none unaudited.
        from sinks.verify_audit import verify_decisions

        wait_until(lambda: verify_decisions(clickhouse_client, db) == [], timeout=60, what="every decision audited")
        status = dict(clickhouse_client.execute(f"SELECT finding_id, status FROM {db}.finding_decisions"))
        assert {e.finding_id: status[e.finding_id] for e in loop_truth} == {e.finding_id: e.status for e in loop_truth}
        measures = Counter(
            tuple(r)
            for r in clickhouse_client.execute(
                f"SELECT finding_id, measure, target_kind, target_id FROM {db}.accountability_measures"
            )
        )
        assert measures == Counter((e.finding_id, *m) for e in loop_truth for m in e.measures)
        assert {m for _, m, _, _ in measures} == {"reminder_talk", "efficiency_warning"}
        assert {e.status for e in loop_truth} >= {"dismissed", "confirmed", "accountability", "recommendation"}

        # The escalations are notified too: the heads of departments hear of the late answers.
        late = [f for f in topic_findings(p) if f.category == "supervision"]
        escalated = {d.delivery_id for f in late for d in plan(f, index, config, escalation=True) if d.address}
        wait_until(
            lambda: escalated <= {r["delivery"] for r in smtp.log.rows}, timeout=120, what="the escalations' emails"
        )
        received = Counter(r["delivery"] for r in smtp.log.rows)
        assert {i: received[i] for i in set(mails) | escalated} == dict.fromkeys(set(mails) | escalated, 1)  # once

        # The dossier of a finding whose recommendation was reported late names the finding, its evidence
        # events, the notifications, the response and every decision.
        story = next(e for e in loop_truth if e.story in ("recommendation_late", "reminder_talk", "appeal_accepted"))
        res = p.esup(
            "dossier", story.finding_id, "--out", str(tmp_path / "dossier"), "--catalog", str(sim / "catalog.yaml")
        )
        assert "dossier.pdf" in res.stdout
        doc = json.loads((tmp_path / "dossier" / "dossier.json").read_text())
        f = next(x for x in found if x.finding_id == story.finding_id)
        assert doc["finding"]["finding_id"] == f.finding_id and doc["rule"]["code"] == f.rule
        assert set(f.evidence_event_ids) <= {e["event_id"] for e in doc["events"]}
        assert all(e["source_offset"] >= 0 for e in doc["events"])
        types = [m["type"] for m in doc["responses_and_decisions"]]
        assert types[0] == "response" and "decision" in types
        assert {n["channel"] for n in doc["notifications"]} == {"email"}
        assert {n["status"] for n in doc["notifications"]} == {"sent"}
        assert (tmp_path / "dossier" / "dossier.pdf").stat().st_size > 1000
        print(
            f"\ne2e loop: {CASES} cases, {len(found)} findings, {len(mails)} emails, {len(loop_truth)} supervised "
            f"({dict(stories)}), {sent} messages, {sum(want.values())} escalations, "
            f"{time.monotonic() - began:.0f} s"
        )
    finally:
        smtp.stop()
