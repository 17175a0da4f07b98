"""`esup complaints` on real Kafka and ClickHouse: each card at its working-day moment on the event clock (ticks
on esup.ticks) and on the wall clock; a substantiated complaint changes the department ranking; no table holds
the complainant's phone number or name in clear."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from complaints.config import load_complaints_config
from complaints.contract import ComplaintMessage, SealedContact
from complaints.service import COMPLAINTS_CHAIN, ComplaintsService
from complaints.store import ComplaintStore
from esup.stack.servers import Provided
from loop.service import wall_now
from schemas.control import Tick
from schemas.findings import Finding
from sinks.rows import Record, finding_row
from streams.rules.calendar import TZ, WorkCalendar
from tests.complaints_support import msg, t
from tests.integration.analytics_db import fresh_database, insert
from tests.integration.test_loop_service import read_all, send
from tests.support import admin_auth

pytestmark = pytest.mark.integration

DB = "esup_test_complaints_core"
NAME, PHONE, ID_NUMBER = "欧阳明远", "13987654321", "51010319800202123X"
EPS = timedelta(seconds=1)


def sealed_contact() -> SealedContact:
    """The complainant as the intake seals them: a salted hash of the phone and an AES-GCM ciphertext."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce, key = os.urandom(12), AESGCM.generate_key(bit_length=256)
    clear = json.dumps({"name": NAME, "phone": PHONE, "id_number": ID_NUMBER}, ensure_ascii=False).encode()
    sealed = base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, clear, None)).decode().rstrip("=")
    return SealedContact(
        contact_hash=hmac.new(b"salt", PHONE.encode(), hashlib.sha256).hexdigest(), sealed=sealed, key_id="test-1"
    )


@pytest.fixture
def topics(new_topic: Callable[..., str]) -> dict[str, str]:
    return {
        "complaints": new_topic(3, "complaints"),
        "findings": new_topic(3, "findings"),
        "ticks": new_topic(3, "ticks"),
        "dead": new_topic(1, "dead"),
        "heads": new_topic(1, "heads"),
    }


@pytest.fixture
def producer(kafka_bootstrap: str) -> Iterator[Any]:
    from esup.producer import kafka_producer

    p = kafka_producer(kafka_bootstrap, "test-complaints", auth=admin_auth())
    yield p
    p.close()


@pytest.fixture(scope="module")
def db(clickhouse_server: Provided) -> Iterator[Any]:
    c = fresh_database(clickhouse_server.address, DB)
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")


def publish(producer: Any, topic: str, *messages: ComplaintMessage) -> None:
    for m in messages:
        send(producer, topic, m.complaint_id, m.model_dump_json().encode())


def tick(producer: Any, topic: str, now: datetime) -> None:
    producer.send(topic, partition=0, value=Tick(partition=0, now=now).model_dump_json().encode()).get(timeout=30)


def service(kafka_bootstrap: str, topics: dict[str, str], clock: str, **kw: Any) -> ComplaintsService:
    return ComplaintsService(
        bootstrap=kafka_bootstrap,
        complaints_topic=topics["complaints"],
        findings_topic=topics["findings"],
        ticks_topic=topics["ticks"],
        dead_letter_topic=topics["dead"],
        cfg=load_complaints_config(),
        calendar=WorkCalendar(),
        clock=clock,
        heads_topic=topics["heads"],
        auth=admin_auth(),
        **kw,
    )


def cards(bootstrap: str, topic: str) -> list[Finding]:
    return [Finding.model_validate_json(v) for v in read_all(bootstrap, topic)]


def raise_until(svc: ComplaintsService, n: int) -> list[Finding]:
    out: list[Finding] = []
    for _ in range(20):
        out += svc.step(300)
        if len(out) >= n:
            break
    return out


def test_event_clock_each_card_at_its_moment(
    kafka_bootstrap: str, topics: dict[str, str], producer: Any, db: Any
) -> None:
    contact = sealed_contact()
    # A: received Fri 13 Feb, never dispatched: 14 Feb (调休), 24, 25 Feb → notice at 26 Feb 00:00.
    a = [msg("A", "received", t(2026, 2, 13, 10), complainant=contact.model_dump(), text=f"窗口态度差, 请回电 {PHONE}")]
    # B: dispatched Mon 2 Mar, no reply: yellow 10 Mar 00:00, red 17 Mar 00:00.
    b = [msg("B", "received", t(2026, 3, 2, 9)), msg("B", "dispatched", t(2026, 3, 2, 10))]
    # C: three extensions (the third on Wed 4 Mar 11:00: red), replied in time.
    c = [
        msg("C", "received", t(2026, 3, 2, 9)),
        msg("C", "dispatched", t(2026, 3, 2, 10)),
        *[msg("C", "extended", t(2026, 3, 4, 9 + i), key=str(i), extra_wd=1) for i in range(3)],
        msg("C", "replied", t(2026, 3, 5)),
    ]
    # D: unsatisfied twice (red at the second, Thu 5 Mar 15:00).
    d = [
        msg("D", "received", t(2026, 3, 2, 9)),
        msg("D", "dispatched", t(2026, 3, 2, 10)),
        msg("D", "replied", t(2026, 3, 3)),
        msg("D", "evaluated", t(2026, 3, 4), rating="unsatisfied"),
        msg("D", "reopened", t(2026, 3, 4, 12)),
        msg("D", "replied", t(2026, 3, 5), key="2"),
        msg("D", "evaluated", t(2026, 3, 5, 15), key="2", rating="unsatisfied"),
    ]
    publish(producer, topics["complaints"], *a)
    send(producer, topics["complaints"], "x", f'{{"type": "received", "text": "{PHONE}"}}'.encode())
    svc = service(kafka_bootstrap, topics, "event", store=ComplaintStore(db))
    try:
        svc.start()
        assert svc.sweep() == []  # the clock stands at the receipt
        moments = [(t(2026, 2, 26), {("A", "CMP_DISPATCH_LATE")})]
        tick(producer, topics["ticks"], moments[0][0] - EPS)
        assert raise_until(svc, 1) == []
        tick(producer, topics["ticks"], moments[0][0])
        assert {(f.details["complaint_id"], f.rule) for f in raise_until(svc, 1)} == moments[0][1]
        # The event clock also moves with the messages' own times: they go out in time order, as they happen.
        later = sorted([*b, *c, *d], key=lambda m: m.at)
        expected = [
            (t(2026, 3, 4, 11), ("C", "CMP_EXTENDED_TOO_OFTEN")),
            (t(2026, 3, 5, 15), ("D", "CMP_UNSATISFIED_AGAIN")),
            (t(2026, 3, 10), ("B", "CMP_REPLY_LATE")),
            (t(2026, 3, 17), ("B", "CMP_REPLY_LATE_RED")),
        ]
        for moment, card in expected:
            publish(producer, topics["complaints"], *[m for m in later if m.at < moment])
            tick(producer, topics["ticks"], moment - EPS)
            assert raise_until(svc, 1) == [], card
            publish(producer, topics["complaints"], *[m for m in later if m.at == moment])
            later = [m for m in later if m.at > moment]
            tick(producer, topics["ticks"], moment)
            got = raise_until(svc, 1)
            assert [((f.details["complaint_id"], f.rule), f.detected_at) for f in got] == [(card, moment)]
    finally:
        svc.close()
    on_topic = cards(kafka_bootstrap, topics["findings"])
    assert len(on_topic) == 5 and all(f.chain and f.chain.partition == COMPLAINTS_CHAIN for f in on_topic)
    assert sorted(f.chain.seq for f in on_topic if f.chain) == [1, 2, 3, 4, 5]
    heads = [json.loads(v) for v in read_all(kafka_bootstrap, topics["heads"])]
    assert heads[-1]["seq"] == 5 and heads[-1]["group"] == "esup/complaints"
    dead = [json.loads(v) for v in read_all(kafka_bootstrap, topics["dead"])]
    assert len(dead) == 1 and dead[0]["reason"].startswith("message_id:")
    assert PHONE.encode() not in base64.b64decode(dead[0]["value_b64"])
    rows = db.execute(
        "SELECT complaint_id, type, contact_hash FROM complaint_messages FINAL WHERE type = 'received' "
        "ORDER BY complaint_id"
    )
    assert rows[0] == ("A", "received", contact.contact_hash) and len(rows) == 4
    # A restart rebuilds from the log (messages, its own cards, ticks) and raises nothing twice.
    again = service(kafka_bootstrap, topics, "event")
    try:
        again.start()
        assert again.sweep() == [] and again.head.seq == 5
    finally:
        again.close()


def test_wall_clock_dispatch_notice_at_the_end_of_the_last_working_day(
    kafka_bootstrap: str, topics: dict[str, str], producer: Any
) -> None:
    # Received Tue 29 Sep 2026: 30 Sep, then 1-7 Oct National Day, 8 and 9 Oct → 24:00 of 9 Oct.
    publish(producer, topics["complaints"], msg("W", "received", t(2026, 9, 29, 16)))
    due_at = t(2026, 10, 10)
    clock = wall_now((due_at - timedelta(seconds=3) - datetime.now(TZ)).total_seconds())
    svc = service(kafka_bootstrap, topics, "wall", now=clock)
    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop, 200), daemon=True)
    thread.start()
    try:
        time.sleep(1.0)
        assert cards(kafka_bootstrap, topics["findings"]) == []
        found: list[Finding] = []
        limit = time.monotonic() + 20
        while not found and time.monotonic() < limit:
            time.sleep(0.5)
            found = cards(kafka_bootstrap, topics["findings"])
        assert clock() >= due_at
        assert [(x.rule, x.detected_at, x.severity) for x in found] == [("CMP_DISPATCH_LATE", due_at, "notice")]
    finally:
        stop.set()
        thread.join(10)
        svc.close()


def hand_finding(fid: str, dept: str, day: int, category: str = "fee") -> dict[str, Any]:
    return {
        "finding_id": fid,
        "schema_version": 1,
        "case_id": f"case-{fid}",
        "rule": "X",
        "category": category,
        "severity": "yellow",
        "title": "t",
        "message": "m",
        "staff_id": f"s-{dept}",
        "department_id": dept,
        "region_code": "511702",
        "item_code": "ITEM",
        "detected_at": t(2026, 3, day, 10),
        "deadline": None,
        "law_article": None,
        "evidence_event_ids": [],
        "calendar_version": "test",
        "provisional": 0,
        "details": "{}",
        "version": 1,
    }


def ranking(db: Any) -> list[tuple[str, float]]:
    return [
        (d, s)
        for d, s in db.execute(
            "SELECT department_id, score FROM rankings_department WHERE period = 'month' AND level = 'county' "
            "AND region = '511702' ORDER BY rank"
        )
    ]


def test_substantiated_complaint_changes_the_ranking_and_no_table_holds_clear_contact_data(
    kafka_bootstrap: str, topics: dict[str, str], producer: Any, db: Any
) -> None:
    for table in ("findings", "finding_chain", "complaint_messages"):
        db.execute(f"TRUNCATE TABLE {table}")
    # DZ-1 a fee and a procedure yellow (90), DZ-2 a fee yellow (95): DZ-2 first.
    insert(
        db,
        "findings",
        [hand_finding("F1", "DZ-1", 2), hand_finding("F2", "DZ-1", 3, "procedure"), hand_finding("F3", "DZ-2", 3)],
    )
    facts = db.execute("SELECT count() FROM score_case_facts")
    assert ranking(db) == [("DZ-2", 95.0), ("DZ-1", 90.0)]
    # A misconduct (吃拿卡要) complaint against DZ-2, handled in time and closed as substantiated: integrity red.
    m = [
        msg(
            "S",
            "received",
            t(2026, 3, 9, 9),
            category="misconduct",
            department_id="DZ-2",
            staff_id="s-DZ-2",
            complainant=sealed_contact().model_dump(),
            text=f"要我请吃饭才给办 {PHONE} {ID_NUMBER}",
        ),
        msg("S", "dispatched", t(2026, 3, 9, 11), department_id="DZ-2"),
        msg("S", "replied", t(2026, 3, 11), department_id="DZ-2", result="已查实, 退还并处理"),
        msg("S", "closed", t(2026, 3, 12), substantiated=True, finding=f"属实 (投诉人 {PHONE})"),
    ]
    publish(producer, topics["complaints"], *m)
    svc = service(kafka_bootstrap, topics, "event", store=ComplaintStore(db))
    try:
        svc.start()
        (card,) = svc.sweep()
    finally:
        svc.close()
    assert (card.rule, card.category, card.severity, card.case_id) == ("CMP_SUBSTANTIATED", "integrity", "red", "S")
    # Into ClickHouse as the sink converts what it reads from the findings topic.
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None, **admin_auth())
    tps = [TopicPartition(topics["findings"], p) for p in sorted(consumer.partitions_for_topic(topics["findings"]))]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    converted = []
    for _ in range(10):
        for recs in consumer.poll(timeout_ms=500).values():
            converted += [
                finding_row(Record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value)) for r in recs
            ]
        if converted:
            break
    consumer.close()
    (row,) = converted
    assert row.row is not None
    insert(db, "findings", [row.row])
    insert(db, "finding_chain", [dict(row.also[0][1])])
    assert ranking(db) == [("DZ-1", 90.0), ("DZ-2", 85.0)]
    assert db.execute("SELECT count() FROM score_case_facts") == facts  # a complaint is not a licensing case
    # The card counts under the integrity heading (its weight 10 caps it).
    heading = db.execute(
        "SELECT deduction_integrity, cat_integrity FROM scores_department WHERE period = 'month' "
        "AND level = 'county' AND department_id = 'DZ-2'"
    )
    assert heading == [(10.0, 1)]
    # No table of the database holds the complainant's phone number, ID number or name in clear.
    hits = []
    for (table,) in db.execute(f"SELECT name FROM system.tables WHERE database = '{DB}' AND engine != 'View'"):
        for (col,) in db.execute(
            f"SELECT name FROM system.columns WHERE database = '{DB}' AND table = '{table}' AND type LIKE '%String%'"
        ):
            for clear in (PHONE, ID_NUMBER, NAME):
                n = db.execute(f"SELECT count() FROM {table} WHERE position(toString({col}), %(v)s) > 0", {"v": clear})[
                    0
                ][0]
                if n:
                    hits.append((table, col, clear))
    assert hits == []
    stored = db.execute("SELECT count() FROM complaint_messages WHERE complaint_id = 'S'")[0][0]
    assert stored == 4  # the complaint is there, only not its contact data
