"""`esup loop` on real Kafka and ClickHouse: a late response raises the supervision finding at the working-day
moment, on the event clock and on the wall clock; messages land in ClickHouse; bad ones are dead letters."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from loop.config import LoopConfig
from loop.rules import RESPONSE_RULE
from loop.service import LoopService, wall_now
from loop.store import MessageStore
from schemas.findings import Finding
from streams.rules.calendar import TZ, WorkCalendar
from tests.loop_support import finding, response, t
from tests.support import admin_auth

pytestmark = pytest.mark.integration


@pytest.fixture
def topics(new_topic: Callable[..., str]) -> dict[str, str]:
    return {"findings": new_topic(3, "findings"), "responses": new_topic(3, "responses"), "dead": new_topic(1, "dead")}


@pytest.fixture
def producer(kafka_bootstrap: str) -> Iterator[Any]:
    from esup.producer import kafka_producer

    p = kafka_producer(kafka_bootstrap, "test-loop", auth=admin_auth())
    yield p
    p.close()


def send(producer: Any, topic: str, key: str, value: bytes) -> None:
    producer.send(topic, key=key.encode(), value=value).get(timeout=30)


def read_all(bootstrap: str, topic: str) -> list[bytes]:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **admin_auth(),
    )
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    end = c.end_offsets(tps)
    out: list[bytes] = []
    while any(c.position(tp) < end[tp] for tp in tps):
        for recs in c.poll(timeout_ms=500).values():
            out += [r.value for r in recs]
    c.close()
    return out


def supervision(bootstrap: str, topic: str) -> list[Finding]:
    fs = [Finding.model_validate_json(v) for v in read_all(bootstrap, topic)]
    return [f for f in fs if f.category == "supervision"]


def service(kafka_bootstrap: str, topics: dict[str, str], clock: str, **kw: Any) -> LoopService:
    return LoopService(
        bootstrap=kafka_bootstrap,
        findings_topic=topics["findings"],
        responses_topic=topics["responses"],
        dead_letter_topic=topics["dead"],
        cfg=LoopConfig(),
        calendar=WorkCalendar(),
        clock=clock,
        auth=admin_auth(),
        **kw,
    )


def test_event_clock_late_response_over_the_spring_festival(
    kafka_bootstrap: str, topics: dict[str, str], producer: Any, clean_tables: Any
) -> None:
    # Both detected Fri 13 Feb 2026 (yellow, 3 WD: Sat 14 Feb worked, 24 and 25 Feb): due 24:00 of 25 Feb.
    late, ok = finding(t(2026, 2, 13, 10), case="C-late"), finding(t(2026, 2, 13, 11), case="C-ok")
    for f in (late, ok):
        send(producer, topics["findings"], f.case_id, f.model_dump_json().encode())
    send(producer, topics["findings"], late.case_id, late.model_dump_json().encode())  # redelivered
    send(producer, topics["responses"], ok.finding_id, response(ok, t(2026, 2, 25, 23)).model_dump_json().encode())
    send(producer, topics["responses"], "x", b'{"type": "response", "finding_id": 7}')
    svc = service(kafka_bootstrap, topics, "event", store=MessageStore(clean_tables))
    try:
        svc.start()
        assert svc.sweep() == []  # the clock stands at 25 Feb 23:00: nothing is due yet
        send(
            producer, topics["responses"], late.finding_id, response(late, t(2026, 2, 26, 9)).model_dump_json().encode()
        )
        raised: list[Finding] = []
        for _ in range(20):
            raised += svc.step(500)
            if raised:
                break
        assert [(f.rule, f.detected_at, f.details["supervised_finding_id"]) for f in raised] == [
            (RESPONSE_RULE, t(2026, 2, 26), late.finding_id)
        ]
    finally:
        svc.close()
    on_topic = supervision(kafka_bootstrap, topics["findings"])
    assert [f.finding_id for f in on_topic] == [raised[0].finding_id]
    rows = clean_tables.execute("SELECT finding_id, type, actor_id FROM loop_messages FINAL ORDER BY at")
    assert rows == [(ok.finding_id, "response", "dept-user"), (late.finding_id, "response", "dept-user")]
    dead = [json.loads(v) for v in read_all(kafka_bootstrap, topics["dead"])]
    assert len(dead) == 1 and "finding_id: Input should be a valid string" in dead[0]["reason"]
    # A restart rebuilds from the log and raises nothing twice.
    again = service(kafka_bootstrap, topics, "event")
    try:
        again.start()
        assert again.sweep() == []
    finally:
        again.close()


def test_wall_clock_fires_at_the_end_of_the_last_working_day(
    kafka_bootstrap: str, topics: dict[str, str], producer: Any
) -> None:
    # Red, detected Wed 30 Sep 2026: 1 WD is Thu 8 Oct (1-7 Oct National Day) -> due 9 Oct 00:00.
    f = finding(t(2026, 9, 30, 16), severity="red")
    send(producer, topics["findings"], f.case_id, f.model_dump_json().encode())
    due_at = t(2026, 10, 9)
    offset = (due_at - timedelta(seconds=3) - datetime.now(TZ)).total_seconds()
    clock = wall_now(offset)
    svc = service(kafka_bootstrap, topics, "wall", now=clock)
    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop, 200), daemon=True)
    thread.start()
    try:
        time.sleep(1.0)
        assert supervision(kafka_bootstrap, topics["findings"]) == []  # 2 s before 24:00 of 8 Oct
        found: list[Finding] = []
        limit = time.monotonic() + 20
        while not found and time.monotonic() < limit:
            time.sleep(0.5)
            found = supervision(kafka_bootstrap, topics["findings"])
        assert clock() >= due_at
        assert [(x.rule, x.detected_at, x.severity) for x in found] == [(RESPONSE_RULE, due_at, "red")]
    finally:
        stop.set()
        thread.join(10)
        svc.close()


def test_the_event_clock_moves_on_the_loops_ticks_topic_not_on_responses(
    kafka_bootstrap: str, topics: dict[str, str], producer: Any, new_topic: Callable[..., str]
) -> None:
    """The clock ticks the loop on a topic of its own; a tick on the responses topic (which only the API
    may write) moves nothing and is no loop message either (no dead letter)."""
    ticks = new_topic(1, "loopticks")
    f = finding(t(2026, 9, 30, 16), severity="red")  # 1 WD over National Day: due 9 Oct 00:00
    send(producer, topics["findings"], f.case_id, f.model_dump_json().encode())

    def tick(topic: str, at: datetime) -> None:
        send(producer, topic, "tick", json.dumps({"type": "tick", "now": at.isoformat()}).encode())

    tick(topics["responses"], t(2026, 10, 20))  # the old way: ignored
    svc = service(kafka_bootstrap, topics, "event", ticks_topic=ticks)
    try:
        svc.start()
        assert svc.sweep() == [] and svc.watermark == f.detected_at
        tick(ticks, t(2026, 10, 9))
        raised: list[Finding] = []
        for _ in range(20):
            raised += svc.step(500)
            if raised:
                break
        assert [(x.rule, x.detected_at) for x in raised] == [(RESPONSE_RULE, t(2026, 10, 9))]
    finally:
        svc.close()
    assert read_all(kafka_bootstrap, topics["dead"]) == []
