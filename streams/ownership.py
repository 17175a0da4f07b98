"""Which partitions this worker owns, and taking one over (fence, load, where the group stands, index).

faust tells the worker its assignment; for each new partition a task fences the previous owner, loads
the partition's rows — from the local snapshot a planned stop left (`streams.snapshot`) if the changelog
still ends where it did, else from the changelog — and reads the committed offsets, and only then marks it
ready. At a planned stop `save` writes those snapshots.
The agent waits for a partition to be ready before judging its messages and skips messages of
partitions it no longer owns (their new owner judges them from the committed offset).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from streams import snapshot
from streams.applicants import is_applicant
from streams.batch import Output, PartitionResult
from streams.fence import Fence
from streams.processor import CaseProcessor
from streams.recovery import ChangelogReader, Due, load, rebuild_index

log = logging.getLogger("esup.worker")


class Ownership:
    """The partitions this worker owns: taken over when assigned (see the module docstring), given up when lost."""

    def __init__(
        self,
        processor: CaseProcessor,
        fence: Fence,
        *,
        bootstrap: str,
        input_topics: tuple[str, ...],  # case events, ticks, applicant facts
        committed: Callable[[], dict[tuple[str, int], int]],  # the group's committed offsets (blocking)
        ensure_changelog: Callable[[], None],  # creates the changelog topic if missing (blocking)
        client_options: dict[str, Any] | None = None,
        before_index: Callable[[], Awaitable[object]] | None = None,  # e.g. the configuration schedule loaded
        snapshots: Path | None = None,  # where planned stops leave local snapshots (None: never)
    ) -> None:
        self.processor = processor
        self.fence = fence
        self.bootstrap = bootstrap
        self.input_topics = input_topics
        self.committed = committed
        self.ensure_changelog = ensure_changelog
        self.client_options = client_options or {}
        self.before_index = before_index
        self.snapshots = snapshots
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self._changelog_ready = False

    def owned(self) -> list[int]:
        """The partitions held whose take-over has finished, in order."""
        store = self.processor.store
        return sorted(p for p, part in store.partitions.items() if part.ready is None or part.ready.is_set())

    async def assigned(self, partitions: set[int]) -> None:
        """Follow a new assignment: lose partitions no longer in it, take over the new ones in the background."""
        store = self.processor.store
        for p in list(store.partitions):
            if p not in partitions:
                await self.lose(p)
        for p in sorted(partitions):
            if p not in store.partitions:
                store.partition(p).ready = asyncio.Event()
                self.tasks[p] = asyncio.create_task(self._take_over(p))

    async def lose(self, partition: int) -> None:
        """Give a partition up: cancel its take-over, drop its rows, timers and armed results, release its producer."""
        task = self.tasks.pop(partition, None)
        if task is not None and not task.done():
            task.cancel()
        self.processor.store.drop(partition)
        self.processor.index.drop_partition(partition)
        self.processor.arming.drop(partition)
        await self.fence.release(partition)

    async def ready(self, partition: int) -> bool:
        """Wait until the partition is taken over; False when it is not, or no longer, this worker's."""
        part = self.processor.store.partitions.get(partition)
        if part is None or part.revoked:
            return False
        if part.ready is not None:
            await part.ready.wait()
        return not part.revoked

    async def _take_over(self, p: int) -> None:
        loop = asyncio.get_running_loop()
        topic = self.fence.changelog_topic
        try:
            t0 = time.perf_counter()
            if not self._changelog_ready:
                await loop.run_in_executor(None, self.ensure_changelog)
                self._changelog_ready = True
            await self.fence.acquire(p)
            if self.before_index is not None:
                # Before any row is read: whether a stored due moment (a row's or a snapshot's) can be trusted
                # depends on the basis, which digests the whole configuration schedule.
                await self.before_index()
            t1 = time.perf_counter()
            part = self.processor.store.partition(p)
            part.rows.clear()
            dues: dict[bytes, Due] = {}
            known: dict[bytes, datetime | None] | None = None
            letters: list[Output] = []
            n_records = 0
            async with ChangelogReader(self.bootstrap, topic, p, self.client_options) as reader:
                end = await reader.end()  # after the fence: the aborted transaction's marker is below it
                snap = await loop.run_in_executor(None, self._snapshot, p, end)
                t2 = time.perf_counter()
                # ``basis``: what the stored due moments are checked against, as the rows are loaded. An adoption
                # arriving after that and before the index is built (the partition is not in the index yet, so
                # nothing wakes its cases) moves the processor's: `rebuild_index` then trusts none of them.
                basis = self.processor.basis
                if snap is not None:  # exactly what reading the changelog to `end` would give
                    part.rows = snap.rows
                    part.watermark, part.chain = snap.watermark, snap.chain
                    known = snap.dues if snap.basis == basis else None  # else: read the rows
                    del snap
                    source = "snapshot"
                else:
                    records = await reader.read(end)
                    t2 = time.perf_counter()
                    basis = self.processor.basis  # `load` checks the rows against it
                    letters = load(self.processor, p, topic, records, dues)
                    n_records = len(records)
                    del records  # the rows hold what is needed; let the records go before the index is built
                    source = "changelog"
            committed = await loop.run_in_executor(None, self.committed)  # after the fence: final
            part.committed = {t: committed[(t, p)] for t in self.input_topics if (t, p) in committed}
            t3 = time.perf_counter()
            rebuild_index(self.processor, p, dues, known, read_on=basis)  # synchronous: no adoption during it
            del dues, known
            if letters:
                await self.fence.commit(p, PartitionResult(outputs=letters))
            self.fence.ends[p] = end  # the state is the changelog's up to here (a snapshot is as good)
            t4 = time.perf_counter()
            # The bench (tests/bench/test_recovery_bench.py) reads this line: keep its shape.
            log.info(
                "partition %d taken over from %s: %d cases (%d changelog records, %d quarantined), committed %s; "
                "fence %.2f s, read %.2f s, load %.2f s, index %.2f s",
                p,
                source,
                len(part.rows),
                n_records,
                len(letters),
                part.committed,
                t1 - t0,
                t2 - t1,
                t3 - t2,
                t4 - t3,
            )
            if part.ready is not None:
                part.ready.set()
        except asyncio.CancelledError:
            raise
        except BaseException:
            # Without its state the partition cannot be judged, and a half-taken one must not be: start again.
            log.critical("taking over partition %d failed; exiting so it is taken over afresh", p, exc_info=True)
            os._exit(70)

    def _snapshot(self, p: int, end: int) -> snapshot.Snapshot | None:
        """The partition's local snapshot if there is one standing exactly at ``end``; the file is consumed
        either way (used or refused), so it can never be read against a changelog that moved on later."""
        if self.snapshots is None:
            return None
        path = snapshot.path_for(self.snapshots, self.fence.group_id, self.fence.changelog_topic, p)
        if not path.exists():
            return None
        try:
            return snapshot.read(path, topic=self.fence.changelog_topic, partition=p, end=end)
        except snapshot.SnapshotError as exc:
            log.warning("partition %d: snapshot %s not used, reading the changelog: %s", p, path, exc)
            return None
        finally:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:  # kept, it is still refused once the changelog moves on: the end must match
                log.warning("partition %d: could not delete the snapshot %s: %s", p, path, exc)

    async def save(self, unsettled: set[int], wait_s: float = 3.0) -> None:
        """At a planned stop, once nothing more will be written: each owned partition's rows to a local
        snapshot, where the changelog ends exactly after this worker's last commit (`Fence.ends`). Skipped,
        with the reason logged, for a partition still being taken over, one whose last batch did not settle
        (``unsettled``), or one whose changelog end is unknown or not ours. Never raises."""
        if self.snapshots is None:
            return
        loop = asyncio.get_running_loop()
        wanted: dict[int, int] = {}
        for p in self.owned():
            end = self.fence.ends.get(p)
            if p in unsettled or end is None:
                why = "its last batch did not settle" if p in unsettled else "its changelog end is not known"
                log.warning("partition %d: no snapshot written: %s", p, why)
            else:
                wanted[p] = end
        if not wanted:
            return
        try:
            ends = await self._stable_ends(wanted, wait_s)
        except Exception:
            log.warning("no snapshot written: the changelog's end could not be read", exc_info=True)
            return

        async def one(p: int) -> None:
            if ends.get(p) != wanted[p]:
                log.warning(
                    "partition %d: no snapshot written: the changelog ends at %s, this worker's last commit at %d",
                    p,
                    ends.get(p),
                    wanted[p],
                )
                return
            t0 = time.perf_counter()
            try:
                size = await loop.run_in_executor(None, self._write, p, wanted[p])
            except Exception:
                log.warning("partition %d: writing its snapshot failed", p, exc_info=True)
                return
            log.info(
                "partition %d: snapshot written at changelog offset %d (%d rows, %.1f MB, %.2f s)",
                p,
                wanted[p],
                len(self.processor.store.partition(p).rows),
                size / 1e6,
                time.perf_counter() - t0,
            )

        await asyncio.gather(*(one(p) for p in wanted))

    async def _stable_ends(self, wanted: dict[int, int], wait_s: float) -> dict[int, int]:
        """The changelog partitions' read_committed ends once they reach ``wanted`` (a commit's marker is
        written just after the commit returns) or ``wait_s`` has passed."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        tps = {p: TopicPartition(self.fence.changelog_topic, p) for p in wanted}
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            **self.client_options,
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + wait_s
            while True:
                got = await consumer.end_offsets(list(tps.values()))
                ends = {p: int(got[tp]) for p, tp in tps.items()}
                if all(ends[p] >= wanted[p] for p in wanted) or time.monotonic() > deadline:
                    return ends
                await asyncio.sleep(0.05)
        finally:
            await consumer.stop()

    def _write(self, p: int, end: int) -> int:
        if self.snapshots is None:
            raise RuntimeError("no snapshot folder")
        part = self.processor.store.partition(p)
        timed = self.processor.index.dues(p)
        untimed = part.untimed

        def due(key: bytes) -> snapshot.Due:
            if is_applicant(key):
                return None
            case_id = key.decode()
            got = timed.get(case_id)
            if got is not None:
                return got
            return snapshot.UNKNOWN_DUE if key in untimed else None

        return snapshot.write(
            snapshot.path_for(self.snapshots, self.fence.group_id, self.fence.changelog_topic, p),
            topic=self.fence.changelog_topic,
            partition=p,
            end=end,
            basis=self.processor.basis,
            watermark=part.watermark,
            chain=part.chain,
            rows=part.rows,
            due=due,
        )
