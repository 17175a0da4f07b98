"""One batch of messages → the rows and outputs it produces, per input partition. The worker's only path.

Design: docs/architecture.md#a-batch-the-workers-one-path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from schemas.control import DeadLetter, TickError, parse_tick
from schemas.events import CaseEvent, EventError, parse_event
from schemas.findings import Finding
from streams.applicants import Applicants
from streams.arming import Arming
from streams.chain import Head
from streams.configs import Contexts
from streams.deadlines import DeadlineIndex
from streams.rows import META_KEY, encode_meta, encode_row, row_due
from streams.rules import CaseState, Context, due, step
from streams.rules.clocks import next_due
from streams.rules.integrity import ahead_of_receipt, foreign_department
from streams.rules.reapply import case_facts
from streams.rules.snapshot import snapshot_json
from streams.store import CaseStore

Output = tuple[str, bytes, bytes]  # (output: findings | snapshots | dead_letters | facts, key, value)
ClockKind = Literal["wall", "event"]


class Message(NamedTuple):
    """One input record: topic, partition, offset, key, value and the broker's receipt time."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: datetime | None = None  # the broker's receipt time (the topics use LogAppendTime)


@dataclass
class PartitionResult:
    """What a batch produced for one input partition: changed rows, outputs, next offsets, the new chain head."""

    rows: dict[bytes, bytes] = field(default_factory=dict)  # changed rows (META_KEY: the watermark)
    outputs: list[Output] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)  # input topic -> next offset to read
    head: Head | None = None  # the findings' chain head after this batch, when it moved
    # Content hashes already computed for some findings' JSON (armed timers): sealing does not redo them.
    contents: dict[bytes, str] = field(default_factory=dict)


@dataclass
class BatchResult:
    """What a batch produced: each partition's result, every output in production order, and counters."""

    parts: dict[int, PartitionResult] = field(default_factory=dict)
    order: list[Output] = field(default_factory=list)  # every output in the order it was produced
    counters: Counter[str] = field(default_factory=Counter)

    @property
    def outputs(self) -> list[Output]:
        """Every output in the order it was produced."""
        return self.order

    def part(self, partition: int) -> PartitionResult:
        """The result of ``partition``, created empty on first use."""
        got = self.parts.get(partition)
        if got is None:
            got = self.parts[partition] = PartitionResult()
        return got

    def emit(self, partition: int, output: Output) -> None:
        """Add an output of ``partition``, keeping the batch's overall order."""
        self.part(partition).outputs.append(output)
        self.order.append(output)

    def extend(self, later: BatchResult) -> None:
        """Append a later batch's result (its rows replace this one's)."""
        for p, r in later.parts.items():
            mine = self.part(p)
            mine.rows.update(r.rows)
            mine.outputs += r.outputs
            mine.offsets.update(r.offsets)
            mine.head = r.head or mine.head
            mine.contents.update(r.contents)
        self.order += later.order
        self.counters.update(later.counters)


@dataclass(frozen=True)
class Env:
    """What judging a batch depends on besides the messages and the state."""

    ctx: Context
    clock: ClockKind
    ticks_topic: str
    basis: str  # calendar version and thresholds: what a stored next-due moment was computed on
    wall_clock: Callable[[], datetime]
    # How far an event or tick time may run ahead of its receipt by the broker (None: not checked).
    receipt_skew: timedelta | None = None
    # The applicant facts topic (streams.applicants): emitted to and read from; None: neither (unit tests).
    facts_topic: str | None = None
    # The adopted configurations with their moments (streams.configs); None: ``ctx`` at every moment.
    contexts: Contexts | None = None

    def at(self, moment: datetime) -> Context:
        """The context in effect at ``moment``."""
        return self.ctx if self.contexts is None else self.contexts.at(moment)

    def cap(self, due: datetime | None, judged_at: datetime) -> datetime | None:
        """A next due moment computed at ``judged_at``, brought forward to the next configuration boundary."""
        return due if self.contexts is None else self.contexts.cap(due, judged_at)


@dataclass
class _Dirty:
    partition: int
    state: CaseState | None
    as_of: datetime | None = None
    due: datetime | None = None
    changed: bool = False
    snapshot: bytes | None = None  # computed when armed, valid for the armed state only
    row: bytes | None = None  # likewise
    ctx: Context | None = None  # the context the case was last judged with (its snapshot's)


class Work:
    """Judges one batch against the store; ``run`` returns the result and writes the store at the end."""

    def __init__(
        self, env: Env, store: CaseStore, index: DeadlineIndex, arming: Arming, *, isolate_timers: bool = False
    ) -> None:
        self.env = env
        self.store = store
        self.index = index
        self.arming = arming
        self.isolate_timers = isolate_timers  # a failing case's timers are skipped, not the batch's
        self.result = BatchResult()
        self.dirty: dict[bytes, _Dirty] = {}
        self.popped: list[tuple[int, str]] = []
        self.marks: dict[int, datetime] = {}
        self.applicants = Applicants(lambda p: self.store.partition(p).rows)

    def run(self, messages: list[Message]) -> BatchResult:
        """Judge each message in order (offsets already in the state are skipped), then write the changed rows."""
        for m in messages:
            part = self.store.partition(m.partition)
            if m.offset < part.committed.get(m.topic, 0):
                self.result.counters["skipped"] += 1  # in the state already (committed with it)
                continue
            self.result.part(m.partition).offsets[m.topic] = m.offset + 1
            if m.topic == self.env.ticks_topic:
                self._tick(m)
            elif m.topic == self.env.facts_topic:
                self._fact(m)
            else:
                self._event(m)
        self._flush()
        return self.result

    def abandon(self) -> None:
        """Forget a failed batch: states it touched may be half-changed; the store still has the good ones."""
        keys = set(self.dirty) | {case_id.encode() for _, case_id in self.popped}
        self.store.forget(keys)
        for key in keys:
            for p, part in self.store.partitions.items():
                if key in part.rows:
                    state = self.store.state(p, key)
                    if state is not None:
                        self.index.touch(p, state.case_id, self._recomputed_due(p, part.rows[key], state))

    def _recomputed_due(self, partition: int, raw: bytes, state: CaseState) -> datetime | None:
        """The due moment of a case's good row: the stored one when written on the current basis, else computed
        again from the case's last judged moment (`streams.configs.Contexts.recomputed_due`), not now's."""
        stored = row_due(raw, self.env.basis)
        if stored is not None:
            return stored[1]
        if self.env.contexts is None:
            return next_due(state, self.env.ctx)
        return self.env.contexts.recomputed_due(state, self._moment(partition))

    # ---- events ---------------------------------------------------------------------------------------

    def _event(self, m: Message) -> None:
        event = self._parse(m)
        if event is None:
            return
        key = event.case_id.encode()
        d = self._touch(m.partition, key)
        foreign = foreign_department(d.state, event)
        if foreign is not None:
            self.dead_letter(m, foreign)
            return
        early = self._cross(d, event.occurred_at)
        before = d.state.seq if d.state is not None else -1
        applied = d.state is not None and d.state.applied_at is not None
        withdrawn = d.state is not None and d.state.outcome == "withdrawn"
        ctx = self.env.at(event.occurred_at)  # the configuration in effect at the event's time
        state, findings = step(d.state, event, ctx)
        findings = early + findings
        ahead = self._ahead(m, event)
        if ahead is not None:
            findings += ahead_of_receipt(state, event, m.timestamp, ahead, ctx)  # type: ignore[arg-type]
        c = self.result.counters
        c["events"] += 1
        if state.seq == before:
            c["duplicates"] += 1
            if early:  # a resend after a boundary: the timers it caught up on are still news
                self._stage(d, state, findings, event.occurred_at, ctx)
        else:
            self._stage(d, state, findings, event.occurred_at, ctx)
            if self.env.facts_topic is not None:  # to the worker owning the (applicant, item) key's partition
                for fact in case_facts(applied, withdrawn, state, event):
                    self.result.emit(m.partition, ("facts", fact.key, fact.to_json()))
        if self.env.clock == "event" and ahead is None:  # a time ahead of receipt never moves the clock
            self._sweep(m.partition, self._advance(m.partition, event.occurred_at))

    def _cross(self, d: _Dirty, moment: datetime) -> list[Finding]:
        """Before a case's event at ``moment``: its timers due before each configuration boundary since its last
        event fire under the configuration in effect then (the partition's sweep may not have passed it yet)."""
        if self.env.contexts is None or d.state is None:
            return []
        found: list[Finding] = []
        for before in self.env.contexts.crossings(moment, d.state.last_event_at):
            d.state, fired = due(d.state, before, self.env.at(before))
            found += fired
        return found

    def _ahead(self, m: Message, event: CaseEvent) -> timedelta | None:
        """The allowed lead over receipt when the event's time runs past it (then flagged), else None."""
        skew = self.env.receipt_skew
        if skew is None or m.timestamp is None or event.occurred_at - m.timestamp <= skew:
            return None
        return skew

    def _parse(self, m: Message) -> CaseEvent | None:
        try:
            event = parse_event(m.value if m.value is not None else b"")
        except EventError as exc:
            self.dead_letter(m, exc.reason)
            return None
        except Exception as exc:  # the contract's own parser failed: still a dead letter, never a crash
            self.dead_letter(m, f"<event>: unparseable ({type(exc).__name__})")
            return None
        if m.key != event.case_id.encode():
            reason = f"message key {m.key!r:.80} is not the case id {event.case_id!r}: events must be keyed by case id"
            self.dead_letter(m, reason)
            return None
        return event

    def _fact(self, m: Message) -> None:
        """An application or withdrawal of some case, keyed by (applicant, item): the cross-case check."""
        got = self.applicants.judge(m.partition, m.key, m.value, self.env.at)
        if isinstance(got, str):
            self.dead_letter(m, got)
            return
        self.result.counters["facts"] += 1
        for f in got:
            self.result.emit(m.partition, ("findings", f.case_id.encode(), f.model_dump_json().encode()))
        self.result.counters["findings"] += len(got)

    # ---- ticks ----------------------------------------------------------------------------------------

    def _tick(self, m: Message) -> None:
        try:
            tick = parse_tick(m.value)
        except TickError as exc:
            self.dead_letter(m, f"tick: {exc.reason}")
            return
        if tick.partition != m.partition:
            self.dead_letter(m, f"tick.partition: {tick.partition} sent on partition {m.partition}")
            return
        skew = self.env.receipt_skew
        if not tick.arm and skew is not None and m.timestamp is not None and tick.now - m.timestamp > skew:
            self.dead_letter(m, f"tick.now: {tick.now.isoformat()} is ahead of its receipt {m.timestamp.isoformat()}")
            return
        self.result.counters["ticks"] += 1
        if tick.arm:
            if self.env.clock == "wall":
                self.result.counters["armed"] += self.arming.arm(
                    m.partition, tick.now, self.store, self.index, self.env.at(tick.now), self.env.basis, self.env.cap
                )
            return
        now = self._advance(m.partition, tick.now) if self.env.clock == "event" else tick.now
        self._sweep(m.partition, now)
        self.arming.expire(m.partition, now)

    # ---- timers and state -----------------------------------------------------------------------------

    def _advance(self, partition: int, moment: datetime) -> datetime:
        """Event clock: the partition's watermark after ``moment`` (it never goes back)."""
        mark = self.marks.get(partition, self.store.partition(partition).watermark)
        if mark is None or moment > mark:
            self.marks[partition] = mark = moment
        return mark

    def _moment(self, partition: int) -> datetime:
        """The partition's present: its event-time watermark on the event clock, else the wall clock."""
        mark = self.marks.get(partition, self.store.partition(partition).watermark)
        return mark if self.env.clock == "event" and mark is not None else self.env.wall_clock()

    def _sweep(self, partition: int, now: datetime) -> None:
        # Timers due before a configuration boundary fire under the configuration in effect before it.
        if self.env.contexts is not None:
            for before in self.env.contexts.crossings(now):
                self._sweep_to(partition, before)
        self._sweep_to(partition, now)

    def _sweep_to(self, partition: int, now: datetime) -> None:
        for case_id in self.index.pop_due(partition, now):
            self.popped.append((partition, case_id))
            key = case_id.encode()
            d = self._touch(partition, key)
            if d.state is None:
                continue
            try:
                self._fire(d, key, partition, now)
            except Exception:
                if not self.isolate_timers:
                    raise
                self.result.counters["timer_errors"] += 1
                self.store.partition(partition).untimed.add(key)  # out of the index, its row still due
                self.dirty.pop(key, None)
                self.store.forget({key})

    def _fire(self, d: _Dirty, key: bytes, partition: int, now: datetime) -> None:
        assert d.state is not None
        ctx = self.env.at(now)
        a = self.arming.take(partition, key, d.state.seq, now, self.env.basis)
        if a is not None:  # unchanged since it was armed and nothing else due by now: publish what was computed
            self.result.counters["armed_used"] += 1
            self._stage(d, a.state, [], a.moment, ctx, texts=a.texts, due_at=a.due, snapshot=a.snapshot, row=a.row)
            self.result.part(partition).contents.update(a.contents)
            return
        state, findings = due(d.state, now, ctx)
        self._stage(d, state, findings, now, ctx)

    def _touch(self, partition: int, key: bytes) -> _Dirty:
        d = self.dirty.get(key)
        if d is None:
            d = self.dirty[key] = _Dirty(partition, self.store.state(partition, key))
        return d

    def _stage(
        self,
        d: _Dirty,
        state: CaseState,
        findings: list[Finding],
        as_of: datetime,
        ctx: Context,
        *,
        texts: list[str] | None = None,
        due_at: datetime | None = None,
        snapshot: bytes | None = None,
        row: bytes | None = None,
    ) -> None:
        if texts is None:
            texts = [f.model_dump_json() for f in findings]
            due_at = self.env.cap(next_due(state, ctx), as_of)
        d.state, d.as_of, d.due, d.changed, d.snapshot, d.row = state, as_of, due_at, True, snapshot, row
        d.ctx = ctx
        self.index.touch(d.partition, state.case_id, due_at)
        key = state.case_id.encode()
        for t in texts:
            self.result.emit(d.partition, ("findings", key, t.encode()))
        self.result.counters["findings"] += len(texts)

    def dead_letter(self, m: Message, reason: str) -> None:
        """Emit a dead letter for ``m`` giving ``reason``."""
        letter = DeadLetter.of(
            reason=reason,
            topic=m.topic,
            partition=m.partition,
            offset=m.offset,
            key=m.key,
            value=m.value,
            failed_at=self.env.wall_clock(),
        )
        self.result.counters["dead_letters"] += 1
        self.result.emit(m.partition, ("dead_letters", m.key or b"", letter.model_dump_json().encode()))

    def _flush(self) -> None:
        """Rows and snapshots of every changed case, then (only then) the store."""
        writes: list[tuple[int, bytes, bytes, CaseState]] = []
        basis = self.env.basis
        for key, d in self.dirty.items():
            if not d.changed or d.state is None or d.as_of is None:
                continue
            snap = d.snapshot or snapshot_json(d.state, d.as_of, d.ctx or self.env.ctx, due=d.due)
            self.result.emit(d.partition, ("snapshots", key, snap))
            raw = d.row or encode_row(d.state, due=d.due, basis=basis)
            self.result.part(d.partition).rows[key] = raw
            writes.append((d.partition, key, raw, d.state))
        for p, mark in self.marks.items():
            if mark != self.store.partition(p).watermark:
                self.result.part(p).rows[META_KEY] = encode_meta(mark, self.store.partition(p).chain)
        for p, key, raw in self.applicants.flush():
            self.result.part(p).rows[key] = raw
            self.store.partition(p).rows[key] = raw
        for p, key, raw, state in writes:
            self.store.write(p, key, raw, state)
        for p, mark in self.marks.items():
            self.store.partition(p).watermark = mark
