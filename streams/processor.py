"""The case processor: batches through `streams.batch.Work` under one error policy, plus what the status
page reads (counters, positions, watermarks).

Error policy: a batch that fails anywhere (a rules defect, a snapshot, anything) has written nothing; its
messages run again as batches of one through the same code. A batch of one that still fails becomes a
dead letter naming the error (an event), or runs with each case's timers isolated so one defective case
cannot stop the others (a tick). Nothing raised by a message can stop a partition.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from schemas.control import Tick
from streams.arming import Arming
from streams.batch import BatchResult, ClockKind, Env, Message, Output, PartitionResult, Work
from streams.chain import seal
from streams.configs import Contexts
from streams.deadlines import DeadlineIndex
from streams.rows import META_KEY, encode_meta
from streams.rules import Context
from streams.store import CaseStore

log = logging.getLogger("esup.worker")

COUNTERS = (
    "events",
    "duplicates",
    "dead_letters",
    "findings",
    "ticks",
    "timer_errors",
    "armed",
    "armed_used",
    "skipped",
    "quarantined",
    "facts",
)


class CaseProcessor:
    """Judges batches under the module's error policy and keeps what the status page reads."""

    def __init__(
        self,
        *,
        ctx: Context,
        clock: ClockKind,
        ticks_topic: str,
        store: CaseStore | None = None,
        index: DeadlineIndex | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        receipt_skew: timedelta | None = None,
        facts_topic: str | None = None,
        contexts: Contexts | None = None,
    ) -> None:
        self.ctx = ctx  # the files the worker was started with
        # ... and the configurations adopted since, from their moments (streams.configs).
        self.contexts = contexts if contexts is not None else Contexts(ctx)
        self.contexts.listeners.append(self._adopted)
        self.clock = clock
        self.store = store if store is not None else CaseStore()
        self.index = index if index is not None else DeadlineIndex()
        self.arming = Arming()
        self.wall_clock = wall_clock
        # What a stored next-due moment was computed with: reused on recovery only if it is still the same.
        self.basis = self.contexts.basis
        self.env = Env(ctx, clock, ticks_topic, self.basis, wall_clock, receipt_skew, facts_topic, self.contexts)
        self.counters: Counter[str] = Counter(dict.fromkeys(COUNTERS, 0))
        self.positions: dict[int, int] = {}  # last processed offset per partition (status page)
        self.last_event_at: datetime | None = None

    def _adopted(self, moment: datetime) -> None:
        """A configuration adopted from ``moment``: rows are written on the new basis from now on, and every
        case pending past the moment wakes at it, to be judged again under the configuration that starts then."""
        self.basis = self.contexts.basis
        self.env = dataclasses.replace(self.env, basis=self.basis)
        for p in self.index.partitions():
            self.index.cap(p, moment)
        log.info("configuration adopted from %s: %d cases wake by then at the latest", moment, len(self.index))

    def moment(self, partition: int) -> datetime:
        """The partition's present: its event-time watermark on the event clock, else the wall clock."""
        mark = self.store.partition(partition).watermark
        return mark if self.clock == "event" and mark is not None else self.wall_clock()

    @property
    def watermarks(self) -> dict[int, datetime]:
        """Each partition's event-time watermark, where it has one."""
        return {p: part.watermark for p, part in self.store.partitions.items() if part.watermark is not None}

    def handle(self, messages: list[Message]) -> BatchResult:
        """Judge a batch: the rows and outputs per partition, and the state updated to match."""
        result = self._run(messages)
        for p, part in result.parts.items():
            self._seal(p, part, result)
        self.counters.update(result.counters)
        for m in messages:
            self.positions[m.partition] = max(m.offset, self.positions.get(m.partition, -1))
        if result.counters["events"]:
            self.last_event_at = self.wall_clock()
        return result

    def _seal(self, partition: int, part: PartitionResult, result: BatchResult) -> None:
        """Chain the partition's new findings after its head; the new head is committed with them."""
        found = [i for i, (name, _, _) in enumerate(part.outputs) if name == "findings"]
        if not found:
            return
        state = self.store.partition(partition)
        sealed, head = seal([part.outputs[i][2] for i in found], partition, state.chain, known=part.contents)
        swap: dict[int, Output] = {}
        for i, text in zip(found, sealed, strict=True):
            old = part.outputs[i]
            part.outputs[i] = swap[id(old)] = (old[0], old[1], text)
        result.order = [swap.get(id(o), o) for o in result.order]
        state.chain = part.head = head
        part.rows[META_KEY] = encode_meta(state.watermark, head)

    def _run(self, messages: list[Message], *, isolate_timers: bool = False) -> BatchResult:
        work = Work(self.env, self.store, self.index, self.arming, isolate_timers=isolate_timers)
        try:
            return work.run(messages)
        except Exception as exc:
            work.abandon()
            if len(messages) > 1:
                log.warning(
                    "%s in a batch of %d messages: running them one by one",
                    type(exc).__name__,
                    len(messages),
                    exc_info=exc,
                )
                result = BatchResult()
                for m in messages:
                    result.extend(self._run([m]))
                return result
            m = messages[0]
            if m.topic == self.env.ticks_topic and not isolate_timers:
                return self._run([m], isolate_timers=True)  # one defective case must not stop the others
            return self._dead(m, exc)

    def _dead(self, m: Message, exc: Exception) -> BatchResult:
        """A single message whose judgement failed: a dead letter naming the error; its offset moves on."""
        log.error("could not judge %s/%d@%d", m.topic, m.partition, m.offset, exc_info=exc)
        work = Work(self.env, self.store, self.index, self.arming)
        work.result.part(m.partition).offsets[m.topic] = m.offset + 1
        work.dead_letter(m, f"engine error: {type(exc).__name__}: {str(exc)[:500]}")
        return work.result

    def tick_bytes(self, partition: int, now: datetime, *, arm: bool = False) -> bytes:
        """A tick for ``partition`` at ``now`` as JSON bytes; ``arm``: compute ahead and publish nothing yet."""
        return Tick(partition=partition, now=now, arm=arm).model_dump_json().encode()
