"""The department side: publish validated case events keyed by case id, and the catalog to its compacted topic."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.catalog import Catalog
from schemas.events import CaseEvent, EventError, event_to_json, occurred_sort_key, parse_event


@dataclass(frozen=True)
class Rejected:
    """An input line that was not published, and why."""

    line: int
    reason: str


@dataclass
class PublishReport:
    """What a publish did: events acknowledged by the broker, lines refused, and sends that failed."""

    sent: int = 0
    cases: set[str] = field(default_factory=set)
    rejected: list[Rejected] = field(default_factory=list)
    failed: list[Rejected] = field(default_factory=list)  # valid lines the broker did not acknowledge

    @property
    def ok(self) -> bool:
        """Whether every line was valid and acknowledged."""
        return not self.rejected and not self.failed


def kafka_producer(bootstrap: str, client_id: str, *, auth: dict[str, Any] | None = None) -> Any:
    """A kafka-python producer that waits for every in-sync replica and never writes a retry twice.

    ``auth``: the process's login (esup.kafka_auth.kafka_python_auth)."""
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        # kafka-python 3 implements the idempotent producer (it is even its default); said out loud
        # here because a retried send must not become a second copy of an event.
        enable_idempotence=True,
        allow_auto_create_topics=False,  # a missing topic is an error, not a one-partition surprise
        linger_ms=20,
        max_block_ms=15000,
        **(auth or {}),
    )


def read_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, CaseEvent | Rejected]]:
    """Each non-blank JSONL line (numbered from 1) as an event, or why it was rejected."""
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield n, parse_event(line.rstrip(b"\r\n"))
        except EventError as exc:
            yield n, Rejected(n, exc.reason)


class DepartmentProducer:
    """Validates every event against the contract before it leaves, and keys it by case id.

    Keying by case id keeps a case's events in one partition, in order, for the workers.
    """

    def __init__(self, bootstrap: str, topic: str, *, producer: Any = None, auth: dict[str, Any] | None = None) -> None:
        self.topic = topic
        self._producer = producer if producer is not None else kafka_producer(bootstrap, "esup-department", auth=auth)

    def send(self, event: CaseEvent | bytes | str | dict[str, Any]) -> Any:
        """Send one event (validated here if it is not a CaseEvent yet); returns the send future.

        Raises :class:`EventError` for an event that does not meet the contract: nothing is sent then.
        """
        parsed = event if not isinstance(event, bytes | bytearray | str | dict) else parse_event(event)
        return self._producer.send(self.topic, key=parsed.case_id.encode(), value=event_to_json(parsed).encode())

    def publish_lines(self, lines: Iterable[bytes], *, sort_by_time: bool = False) -> PublishReport:
        """Publish JSONL lines; bad lines are reported, good ones sent (in occurred_at order if asked)."""
        report = PublishReport()
        good: list[tuple[int, CaseEvent]] = []
        pending: list[tuple[int, CaseEvent, Any]] = []
        for n, item in read_lines(lines):
            if isinstance(item, Rejected):
                report.rejected.append(item)
            elif sort_by_time:
                good.append((n, item))  # sorting needs the whole file; otherwise events stream out
            else:
                pending.append((n, item, self.send(item)))
        for n, e in sorted(good, key=lambda ne: occurred_sort_key(ne[1])):
            pending.append((n, e, self.send(e)))
        self.flush()
        for n, e, future in pending:
            try:
                future.get(timeout=30)
            except Exception as exc:  # the future re-raises the broker's or the client's error
                report.failed.append(Rejected(n, f"not acknowledged: {type(exc).__name__}: {exc}"))
                continue
            report.sent += 1
            report.cases.add(e.case_id)
        return report

    def publish_file(self, path: Path, *, sort_by_time: bool = False) -> PublishReport:
        """Publish a JSON-lines file of case events (see publish_lines)."""
        with path.open("rb") as fh:
            return self.publish_lines(fh, sort_by_time=sort_by_time)

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every sent event is acknowledged or the timeout passes."""
        self._producer.flush(timeout=timeout_s)

    def close(self) -> None:
        """Flush and close the Kafka producer."""
        self._producer.close(timeout=10)

    def __enter__(self) -> DepartmentProducer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# ---- the catalog ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogReport:
    """What a catalog publish did: item codes published, and codes tombstoned because the file no longer has them."""

    published: list[str]
    deleted: list[str]  # codes that had a live record and are no longer in the file: tombstoned


def _read_to_end(
    bootstrap: str, topic: str, timeout_s: float, auth: dict[str, Any] | None, client_id: str, **options: Any
) -> Iterator[Any]:
    """Every record of a topic (kafka-python ConsumerRecord), each partition in offset order from its beginning to
    the end it had when reading began; no group, nothing committed."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        allow_auto_create_topics=False,
        client_id=client_id,
        **options,
        **(auth or {}),
    )
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise LookupError(f"topic {topic} does not exist: run `esup topics create`")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} to its end took longer than {timeout_s:.0f} s")
            for records in consumer.poll(timeout_ms=500).values():
                yield from records
    finally:
        consumer.close(autocommit=False)


def read_compacted(
    bootstrap: str, topic: str, timeout_s: float = 30.0, *, auth: dict[str, Any] | None = None
) -> dict[bytes, bytes | None]:
    """The latest value per key of a topic, read from the beginning to the current end (None: a tombstone)."""
    latest: dict[bytes, bytes | None] = {}
    for r in _read_to_end(bootstrap, topic, timeout_s, auth, "esup-catalog-reader"):
        if r.key is not None:
            latest[r.key] = r.value
    return latest


def read_log(
    bootstrap: str, topic: str, timeout_s: float = 30.0, *, auth: dict[str, Any] | None = None
) -> list[tuple[bytes | None, bytes | None, int | None]]:
    """Every record of a small topic as (key, value, broker timestamp in ms), each partition in offset order, read
    from the beginning to the current end: what a reader that applies each record in turn (a worker's
    configuration feed) has seen once loaded, before compaction dropped anything. Records up to 16 MiB."""
    return [
        (r.key, r.value, r.timestamp)
        for r in _read_to_end(bootstrap, topic, timeout_s, auth, "esup-log-reader", max_partition_fetch_bytes=16 << 20)
    ]


def publish_catalog(
    bootstrap: str, topic: str, catalog: Catalog, *, producer: Any = None, auth: dict[str, Any] | None = None
) -> CatalogReport:
    """Write one record per item (key: code, value: the item's JSON) and a tombstone per removed item."""
    live = {k.decode() for k, v in read_compacted(bootstrap, topic, auth=auth).items() if v is not None}
    codes = [item.code for item in catalog.items]
    removed = sorted(live - set(codes))
    own = producer is None
    p = kafka_producer(bootstrap, "esup-catalog", auth=auth) if own else producer
    try:
        futures = [
            p.send(topic, key=item.code.encode(), value=item.model_dump_json().encode()) for item in catalog.items
        ]
        # A tombstone (value None) lets compaction drop the item, and workers' global tables forget it.
        futures += [p.send(topic, key=code.encode(), value=None) for code in removed]
        p.flush(timeout=60)
        for f in futures:
            f.get(timeout=30)
    finally:
        if own:
            p.close(timeout=10)
    return CatalogReport(published=codes, deleted=removed)
