"""Hostile records on the deadline services' topics (the loop's esup.responses, the complaints' esup.complaints),
a valid record between each, through the real services on real Kafka and ClickHouse: the service keeps going,
each hostile record is a dead letter naming its field (a tombstone is skipped), every valid one is stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from complaints.config import load_complaints_config
from complaints.service import ComplaintsService
from complaints.store import ComplaintStore
from loop.config import LoopConfig
from loop.service import LoopService
from loop.store import MessageStore
from schemas.control import DeadLetter
from streams.rules.calendar import WorkCalendar
from tests.complaints_support import msg
from tests.hostile_messages import Slot, interleave, message_corpus, reason_names
from tests.integration.test_loop_service import read_all
from tests.loop_support import finding, response, t
from tests.support import admin_auth

pytestmark = pytest.mark.integration


@pytest.fixture
def producer(kafka_bootstrap: str) -> Any:
    from kafka import KafkaProducer

    # Plain (not the platform's) producer: a ~1 MB record must get to the broker as it is.
    p = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=1_048_576, **admin_auth())
    yield p
    p.close()


def publish(producer: Any, topic: str, slots: list[Slot]) -> dict[int, Slot]:
    """Every slot to partition 0, in order; returns them by offset."""
    by_offset = {}
    for s in slots:
        meta = producer.send(topic, key=s.key, value=s.value, partition=0).get(timeout=30)
        by_offset[meta.offset] = s
    return by_offset


def run_until_stored(svc: Any, stored: Callable[[], set[str]], want: set[str], steps: int = 60) -> set[str]:
    """Start the service (reading the log from the start) and step until ``want`` is stored; an exception out
    of ``start`` or ``step`` is what would stop the process."""
    svc.start()
    got = stored()
    for _ in range(steps):
        if want <= got:
            break
        svc.step(300)
        got = stored()
    return got


def check_dead_letters(bootstrap: str, dead_topic: str, by_offset: dict[int, Slot], *, masked: bool = False) -> None:
    letters = {d.source_offset: d for d in (DeadLetter.model_validate_json(v) for v in read_all(bootstrap, dead_topic))}
    hostile = {o: s.hostile for o, s in by_offset.items() if s.hostile is not None}
    for offset, h in hostile.items():
        if h.field is None:  # documented: skipped without a dead letter
            assert offset not in letters, f"{h.name}: dead-lettered"
            continue
        assert offset in letters, f"no dead letter for {h.name}"
        assert reason_names(letters[offset].reason, h.field), (h.name, letters[offset].reason)
        if not masked:  # the complaints mask digits and addresses (3-byte ▇ each) in what they keep
            assert letters[offset].value_length == len(h.value or b"")
    valid_letters = sorted(o for o in letters if by_offset[o].hostile is None)
    assert not valid_letters, f"valid records dead-lettered at offsets {valid_letters}"


def test_hostile_responses_to_the_loop(
    kafka_bootstrap: str, new_topic: Callable[..., str], producer: Any, clean_tables: Any
) -> None:
    topics = {n: new_topic(1, n) for n in ("findings", "responses", "dead")}
    base = json.loads(response(finding(t(2026, 3, 2, 9)), t(2026, 3, 3, 9)).model_dump_json())
    corpus = message_corpus(base, id_field="finding_id", time_field="at", text_field="text")
    # A tick with a naive, a far-future and a missing `now` (the event clock's own message on this topic).
    from tests.hostile_messages import HostileRecord

    corpus += [
        HostileRecord("tick with a naive now", b'{"type": "tick", "now": "2026-03-05T00:00:00"}', "now"),
        HostileRecord("tick in 9999", b'{"type": "tick", "now": "9999-12-31T00:00:00+08:00"}', "now"),
        HostileRecord("tick without now", b'{"type": "tick"}', "now"),
        HostileRecord("tick 50,000 deep", b'{"type": "tick", "now": ' + b"[" * 50_000, "<message>"),
    ]

    def valid(i: int) -> tuple[bytes, bytes, str]:
        f = finding(t(2026, 3, 2, 9), case=f"C-{i}")
        r = response(f, t(2026, 3, 3, 9, i % 60), key=f"r{i}")
        return f.finding_id.encode(), r.model_dump_json().encode(), r.message_id

    slots = interleave(corpus, valid)
    by_offset = publish(producer, topics["responses"], slots)
    # The findings topic: a finding dated 9999 (a valid finding, outside the calendar: it failed every sweep,
    # and every restart, which rereads the log) and records that are no findings at all; then a valid one.
    far = finding(t(2026, 3, 2, 9), case="C-far").model_copy(update={"detected_at": t(9999, 12, 30)})
    for value in [far.model_dump_json().encode(), b"[" * 50_000, b'{"finding_id": ' + b"1" * 5000 + b"}", b"\xff"]:
        producer.send(topics["findings"], key=b"C-far", value=value, partition=0)
    watched = finding(t(2026, 3, 2, 9), case="C-watched")
    producer.send(topics["findings"], key=b"C-watched", value=watched.model_dump_json().encode(), partition=0).get(30)
    svc = LoopService(
        bootstrap=kafka_bootstrap,
        findings_topic=topics["findings"],
        responses_topic=topics["responses"],
        dead_letter_topic=topics["dead"],
        cfg=LoopConfig(),
        calendar=WorkCalendar(),
        clock="event",
        store=MessageStore(clean_tables),
        auth=admin_auth(),
    )
    want = {s.valid_id for s in slots if s.hostile is None}
    try:
        got = run_until_stored(
            svc, lambda: {r[0] for r in clean_tables.execute("SELECT message_id FROM loop_messages FINAL")}, want
        )
        assert got == want  # every valid response stored, nothing else
        assert svc.watermark == t(2026, 3, 3, 9, len(corpus) % 60)  # no hostile time moved the clock
        assert svc.watches[watched.finding_id].finding == watched  # the valid finding after the hostile ones
        assert far.finding_id not in svc.watches
        assert svc.sweep() == []  # and the clock still works (a 9999 tick or finding would fail the calendar here)
    finally:
        svc.close()
    check_dead_letters(kafka_bootstrap, topics["dead"], by_offset)


def test_hostile_complaint_messages(
    kafka_bootstrap: str, new_topic: Callable[..., str], producer: Any, clean_tables: Any
) -> None:
    topics = {n: new_topic(1, n) for n in ("complaints", "findings", "ticks", "dead")}
    base = json.loads(msg("CMP-1", "received", t(2026, 3, 2, 9)).model_dump_json())
    corpus = message_corpus(base, id_field="complaint_id", time_field="at", text_field="text")
    from tests.hostile_messages import HostileRecord

    corpus += [  # the simulator's event-clock tick: keyed `tick`, {"now": …}
        HostileRecord("tick with a naive now", b'{"now": "2026-03-05T00:00:00"}', "now", key=b"tick"),
        HostileRecord("tick in 9999", b'{"now": "9999-12-31T00:00:00+08:00"}', "now", key=b"tick"),
        HostileRecord("tick 50,000 deep", b'{"now": ' + b"[" * 50_000, "<message>", key=b"tick"),
    ]

    def valid(i: int) -> tuple[bytes, bytes, str]:
        m = msg(f"CMP-{i}", "received", t(2026, 3, 2, 9, i % 60))
        return m.complaint_id.encode(), m.model_dump_json().encode(), m.message_id

    slots = interleave(corpus, valid)
    by_offset = publish(producer, topics["complaints"], slots)
    # A far-future tick on esup.ticks (the workers dead-letter it): it must not move this clock either.
    producer.send(topics["ticks"], partition=0, value=b'{"partition": 0, "now": "9999-12-31T00:00:00+08:00"}')
    producer.send(topics["ticks"], partition=0, value=b'{"partition": 0, "now": ' + b"[" * 50_000).get(timeout=30)
    svc = ComplaintsService(
        bootstrap=kafka_bootstrap,
        complaints_topic=topics["complaints"],
        findings_topic=topics["findings"],
        ticks_topic=topics["ticks"],
        dead_letter_topic=topics["dead"],
        cfg=load_complaints_config(),
        calendar=WorkCalendar(),
        clock="event",
        store=ComplaintStore(clean_tables),
        auth=admin_auth(),
    )
    want = {s.valid_id for s in slots if s.hostile is None}
    try:
        got = run_until_stored(
            svc, lambda: {r[0] for r in clean_tables.execute("SELECT message_id FROM complaint_messages FINAL")}, want
        )
        assert got == want
        assert svc.watermark == t(2026, 3, 2, 9, len(corpus) % 60)
        svc.sweep()  # the clock still works
    finally:
        svc.close()
    check_dead_letters(kafka_bootstrap, topics["dead"], by_offset, masked=True)
