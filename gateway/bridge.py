"""The bridge: each department's ingestion topic into case events, exactly once, refusing events that speak for others.

A department's principal may write only ``<prefix><its id>`` (a literal ACL), so the topic an event arrives
on names who sent it. The bridge forwards an event unchanged when its ``department_id`` is that department
and its key is its case id; anything else becomes a dead letter naming what was claimed and by whom.
Reading, forwarding and the consumed offsets go in one Kafka transaction: after a kill -9 the next bridge
(same transactional id) fences the dead one's open transaction and starts from the last committed offsets.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from esup.kafka_auth import BRIDGE, department_principal, kafka_python_auth
from esup.settings import Settings
from schemas.control import MAX_KEPT_KEY_BYTES, DeadLetter
from schemas.events import EventError, parse_event

log = logging.getLogger("esup.bridge")


@dataclass(frozen=True)
class Verdict:
    """Whether a record goes on to case events, and if not why (the dead letter's reason)."""

    forward: bool
    reason: str = ""


def judge(topic: str, prefix: str, key: bytes | None, value: bytes | None) -> Verdict:
    """Whether a record of a department's ingestion topic may go on to case events, and if not why."""
    department = topic[len(prefix) :] if topic.startswith(prefix) else ""
    if not department:
        return Verdict(False, f"topic {topic!r} is not a department's ingestion topic ({prefix}<department>)")
    try:
        event = parse_event(value or b"")
    except EventError as exc:
        return Verdict(False, exc.reason)
    except Exception as exc:  # the contract's parser failing is still a dead letter, never a stopped bridge
        return Verdict(False, f"<event>: unparseable ({type(exc).__name__})")
    if event.department_id != department:
        return Verdict(
            False,
            f"department_id: {event.department_id!r} claimed by an event on {department}'s topic "
            f"{topic} (principal {department_principal(department)})",
        )
    if key != event.case_id.encode():
        shown = "missing" if key is None else repr(key[:140])
        return Verdict(False, f"key: {shown}; a case event is keyed by its case id {event.case_id!r}")
    return Verdict(True)


def pattern(prefix: str) -> str:
    """The regular expression of a department's ingestion topics under a prefix, for the consumer's subscription."""
    return "^" + re.escape(prefix) + r"[A-Za-z0-9_-]+$"


class Bridge:
    """One consume-forward-commit loop; several bridges (distinct ``instance``) share the group's partitions."""

    def __init__(
        self,
        settings: Settings,
        *,
        instance: str = "1",
        max_records: int = 2000,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.s, self.instance, self.max_records, self.now = settings, instance, max_records, now
        self.counts: Counter[str] = Counter()
        self.consumer = self._consumer()
        self.producer = self._producer()

    def _consumer(self) -> Any:
        from kafka import KafkaConsumer

        c = KafkaConsumer(
            bootstrap_servers=self.s.kafka_bootstrap,
            group_id=self.s.bridge_group,
            client_id=f"esup-bridge-{self.instance}",
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            # a department added while the bridge runs is read within this long
            metadata_max_age_ms=30000,
            **kafka_python_auth(self.s, BRIDGE),
        )
        c.subscribe(pattern=pattern(self.s.topic_ingest_prefix))
        return c

    def _producer(self) -> Any:
        from kafka import KafkaProducer

        p = KafkaProducer(
            bootstrap_servers=self.s.kafka_bootstrap,
            client_id=f"esup-bridge-{self.instance}",
            transactional_id=f"{self.s.bridge_group}-{self.instance}",
            acks="all",
            enable_idempotence=True,
            allow_auto_create_topics=False,
            linger_ms=5,
            max_request_size=2 << 20,
            **kafka_python_auth(self.s, BRIDGE),
        )
        p.init_transactions()  # fences (aborts) whatever a dead bridge of the same instance left open
        return p

    def step(self, timeout_ms: int = 500) -> int:
        """Poll once and forward what came in one transaction; returns how many records were handled."""
        from kafka import OffsetAndMetadata
        from kafka.errors import ProducerFencedError

        batch = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        records = [r for rs in batch.values() for r in rs]
        if not records:
            return 0
        try:
            self.producer.begin_transaction()
            counts: Counter[str] = Counter()
            for r in records:
                verdict = judge(r.topic, self.s.topic_ingest_prefix, r.key, r.value)
                if verdict.forward:
                    self.producer.send(self.s.topic_case_events, key=r.key, value=r.value)
                    counts["forwarded"] += 1
                else:
                    letter = DeadLetter.of(
                        reason=verdict.reason,
                        topic=r.topic,
                        partition=r.partition,
                        offset=r.offset,
                        key=r.key,
                        value=r.value,
                        failed_at=self.now(),
                    )
                    # The key cut as the letter cuts it: a 1 MB key must not make the letter too big to write.
                    key = r.key[:MAX_KEPT_KEY_BYTES] if r.key is not None else None
                    self.producer.send(self.s.topic_dead_letters, key=key, value=letter.model_dump_json().encode())
                    counts["dead_letters"] += 1
            offsets = {tp: OffsetAndMetadata(rs[-1].offset + 1, "", -1) for tp, rs in batch.items() if rs}
            self.producer.send_offsets_to_transaction(offsets, self.consumer.group_metadata())
            self.producer.commit_transaction()
        except ProducerFencedError:
            raise  # another bridge runs as this instance: this one must stop, not fence it back
        except Exception:
            self._rewind()
            raise
        self.counts.update(counts)
        return len(records)

    def _rewind(self) -> None:
        """After a failed transaction: abort it and read again from the last committed offsets."""
        try:
            self.producer.abort_transaction()
        except Exception:  # a fenced or broken producer cannot abort: a new one (init_transactions) does
            self.producer.close(timeout=5)
            self.producer = self._producer()
        for tp in self.consumer.assignment():
            committed = self.consumer.committed(tp)
            if committed is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)

    def run(self, stop: threading.Event, on_error: Callable[[Exception], None] | None = None) -> None:
        """Step until `stop` is set; a failed transaction is retried from the last commit; a fenced bridge raises."""
        from kafka.errors import ProducerFencedError

        while not stop.is_set():
            try:
                self.step()
            except ProducerFencedError:
                raise  # another bridge runs as this instance: this one must not go on
            except Exception as exc:  # Kafka unavailable, a rebalance mid-transaction: retry from the offsets
                log.warning("bridge transaction failed (%s: %s); retrying", type(exc).__name__, exc)
                if on_error is not None:
                    on_error(exc)
                stop.wait(1.0)

    def close(self) -> None:
        """Close the consumer (without committing) and the producer."""
        # kafka-python 3 logs a traceback when a SASL connection's socket goes while its IO thread reads it
        # (the client closing itself, not an error of ours); everything the bridge did is committed by now.
        logging.getLogger("kafka.net").setLevel(logging.CRITICAL)
        self.consumer.close(autocommit=False)
        self.producer.close(timeout=10)
