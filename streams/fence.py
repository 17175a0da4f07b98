"""Fenced writes: one transactional producer per input partition, owned by whoever owns the partition.

A batch's changelog rows, its findings, snapshots and dead letters, and the input offsets it consumed are
committed in one Kafka transaction per partition. The transactional id is the partition's
(``<group>-p<N>``): a new owner's producer takes it over (`acquire`), which aborts the previous owner's
open transaction and makes any later write of it fail (ProducerFenced), however long it was frozen.
Everyone reading what the worker writes reads ``read_committed``: an aborted batch was never there.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

import orjson

from schemas.control import DeadLetter
from streams.batch import PartitionResult
from streams.publish import BatchPublisher, Record, Span

log = logging.getLogger("esup.worker")

# Largest record sent (key + value): below the broker's and the producer's 1 MiB defaults with room for
# the record's own overhead. Case rows are bounded well below it by the rules' caps.
MAX_RECORD_BYTES = 900 * 1024

# Fault hook for tests only: kill -9 this process inside its Nth transaction, after Kafka acknowledged the
# transaction's records and before the commit (the window fencing and read_committed must cover).
_KILL_IN_COMMIT = int(os.environ.get("ESUP_TEST_KILL_IN_COMMIT", "0") or 0)


class Fence:
    """One transactional producer per owned input partition; each batch of a partition commits as one transaction."""

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        changelog_topic: str,
        topics: dict[str, str],  # output name -> topic
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.changelog_topic = changelog_topic
        self.topics = topics
        self.client_options = client_options or {}
        self.producers: dict[int, Any] = {}
        self.commits = 0
        # Per owned partition, where its changelog partition ends if nothing but this worker's own commits
        # went into it since the take-over (None: unknown — something else wrote, or the take-over could
        # not tell): a local snapshot (`streams.snapshot`) is written only where the end is known.
        self.ends: dict[int, int | None] = {}

    async def acquire(self, partition: int) -> None:
        """Own the partition's transactional id; from here on the previous owner cannot write."""
        from aiokafka import AIOKafkaProducer

        await self.release(partition)
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            transactional_id=f"{self.group_id}-p{partition}",
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=256 * 1024,
            transaction_timeout_ms=30_000,
            # After a commit the coordinator writes the markers asynchronously; until it has, the next
            # transaction's AddPartitionsToTxn/AddOffsetsToTxn is answered CONCURRENT_TRANSACTIONS and aiokafka
            # retries after this backoff (100 ms by default: a floor under every batch's latency).
            retry_backoff_ms=5,
            **self.client_options,
        )
        await producer.start()  # InitProducerId: bumps the epoch, aborts what the old owner left open
        self.producers[partition] = producer

    async def release(self, partition: int) -> None:
        """Stop the partition's producer, if any; a failure (fenced, Kafka away) is logged, not raised."""
        producer = self.producers.pop(partition, None)
        self.ends.pop(partition, None)
        if producer is not None:
            try:
                await producer.stop()
            except Exception:  # fenced or unreachable: nothing of ours is pending
                log.debug("stopping the producer of partition %d", partition, exc_info=True)

    async def close(self) -> None:
        """Release every partition's producer."""
        for p in list(self.producers):
            await self.release(p)

    async def commit(self, partition: int, result: PartitionResult, input_topics: dict[str, int] | None = None) -> None:
        """One transaction: rows, outputs and the consumed offsets of one input partition."""
        from aiokafka import TopicPartition

        producer = self.producers[partition]
        records: list[Record] = [(self.changelog_topic, partition, k, v) for k, v in result.rows.items()]
        for k, v in result.rows.items():
            if len(k) + len(v) > MAX_RECORD_BYTES:
                raise ValueError(f"case row {k!r:.80} is {len(v)} bytes, above {MAX_RECORD_BYTES}")
        records += [self._fit(name, key, value, partition) for name, key, value in result.outputs]
        if result.head is not None and "chain_heads" in self.topics:  # where a verifier checks the chain ends
            head = orjson.dumps(
                {"group": self.group_id, "partition": partition, "seq": result.head.seq, "hash": result.head.hash}
            )
            records.append((self.topics["chain_heads"], None, f"{self.group_id}/{partition}".encode(), head))
        await producer.begin_transaction()
        # A failure here (fenced, Kafka gone) leaves the transaction open: aborted by the next owner's fence.
        spans = await BatchPublisher(producer).publish(records)
        self.commits += 1
        if self.commits == _KILL_IN_COMMIT:
            log.warning("fault hook: kill -9 inside transaction %d (%d records sent)", self.commits, len(records))
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)
        offsets = {TopicPartition(topic, partition): offset for topic, offset in result.offsets.items()}
        if offsets:
            await producer.send_offsets_to_transaction(offsets, self.group_id)
        await producer.commit_transaction()
        written = spans.get((self.changelog_topic, partition))
        if written:  # the changelog partition was in the transaction: its end moved past our commit marker
            self.ends[partition] = follow(self.ends.get(partition), written)

    def _fit(self, name: str, key: bytes, value: bytes, partition: int) -> Record:
        """An output above the record limit is replaced by a dead letter that names it (and its digest)."""
        if len(key) + len(value) <= MAX_RECORD_BYTES:
            return (self.topics[name], None, key, value)
        from datetime import UTC, datetime

        letter = DeadLetter.of(
            reason=f"{name} output of {len(value)} bytes exceeds the {MAX_RECORD_BYTES}-byte record limit",
            topic=self.topics[name],
            partition=partition,
            offset=-1,
            key=key[:1024],
            value=value,
            failed_at=datetime.now(UTC),
        )
        return (self.topics["dead_letters"], None, key[:1024], letter.model_dump_json().encode())


def follow(end: int | None, written: list[Span]) -> int | None:
    """Where a changelog partition ends after a committed transaction wrote ``written`` to it, given where it
    ended before (``end``): right after the transaction's commit marker, which follows its last record —
    provided the records start exactly at ``end`` and run without a gap (nobody else wrote in between);
    None (unknown) otherwise."""
    if end is None:
        return None
    for first, count in sorted(written):
        if first != end or count < 1:
            return None
        end = first + count
    return end + 1  # the commit marker takes one offset
