"""Which partitions this worker owns, and taking one over (fence, load, where the group stands, index).

faust tells the worker its assignment; for each new partition a task fences the previous owner, loads
the partition's rows from the changelog and reads the committed offsets, and only then marks it ready.
The agent waits for a partition to be ready before judging its messages and skips messages of
partitions it no longer owns (their new owner judges them from the committed offset).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from streams.batch import PartitionResult
from streams.fence import Fence
from streams.processor import CaseProcessor
from streams.recovery import Due, load, read_changelog, rebuild_index

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
    ) -> None:
        self.processor = processor
        self.fence = fence
        self.bootstrap = bootstrap
        self.input_topics = input_topics
        self.committed = committed
        self.ensure_changelog = ensure_changelog
        self.client_options = client_options or {}
        self.before_index = before_index
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
        try:
            t0 = time.perf_counter()
            if not self._changelog_ready:
                await loop.run_in_executor(None, self.ensure_changelog)
                self._changelog_ready = True
            await self.fence.acquire(p)
            t1 = time.perf_counter()
            records = await read_changelog(self.bootstrap, self.fence.changelog_topic, p, self.client_options)
            t2 = time.perf_counter()
            part = self.processor.store.partition(p)
            part.rows.clear()
            dues: dict[bytes, Due] = {}
            letters = load(self.processor, p, self.fence.changelog_topic, records, dues)
            n_records = len(records)
            del records  # the rows hold what is needed; let the records go before the index is built
            committed = await loop.run_in_executor(None, self.committed)  # after the fence: final
            part.committed = {t: committed[(t, p)] for t in self.input_topics if (t, p) in committed}
            if self.before_index is not None:
                await self.before_index()
            t3 = time.perf_counter()
            rebuild_index(self.processor, p, dues)
            del dues
            if letters:
                await self.fence.commit(p, PartitionResult(outputs=letters))
            t4 = time.perf_counter()
            # The bench (tests/bench/test_recovery_bench.py) reads this line: keep its shape.
            log.info(
                "partition %d taken over: %d cases (%d changelog records, %d quarantined), committed %s; "
                "fence %.2f s, read %.2f s, load %.2f s, index %.2f s",
                p,
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
