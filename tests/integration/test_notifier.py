"""The notifier on real Kafka, ClickHouse, an SMTP server (aiosmtpd) and an HTTP webhook/SMS receiver.

Findings are produced to a test findings topic inside Kafka transactions, as the workers write them (one
aborted transaction must never be notified). Every assertion counts what the receivers accepted, raw:
each expected (finding, severity, recipient, channel) exactly once, across kill -9 and an SMTP outage.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from directory.index import DirectoryIndex
from directory.model import parse_directory
from notifier.config import load_config
from notifier.receivers import HttpReceiver, SmtpReceiver
from notifier.routing import Delivery, plan
from schemas.findings import Finding
from tests.integration.pipeline import Pipeline, wait_until
from tests.ports import free_port
from tests.support import admin_auth
from tests.unit.test_directory import small

pytestmark = pytest.mark.integration
TZ = ZoneInfo("Asia/Shanghai")
KEY = b"test-webhook-key-0123456789abcdef"


def directory_doc() -> dict[str, Any]:
    doc = small()
    doc["staff"][1]["email"] = "s1@x.example"  # the handler
    doc["staff"][1]["mobile"] = "13900000001"
    doc["staff"][0]["mobile"] = "13900000002"  # the head
    doc["staff"].append(
        {
            "id": "S2",
            "name": "周敏",
            "department": "D1",
            "roles": ["handler"],
            "email": "s2@x.example",
            "mobile": "13900000003",
        }
    )
    doc["staff"][2]["email"] = "j1@x.example"  # the bureau's supervisor
    return doc


def finding(case: str, rule: str, severity: str, staff: str = "S1") -> Finding:
    return Finding(
        finding_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{case}/{rule}")),
        case_id=case,
        rule=rule,
        category="time",
        severity=severity,
        title=rule,
        message=f"{case} {rule}",
        staff_id=staff,
        department_id="D1",
        region_code="511700",
        item_code="SC-SCJG-001",
        detected_at=datetime(2026, 3, 2, 17, tzinfo=TZ),
        evidence_event_ids=["e"],
        calendar_version="t",
    )


class Loop:
    """One test's notifier: topics and database (via Pipeline), receivers, config, and the producer."""

    def __init__(self, p: Pipeline, tmp: Path) -> None:
        self.p = p
        self.inbox = tmp / "inbox"
        self.smtp_port = free_port()
        self.smtp = SmtpReceiver(self.inbox, self.smtp_port).start()
        self.http = HttpReceiver(self.inbox, free_port(), KEY).start()
        secret = tmp / "webhook.key"
        secret.write_bytes(KEY)
        secret.chmod(0o600)
        self.config_file = tmp / "notifier.yaml"
        self.config_file.write_text(
            yaml.safe_dump(
                {
                    "notifier": {
                        "quiet_hours": [],  # the test may run at night: no SMS is deferred
                        "retry": {"initial_s": 0.5, "max_s": 2},
                        "channels": {
                            "email": {"port": self.smtp_port, "timeout_s": 3},
                            "webhook": {
                                "url": f"http://127.0.0.1:{self.http.port}/webhook",
                                "secret_file": str(secret),
                            },
                            "sms": {"url": f"http://127.0.0.1:{self.http.port}/sms"},
                        },
                    }
                }
            )
        )
        self.config = load_config(self.config_file)
        self.index = DirectoryIndex.of(parse_directory(directory_doc()))
        self.expected: dict[str, Delivery] = {}
        self._producer: Any = None

    def notifier(self, env: dict[str, str] | None = None) -> None:
        self.p.start(
            "notifier",
            "notifier",
            "run",
            "--config",
            str(self.config_file),
            "--loglevel",
            "warning",
            env={"ESUP_NOTIFIER_GROUP": f"test-{self.p.tag}-notifier", **(env or {})},
        )

    def produce(self, findings: list[Finding], *, abort: bool = False, expect: bool = True) -> None:
        from kafka import KafkaProducer

        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.p.bootstrap, transactional_id=f"t-{self.p.tag}", **admin_auth()
            )
            self._producer.init_transactions()
        self._producer.begin_transaction()
        for f in findings:
            self._producer.send(self.p.topics["findings"], key=f.case_id.encode(), value=f.model_dump_json().encode())
        if abort:
            self._producer.abort_transaction()
            return
        self._producer.commit_transaction()
        if expect:
            seen: dict[str, int] = {}
            for f in findings:
                before = max(
                    [seen.get(f.case_id, 0)]
                    + [_rank(d.severity) for d in self.expected.values() if d.case_id == f.case_id]
                )
                for d in plan(f, self.index, self.config, escalation=0 < before < _rank(f.severity.value)):
                    self.expected.setdefault(d.delivery_id, d)
                seen[f.case_id] = max(before, _rank(f.severity.value))

    def received(self) -> dict[str, Counter[str]]:
        return {
            "email": Counter(r["delivery"] for r in self.smtp.log.rows),
            "webhook": Counter(r["delivery"] for r in self.http.webhooks.rows),
            "sms": Counter(r["delivery"] for r in self.http.sms.rows),
        }

    def expected_by_channel(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {"email": set(), "webhook": set(), "sms": set()}
        for d in self.expected.values():
            if d.address:
                out[d.channel].add(d.delivery_id)
        return out

    def delivered(self, ids: set[str], channel: str) -> bool:
        got = self.received()[channel]
        return all(got[i] >= 1 for i in ids)

    def close(self) -> None:
        self.smtp.stop()
        self.http.stop()
        if self._producer is not None:
            self._producer.close()


def _rank(severity: str) -> int:
    return {"notice": 1, "yellow": 2, "red": 3}[severity]


@pytest.fixture
def loop(
    kafka_bootstrap: str, clickhouse_url: str, kafka_admin: Any, clickhouse_client: Any, tmp_path: Path
) -> Iterator[Loop]:
    p = Pipeline(kafka_bootstrap, clickhouse_url, tmp_path / "p", partitions=2)
    p.workdir.mkdir(parents=True)
    p.esup("topics", "create")
    p.esup("db", "migrate")
    doc = tmp_path / "directory.yaml"
    doc.write_text(yaml.safe_dump(directory_doc(), allow_unicode=True), encoding="utf-8")
    p.esup("directory", "publish", str(doc))
    lp = Loop(p, tmp_path)
    try:
        yield lp
    finally:
        lp.close()
        p.close(kafka_admin, clickhouse_client)


def ledger(client: Any, database: str) -> dict[str, tuple[str, int, str]]:
    rows = client.execute(
        f"SELECT delivery_id, argMax(status, seq), max(attempt), any(head_id) "
        f"FROM {database}.notification_deliveries GROUP BY delivery_id"
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def assert_exactly_once(lp: Loop) -> None:
    got, want = lp.received(), lp.expected_by_channel()
    for channel in ("email", "webhook", "sms"):
        extra = set(got[channel]) - want[channel]
        twice = {k: n for k, n in got[channel].items() if n > 1}
        missing = want[channel] - set(got[channel])
        assert not (extra or twice or missing), f"{channel}: extra {extra}, twice {twice}, missing {missing}"


def test_yellow_cards_reach_handler_and_head_exactly_once_across_kill_and_smtp_outage(
    loop: Loop, clickhouse_client: Any
) -> None:
    lp = loop
    lp.notifier()
    batch_a = [finding(f"A{i}", "TIME_DECISION_OVERDUE", "yellow", "S1" if i % 2 else "S2") for i in range(4)]
    batch_a.append(finding("E1", "TIME_DECISION_NOTICE", "notice"))
    lp.produce(batch_a)
    lp.produce([finding("X1", "TIME_DECISION_RED", "red")], abort=True)  # never committed: never notified
    lp.produce(batch_a, expect=False)  # the same findings again (a worker's redelivery)
    wait_until(lambda: lp.delivered(lp.expected_by_channel()["email"], "email"), timeout=60, what="batch A's emails")
    # The yellow card reaches the handler and the head, by email and webhook.
    yellow = [d for d in lp.expected.values() if d.case_id == "A1"]
    assert {(d.recipient, d.channel) for d in yellow} >= {
        ("S1", "email"),
        ("H1", "email"),
        ("S1", "webhook"),
        ("H1", "webhook"),
    }

    lp.smtp.stop()  # SMTP outage: email waits, webhook and SMS go on
    batch_b = [finding(f"B{i}", "TIME_ACCEPT_DEEMED", "yellow", "S2") for i in range(3)]
    batch_b += [finding("E1", "TIME_DECISION_OVERDUE", "yellow"), finding("R1", "TIME_DECISION_RED", "red")]
    lp.produce(batch_b)
    webhooks_b = {d.delivery_id for d in lp.expected.values() if d.case_id[0] in "BER" and d.channel == "webhook"}
    wait_until(lambda: lp.delivered(webhooks_b, "webhook"), timeout=60, what="batch B's webhooks during the outage")
    wait_until(
        lambda: any(s == "failed" for s, _, _ in ledger(clickhouse_client, lp.p.database).values()),
        timeout=30,
        what="failed email attempts in the ledger",
    )
    emails_b = {d.delivery_id for d in lp.expected.values() if d.case_id[0] in "BR" and d.channel == "email"}
    assert not set(lp.received()["email"]) & emails_b

    lp.p.stop("notifier", kill=True)  # kill -9 with emails pending
    batch_c = [finding(f"C{i}", "FEE_OVER_STANDARD", "yellow") for i in range(3)]
    lp.produce(batch_c)  # while the notifier is dead
    lp.produce(batch_b, expect=False)  # and batch B once more
    lp.smtp.start()
    lp.notifier()
    want = lp.expected_by_channel()
    wait_until(lambda: all(lp.delivered(want[c], c) for c in want), timeout=120, what="every delivery")
    wait_until(
        lambda: lp.p.esup("notifier", "deliveries").stdout.count("sent") == 3,
        timeout=30,
        what="the ledger to show every channel sent",
    )
    assert_exactly_once(lp)

    states = ledger(clickhouse_client, lp.p.database)
    expected_ids = {d.delivery_id for d in lp.expected.values() if d.address}
    assert {i for i, (s, _, _) in states.items() if s == "sent"} == expected_ids
    assert all(head == "H1" for _, _, head in states.values())  # accountability recorded with each delivery
    assert max(a for i, (_, a, _) in states.items() if i in emails_b) > 1  # retried after the outage
    # The escalation: E1 had a notice, then a yellow card.
    e1 = [r for r in lp.http.webhooks.rows if r["body"]["case_id"] == "E1" and r["body"]["severity"] == "yellow"]
    assert e1 and all(r["body"]["escalation"] for r in e1)
    # Red and deemed: the bureau hears of the red card; the head answers for both.
    r1 = {r["body"]["recipient"]["id"] for r in lp.http.webhooks.rows if r["body"]["case_id"] == "R1"}
    assert r1 == {"S1", "H1", "J1"}
    assert all(r["body"]["head_accountable"] for r in lp.http.webhooks.rows if r["body"]["case_id"][0] in "BR")
    assert lp.http.rejected == 0
    acct = clickhouse_client.execute(
        f"SELECT count(), uniqExact(department_name), uniqExact(head_name) "
        f"FROM {lp.p.database}.notification_deliveries WHERE status = 'pending' AND head_id = 'H1'"
    )
    assert acct[0] == (len(lp.expected), 1, 1)


def test_kill_right_after_a_send_mid_stream_neither_loses_nor_repeats(loop: Loop) -> None:
    lp = loop
    # Test-only fault hook: the notifier SIGKILLs itself right after recording its 7th send, mid-stream.
    lp.notifier(env={"ESUP_NOTIFIER_TEST_KILL_AFTER_SENT": "7"})
    lp.produce([finding(f"K{i}", "TIME_DECISION_OVERDUE", "yellow", "S1" if i % 2 else "S2") for i in range(8)])
    proc = lp.p.processes["notifier"]
    assert proc.wait(timeout=90) == -9
    lp.p.processes.pop("notifier")
    first = sum(sum(c.values()) for c in lp.received().values())
    assert 7 <= first < len(lp.expected)
    lp.notifier()
    want = lp.expected_by_channel()
    wait_until(lambda: all(lp.delivered(want[c], c) for c in want), timeout=120, what="every delivery")
    wait_until(lambda: True, timeout=3)  # a moment for any (wrong) second copy to arrive
    assert_exactly_once(lp)


def test_a_bad_signature_is_refused(loop: Loop) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"http://127.0.0.1:{loop.http.port}/webhook",
        data=b"{}",
        method="POST",
        headers={"X-Esup-Timestamp": "1", "X-Esup-Signature": "sha256=00"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)  # noqa: S310 - the test's own loopback URL
    assert err.value.code == 401 and loop.http.rejected == 1 and not loop.http.webhooks.rows
    assert os.stat(loop.config_file).st_size > 0


def test_hostile_records_on_the_findings_topic_are_skipped_naming_the_field(loop: Loop) -> None:
    """The message corpus (tests/hostile_messages.py), a valid finding between each, in one committed
    transaction: the notifier stays up, logs each hostile record's offset with the field at fault, and
    delivers every valid finding exactly once."""
    import json

    from kafka import KafkaProducer

    from tests.hostile_messages import interleave, message_corpus

    lp = loop
    lp.notifier()
    base = json.loads(finding("HX", "TIME_DECISION_OVERDUE", "yellow").model_dump_json())
    # A finding's ids and times come from the workers (validated from events), and the bound is the sink's
    # 4 MiB: those entries are findings here; the rest are not.
    findings_too = {"unit separator in the id", "NUL in the id", "bidi override in the id", "near the broker's limit"}
    findings_too |= {"year 9999", "year 1900", "year 1 at +23:00", "unknown field"}
    corpus = [
        h
        for h in message_corpus(
            base, id_field="case_id", time_field="detected_at", text_field="message", what="<finding>"
        )
        if h.name not in findings_too
    ]
    valid = [
        finding(f"V{i}", "TIME_DECISION_OVERDUE", "yellow", "S1" if i % 2 else "S2") for i in range(len(corpus) + 1)
    ]
    slots = interleave(
        corpus, lambda i: (valid[i].case_id.encode(), valid[i].model_dump_json().encode(), valid[i].case_id)
    )
    producer = KafkaProducer(
        bootstrap_servers=lp.p.bootstrap,
        transactional_id=f"t-{lp.p.tag}-hostile",
        max_request_size=1_048_576,
        **admin_auth(),
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        sent = [producer.send(lp.p.topics["findings"], key=s.key, value=s.value, partition=0) for s in slots]
        producer.commit_transaction()
        offsets = {f.get(timeout=30).offset: s for f, s in zip(sent, slots, strict=True)}
    finally:
        producer.close()
    for f in valid:  # what the valid findings must give, computed as produce() does
        for d in plan(f, lp.index, lp.config, escalation=False):
            lp.expected.setdefault(d.delivery_id, d)
    want = lp.expected_by_channel()
    wait_until(
        lambda: all(lp.delivered(want[c], c) for c in want), timeout=120, what="every valid finding's deliveries"
    )
    assert lp.p.processes["notifier"].poll() is None, "the notifier died"
    assert_exactly_once(lp)
    log = lp.p.log("notifier")
    for offset, s in offsets.items():
        if s.hostile is None:
            continue
        field = s.hostile.field or "<finding>"  # a tombstone is not a finding either
        line = next((ln for ln in log.splitlines() if f"partition 0, offset {offset})" in ln), "")
        assert f": {field}:" in line or f"; {field}:" in line, (s.hostile.name, line)
