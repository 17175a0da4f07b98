"""The complaint desk's read side: every complaint's messages folded in memory, tailed from esup.complaints.

No personal data in clear is ever held here: the complainant stays sealed until a supervisor's page opens it.
The tail reads without a consumer group (assigned partitions, from the beginning), so it needs READ on the
topic only and every console or API process has the whole picture.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from complaints.contract import ComplaintMessage, ComplaintMessageError, Received, parse_message

log = logging.getLogger(__name__)
STATUS = {
    "received": "待登记",
    "registered": "已登记",
    "dispatched": "已转办",
    "accepted": "已签收",
    "extended": "已延期",
    "replied": "已答复",
    "evaluated": "已评价",
    "reopened": "重新办理",
    "closed": "已办结",
}


@dataclass
class Complaint:
    """One complaint in the desk's view: its messages in arrival order."""

    complaint_id: str
    messages: list[ComplaintMessage] = field(default_factory=list)

    @property
    def received(self) -> Received | None:
        """The `received` message (the complaint as submitted), None when it has not arrived."""
        return next((m for m in self.messages if isinstance(m, Received)), None)

    def latest(self, attr: str, types: tuple[str, ...]) -> str | None:
        """The latest non-empty ``attr`` among messages of these types, as text; None when none has one."""
        for m in reversed(self.messages):
            if m.type in types and getattr(m, attr, None):
                return str(getattr(m, attr))
        return None

    @property
    def department_id(self) -> str | None:
        """Where it is now: the last dispatch, else what the registration or the complainant named."""
        return self.latest("department_id", ("dispatched", "registered", "received"))

    @property
    def dispatched_to(self) -> str | None:
        """The department it was last dispatched to (转办), None before a dispatch."""
        return self.latest("department_id", ("dispatched",))

    @property
    def region_code(self) -> str | None:
        """The region code the registration gave, None before registration."""
        return self.latest("region_code", ("registered",))

    @property
    def status(self) -> str:
        """The latest message's type (received, registered, dispatched...)."""
        return self.messages[-1].type if self.messages else "received"

    @property
    def at(self) -> Any:
        """The first-arrived message's time (normally the receipt's), None without messages."""
        return self.messages[0].at if self.messages else None


class ComplaintsView:
    """complaint id → its messages in order of arrival, each message once (by message id)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Complaint] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.rejected = 0

    def add(self, msg: ComplaintMessage) -> None:
        """Fold in one message; a message id already seen changes nothing."""
        with self._lock:
            if msg.message_id in self._seen:
                return
            self._seen.add(msg.message_id)
            self._by_id.setdefault(msg.complaint_id, Complaint(msg.complaint_id)).messages.append(msg)

    def add_raw(self, values: Iterable[bytes]) -> None:
        """Parse and fold in raw records; one the contract refuses is counted in ``rejected``, logged, skipped."""
        for v in values:
            try:
                self.add(parse_message(v))
            except ComplaintMessageError as exc:  # a bad record is counted and skipped, never shown
                self.rejected += 1
                log.warning("complaints view: skipped a record (%s)", exc.reason[:200])

    def get(self, complaint_id: str) -> Complaint | None:
        """A copy of the complaint, None when unknown."""
        with self._lock:
            c = self._by_id.get(complaint_id)
            return Complaint(c.complaint_id, list(c.messages)) if c else None

    def all(self) -> list[Complaint]:
        """Newest first."""
        with self._lock:
            items = [Complaint(c.complaint_id, list(c.messages)) for c in self._by_id.values()]
        return sorted(items, key=lambda c: (c.at is not None, c.at), reverse=True)


class KafkaTail:
    """A thread that reads the topic from the beginning into a view, and keeps reading."""

    def __init__(self, view: ComplaintsView, bootstrap: str, topic: str, auth: dict[str, Any]) -> None:
        self.view, self.bootstrap, self.topic, self.auth = view, bootstrap, topic, auth
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="complaints-tail", daemon=True)

    def start(self) -> KafkaTail:
        """Start reading in the background; returns the tail."""
        self._thread.start()
        return self

    def _run(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False, **self.auth)
        try:
            parts = consumer.partitions_for_topic(self.topic) or set()
            while not parts and not self.stop.wait(5):  # the topic is made by `esup topics create`: wait for it
                parts = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while not self.stop.is_set():
                for records in consumer.poll(timeout_ms=200).values():
                    self.view.add_raw(r.value for r in records if r.value is not None)
        finally:
            consumer.close()

    def close(self) -> None:
        """Stop reading and wait (up to 10 s) for the thread."""
        self.stop.set()
        self._thread.join(10)
