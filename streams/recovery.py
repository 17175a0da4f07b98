"""Taking a partition over: fence the previous owner, load the partition's rows from the changelog, read
where the group stands, rebuild the deadline index. A row that cannot be read is quarantined.

Order matters: the fence (`streams.fence`) first, so the previous owner's open transaction is aborted and
it can commit nothing more; then the changelog is read with ``read_committed`` to its end (or a local
snapshot standing exactly at that end is loaded instead, `streams.ownership`), and the committed offsets
read *after* the fence say exactly which input messages the loaded state holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from schemas.control import DeadLetter
from streams.applicants import check_row, is_applicant
from streams.rows import META_KEY, decode_meta, decode_row, load_row, row_due, stored_due

if TYPE_CHECKING:
    from streams.processor import CaseProcessor

log = logging.getLogger("esup.worker")

Output = tuple[str, bytes, bytes]


Due = tuple[str, datetime | None] | None  # (case id, stored next due moment) on the current basis, else None


def rebuild_index(
    proc: CaseProcessor,
    partition: int,
    dues: dict[bytes, Due] | None = None,
    known: Mapping[bytes, datetime | None] | None = None,
    *,
    read_on: str | None = None,
) -> None:
    """The partition's deadline index from its rows (stored due moments reused on the same basis).
    ``dues``: what `load` already read of each row, so that a million rows are not parsed twice; ``known``:
    the due moments a snapshot holds (`streams.snapshot`), on the current basis. A row in neither is read.
    ``read_on``: the basis ``dues`` and ``known`` were checked against; when the processor's basis has moved
    since (a configuration adopted while the rows were being read, before the partition was in the index for
    `CaseProcessor._adopted` to wake its cases), neither is trusted and every row is checked again."""
    if read_on is not None and read_on != proc.basis:
        log.info("partition %d: configuration adopted during the take-over; due moments checked again", partition)
        dues = known = None
    entries: list[tuple[str, datetime | None]] = []
    for key, raw in proc.store.partition(partition).rows.items():
        if is_applicant(key):
            continue  # an (applicant, item)'s facts: no timers
        if known is not None and key in known:
            entries.append((key.decode(), known[key]))  # a case row's key is its case id (checked at load)
            continue
        got = dues[key] if dues is not None and key in dues else row_due(raw, proc.basis)
        if got is None:  # written with another calendar, thresholds or schedule: compute it again
            state = decode_row(raw)  # from the case's last judged moment, not now's (Contexts.recomputed_due)
            got = (state.case_id, proc.contexts.recomputed_due(state, proc.moment(partition)))
        entries.append(got)
    proc.index.rebuild(partition, entries)


def load(
    proc: CaseProcessor, partition: int, topic: str, records: Iterable[Any], dues: dict[bytes, Due] | None = None
) -> list[Output]:
    """Apply changelog records (aiokafka ConsumerRecords) to the partition's rows, in order. A record that
    is not a readable row becomes a dead letter (key, offset, reason) and its case is left out, so the
    next event of that case starts from nothing rather than stopping the partition. ``dues`` (optional)
    receives each row's stored next due moment for `rebuild_index`."""
    part = proc.store.partition(partition)
    letters: list[Output] = []
    for r in records:
        key: bytes | None = r.key
        try:
            if key is None:
                raise ValueError("a changelog record without a key")
            if r.value is None:
                part.rows.pop(key, None)
            elif key == META_KEY:
                part.watermark, part.chain = decode_meta(r.value)
            elif is_applicant(key):
                check_row(r.value)
                part.rows[key] = r.value
            else:
                row = load_row(r.value)
                case_id = row["s"]["case_id"]
                if case_id.encode() != key:
                    raise ValueError(f"row of case {case_id!r} under key {key!r:.80}")
                part.rows[key] = r.value
                if dues is not None:
                    dues[key] = stored_due(row, proc.basis)
        except Exception as exc:
            if key is not None:
                part.rows.pop(key, None)
            proc.counters["quarantined"] += 1
            reason = f"changelog row quarantined: {type(exc).__name__}: {str(exc)[:300]}"
            log.error("%s/%d@%d: %s", topic, partition, r.offset, reason)
            letter = DeadLetter.of(
                reason=reason,
                topic=topic,
                partition=partition,
                offset=r.offset,
                key=key,
                value=r.value,
                failed_at=datetime.now(UTC),
            )
            letters.append(("dead_letters", key or b"", letter.model_dump_json().encode()))
    return letters


class ChangelogReader:
    """One changelog partition, read ``read_committed``: where it ends (`end`), and every committed record
    below that end (`read`). Use as ``async with``; nothing is read before `end` is called."""

    def __init__(self, bootstrap: str, topic: str, partition: int, client_options: dict[str, Any]) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partition = partition
        self.client_options = client_options
        self._consumer: Any = None

    async def __aenter__(self) -> ChangelogReader:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        self.tp = TopicPartition(self.topic, self.partition)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            **self.client_options,
        )
        await self._consumer.start()
        self._consumer.assign([self.tp])
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def end(self) -> int:
        """The partition's read_committed end (the last stable offset): past every decided transaction."""
        return int((await self._consumer.end_offsets([self.tp]))[self.tp])

    async def read(self, end: int) -> list[Any]:
        """Every committed record from the beginning up to ``end`` (bulk reads)."""
        consumer, tp = self._consumer, self.tp
        await consumer.seek_to_beginning(tp)
        out: list[Any] = []
        while await consumer.position(tp) < end:
            got = await consumer.getmany(tp, timeout_ms=1000, max_records=100_000)
            out += got.get(tp, [])
        return out
