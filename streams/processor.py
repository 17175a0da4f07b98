"""What the case agent does with one message, without Faust: decode, run the rules, say what to send.

`CaseProcessor.handle` takes a message's coordinates and bytes and returns the messages to publish as
``(output, key, value)``; the case table is any mutable mapping (a Faust table in a worker, a dict in
tests). Keeping this free of Faust makes the glue testable and the agent a short loop.

Nothing lost, nothing doubled (at-least-once without transactions): a case's table row holds its state
**and an outbox** — the messages its recent changes produced, with the input offset that caused them.
The row and the outputs are separate Kafka writes, so a `kill -9` can land one and not the other:

- outputs landed, row did not: the input is processed again from the old state and the outputs are
  produced again, with the same deterministic ids (sinks keep one);
- row landed, outputs did not: the input is processed again but is a duplicate for the new state, so
  on recovery every outbox entry at or after the committed offset is published again.

Entries older than the committed offset were flushed before that commit, so they are pruned.

Batches (`handle_batch`, what the agent calls): the messages a worker took from Kafka at once are run
against decoded states kept in memory, and each case they changed is written once and snapshotted once at
the end, with one outbox entry per source topic carrying the batch's earliest offset for that case (so
recovery republishes the lot if any of it may be uncommitted). A failure anywhere in a batch, in the
rules or not, discards the batch's in-memory work before anything is written and runs its messages again
one by one (`handle`), where the failing event becomes a dead letter and a failing timer leaves its case
unchanged, exactly as without batching. A bounded cache of decoded states (`cache_size` cases, least
recently written evicted) saves decoding a row on every event; it is only ever the decoded form of what is
in the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from schemas.control import DeadLetter, Tick
from schemas.events import CaseEvent, EventError, parse_event
from schemas.findings import Finding
from streams.deadlines import DeadlineIndex
from streams.rules import CaseState, Context, due, step
from streams.rules.clocks import next_due
from streams.rules.snapshot import snapshot_json

log = logging.getLogger("esup.worker")

Output = tuple[str, bytes, bytes]
Message = tuple[str, int, int, bytes | None, bytes | None]  # topic, partition, offset, key, value
OUTBOX_LIMIT = 16
# One outbox entry: [source topic, source offset, [finding JSON, ...]] — JSON-friendly.
OutboxEntry = list[Any]


def encode_row(
    partition: int,
    state: CaseState,
    outbox: list[OutboxEntry] | None = None,
    *,
    due: datetime | None = None,
    basis: str | None = None,
) -> bytes:
    """A table row: the state, the outbox and, when ``basis`` is given, the case's next due moment computed
    on that basis (calendar and rule thresholds), so a restarted worker rebuilds its deadline index
    without decoding every state.

    orjson writes the state dataclasses directly; `CaseState.to_dict` is the same JSON, field for field
    (a unit test holds the two together).
    """
    raw = orjson.dumps({"p": partition, "s": state, "o": outbox or [], "d": due, "b": basis})
    # orjson (3.12+) returns bytes over-allocated to its 8 or 16 KiB work buffer; a row lives in the table for
    # the case's whole life, so keep an exact-size copy (1.1 KB instead of 8-16 KB of memory per case).
    return bytes(memoryview(raw))


def decode_row(raw: bytes) -> tuple[int, CaseState, list[OutboxEntry]]:
    row = orjson.loads(raw)
    return int(row["p"]), CaseState.from_dict(row["s"]), row.get("o", [])


@dataclass
class _Dirty:
    """A case a batch touched: its live state and what its next row and outbox entry will hold."""

    partition: int
    state: CaseState | None
    outbox: list[OutboxEntry]
    as_of: datetime | None = None
    changed: bool = False
    indexed: int = -1  # the state's seq when its next due moment was last put in the index
    known: tuple[int, datetime | None, bytes] | None = None  # armed: (seq, next due, snapshot) for that seq

    def armed(self) -> tuple[datetime | None, bytes] | None:
        """The next due moment and snapshot computed when armed, if the state is still the armed one."""
        if self.known is None or self.state is None or self.known[0] != self.state.seq:
            return None
        return self.known[1], self.known[2]

    new: dict[str, list[Any]] = field(default_factory=dict)  # source topic -> [earliest offset, [finding JSON]]


@dataclass
class _Armed:
    """What a case's timers due by ``moment`` raise, computed ahead on a copy of its state of version ``seq``."""

    seq: int
    moment: datetime
    state: CaseState
    texts: list[str]  # the findings, as JSON
    due: datetime | None  # the next due moment after them
    snapshot: bytes


@dataclass
class _Batch:
    dirty: dict[bytes, _Dirty] = field(default_factory=dict)
    popped: list[tuple[int, str]] = field(default_factory=list)  # taken from the deadline index
    sources: dict[int, tuple[str, int]] = field(default_factory=dict)  # partition -> last message read on it


class CaseProcessor:
    def __init__(
        self,
        *,
        ctx: Context,
        table: MutableMapping[bytes, bytes],
        index: DeadlineIndex,
        clock: Literal["wall", "event"],
        case_events_topic: str,
        ticks_topic: str,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        committed: Callable[[str, int], int | None] = lambda topic, partition: None,
        put: Callable[[int, bytes, bytes], None] | None = None,
        cache_size: int = 20_000,
    ) -> None:
        self.ctx = ctx
        self.table = table
        self.index = index
        self.clock = clock
        self.case_events_topic = case_events_topic
        self.ticks_topic = ticks_topic
        self.wall_clock = wall_clock
        self.committed = committed  # the consumer group's committed offset of (topic, partition)
        # Writes a row to the table on an explicit partition (a batch writes outside any one message's context).
        self.put = put or (lambda partition, key, raw: table.__setitem__(key, raw))
        self.cache_size = cache_size
        # What a stored next-due moment was computed with: reused on recovery only if it is still the same.
        self.basis = f"{ctx.calendar.version}|{ctx.config.model_dump_json()}"
        self._cache: dict[bytes, tuple[int, CaseState, list[OutboxEntry]]] = {}
        self._armed: dict[int, dict[bytes, _Armed]] = {}  # partition -> case -> precomputed timers
        self.watermarks: dict[int, datetime] = {}
        self.positions: dict[int, int] = {}  # last processed offset per case-events partition
        self.counters = {"events": 0, "duplicates": 0, "dead_letters": 0, "findings": 0, "ticks": 0,
                         "timer_errors": 0, "republished": 0, "armed": 0, "armed_used": 0}  # fmt: skip
        self.last_event_at: datetime | None = None

    # ---- batches ----------------------------------------------------------------------------------

    def handle_batch(self, messages: list[Message]) -> list[Output]:
        """What to publish for a batch of messages, in order; each changed case is written once."""
        saved = (dict(self.counters), dict(self.watermarks), dict(self.positions), self.last_event_at)
        batch = _Batch()
        try:
            out: list[Output] = []
            for topic, partition, offset, key, value in messages:
                batch.sources[partition] = (topic, offset)
                if topic == self.ticks_topic:
                    out += self._batch_tick(partition, value, (topic, offset), batch)
                else:
                    out += self._batch_event(topic, partition, offset, key, value, batch)
            return out + self._flush(batch)
        except Exception as exc:  # a rules defect (or any other): nothing of the batch was written or sent
            log.warning("%s in a batch of %d messages: running them one by one", type(exc).__name__, len(messages),
                        exc_info=exc)  # fmt: skip
            self._undo(batch)
            self.counters, self.watermarks, self.positions, self.last_event_at = saved
            again: list[Output] = []
            for message in messages:
                again += self.handle(*message)
            return again

    def _batch_event(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, batch: _Batch
    ) -> list[Output]:
        event = self._parse(topic, partition, offset, key, value)
        if isinstance(event, tuple):  # a dead letter
            return [event]
        d = self._touch(batch, event.case_id.encode(), partition)
        seq = d.state.seq if d.state is not None else -1
        state, findings = step(d.state, event, self.ctx)  # a defect sends the batch back to `handle`
        self.counters["events"] += 1
        self.last_event_at = self.wall_clock()
        out: list[Output] = []
        if state.seq == seq:
            self.counters["duplicates"] += 1
        else:
            out += self._stage(d, partition, state, findings, event.occurred_at, (topic, offset))
        if self.clock == "event":
            out += self._batch_sweep(partition, self._advance(partition, event.occurred_at), (topic, offset), batch)
        return out

    def _batch_tick(self, partition: int, value: bytes | None, source: tuple[str, int], batch: _Batch) -> list[Output]:
        tick = self._read_tick(partition, value)
        if tick is None:
            return []
        if tick.arm:
            if self.clock == "wall":
                self._arm(partition, tick.now)
            return []
        now = self._advance(partition, tick.now) if self.clock == "event" else tick.now
        out = self._batch_sweep(partition, now, source, batch)
        armed = self._armed.get(partition)
        if armed:  # whatever was armed for a moment now past was used or is stale
            for key in [k for k, a in armed.items() if a.moment <= now]:
                del armed[key]
        return out

    def _arm(self, partition: int, moment: datetime) -> None:
        """Compute ahead, on copies of the stored states, what the timers due by ``moment`` will raise."""
        armed = self._armed.setdefault(partition, {})
        before = len(armed)
        for case_id in self.index.due_by(partition, moment):
            key = case_id.encode()
            row = self.table.get(key)
            if row is None:
                continue
            state = decode_row(row)[1]  # a copy: the live state is not touched
            seq = state.seq
            try:
                state, findings = due(state, moment, self.ctx)
            except Exception:  # the sweep at the moment itself will meet (and handle) the same defect
                continue
            nxt = next_due(state, self.ctx)
            snap = snapshot_json(state, moment, self.ctx, due=nxt)
            armed[key] = _Armed(seq, moment, state, [f.model_dump_json() for f in findings], nxt, snap)
        self.counters["armed"] += len(armed) - before

    def _batch_sweep(self, partition: int, now: datetime, source: tuple[str, int], batch: _Batch) -> list[Output]:
        out: list[Output] = []
        armed = self._armed.get(partition) or {}
        for case_id in self.index.pop_due(partition, now):
            batch.popped.append((partition, case_id))
            key = case_id.encode()
            d = self._touch(batch, key, partition)
            if d.state is None:
                continue
            a = armed.pop(key, None) if armed else None
            if a is not None and a.seq == d.state.seq and a.moment <= now and (a.due is None or a.due > now):
                # Unchanged since it was armed and nothing else due by now: publish what was computed.
                self.counters["armed_used"] += 1
                out += self._stage(d, partition, a.state, [], a.moment, source, texts=a.texts)
                d.known = (a.state.seq, a.due, a.snapshot)
                continue
            state, findings = due(d.state, now, self.ctx)  # a defect sends the batch back to `handle`
            out += self._stage(d, partition, state, findings, now, source)
        return out

    def _touch(self, batch: _Batch, key: bytes, partition: int) -> _Dirty:
        """The batch's live entry for a case: from the batch, else the cache, else the table."""
        d = batch.dirty.get(key)
        if d is None:
            hit = self._cache.get(key)
            if hit is None:
                row = self.table.get(key)
                hit = decode_row(row) if row is not None else None
            d = _Dirty(partition, None, []) if hit is None else _Dirty(hit[0], hit[1], list(hit[2]))
            batch.dirty[key] = d
        return d

    def _stage(
        self,
        d: _Dirty,
        partition: int,
        state: CaseState,
        findings: list[Finding],
        as_of: datetime,
        source: tuple[str, int],
        *,
        texts: list[str] | None = None,
    ) -> list[Output]:
        key = state.case_id.encode()
        d.partition, d.state, d.as_of, d.changed = partition, state, as_of, True
        if texts is None:
            texts = [f.model_dump_json() for f in findings]
        entry = d.new.get(source[0])
        if entry is None:
            d.new[source[0]] = [source[1], texts]
        else:
            entry[0] = min(entry[0], source[1])
            entry[1].extend(texts)
        self.counters["findings"] += len(texts)
        return [("findings", key, t.encode()) for t in texts]

    def _flush(self, batch: _Batch) -> list[Output]:
        """Write each changed case once. In event-clock mode, first sweep again with the batch's new
        deadlines: a case the batch opened may already be due by a later event's time on its partition."""
        out: list[Output] = []
        dues: dict[bytes, datetime | None] = {}
        while True:
            stale = [(k, d) for k, d in batch.dirty.items() if d.changed and d.state and d.indexed != d.state.seq]
            for key, d in stale:
                assert d.state is not None
                armed = d.armed()
                dues[key] = armed[0] if armed else next_due(d.state, self.ctx)
                self.index.touch(d.partition, d.state.case_id, dues[key])
                d.indexed = d.state.seq
            if not stale or self.clock != "event":
                break
            for partition in sorted({d.partition for _, d in stale}):
                mark = self.watermarks.get(partition)
                if mark is not None:
                    out += self._batch_sweep(partition, mark, batch.sources[partition], batch)
        rows: list[tuple[bytes, _Dirty, list[OutboxEntry], bytes]] = []
        for key, d in batch.dirty.items():
            if not d.changed:
                continue
            assert d.state is not None and d.as_of is not None
            armed = d.armed()
            snap = armed[1] if armed else snapshot_json(d.state, d.as_of, self.ctx, due=dues[key])
            out.append(("snapshots", key, snap))
            kept = [e for e in d.outbox if not self._flushed(e[0], d.partition, e[1])]
            kept += [[topic, offset, texts] for topic, (offset, texts) in d.new.items()]
            kept = kept[-OUTBOX_LIMIT:]
            rows.append((key, d, kept, encode_row(d.partition, d.state, kept, due=dues[key], basis=self.basis)))
        # Written only once everything is computed: a failure above leaves the table as the batch found it.
        for key, d, kept, raw in rows:
            assert d.state is not None
            self.put(d.partition, key, raw)
            self._remember(key, d.partition, d.state, kept)
        return out

    def _remember(self, key: bytes, partition: int, state: CaseState, outbox: list[OutboxEntry]) -> None:
        self._cache.pop(key, None)  # re-inserted last: the cache evicts the least recently written first
        self._cache[key] = (partition, state, outbox)
        if len(self._cache) > self.cache_size:
            del self._cache[next(iter(self._cache))]

    def _undo(self, batch: _Batch) -> None:
        """Forget a failed batch: its states may be half-changed; the table still holds the last good ones."""
        keys = set(batch.dirty) | {case_id.encode() for _, case_id in batch.popped}
        for key in keys:
            self._cache.pop(key, None)
            row = self.table.get(key)
            if row is not None:
                partition, state, _ = decode_row(row)
                self.index.touch(partition, state.case_id, next_due(state, self.ctx))

    # ---- one message at a time ---------------------------------------------------------------------

    def handle(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> list[Output]:
        source = (topic, offset)
        if topic == self.ticks_topic:
            return self._tick(partition, value, source)
        event = self._parse(topic, partition, offset, key, value)
        if isinstance(event, tuple):  # a dead letter
            return [event]
        key = event.case_id.encode()
        out: list[Output] = []
        try:  # a defect must not lose the event nor stop the partition; _store writes the row last
            row = self.table.get(key)
            state, outbox = (None, []) if row is None else decode_row(row)[1:]
            seq = state.seq if state is not None else -1
            state, findings = step(state, event, self.ctx)
            if state.seq != seq:
                out += self._store(partition, state, outbox, findings, event.occurred_at, source)
        except Exception as exc:
            log.exception("rules engine failed on %s/%d@%d", topic, partition, offset)
            reason = f"engine error: {type(exc).__name__}: {exc}"
            return [self._dead_letter(reason, topic, partition, offset, key, value)]
        self.counters["events"] += 1
        self.last_event_at = self.wall_clock()
        if state.seq == seq:
            self.counters["duplicates"] += 1
        if self.clock == "event":
            out += self.sweep(partition, self._advance(partition, event.occurred_at), source)
        return out

    def _tick(self, partition: int, value: bytes | None, source: tuple[str, int]) -> list[Output]:
        tick = self._read_tick(partition, value)
        if tick is None or tick.arm:  # arming only saves time; one message at a time does without it
            return []
        now = self._advance(partition, tick.now) if self.clock == "event" else tick.now
        return self.sweep(partition, now, source)

    # ---- shared by both paths --------------------------------------------------------------------------

    def _parse(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
    ) -> CaseEvent | Output:
        """The message's event, or the dead letter it becomes (invalid, or not keyed by its case id)."""
        self.positions[partition] = offset
        try:
            event = parse_event(value if value is not None else b"")
        except EventError as exc:
            return self._dead_letter(exc.reason, topic, partition, offset, key, value)
        if key != event.case_id.encode():
            reason = f"message key {key!r} is not the case id {event.case_id!r}: events must be keyed by case id"
            return self._dead_letter(reason, topic, partition, offset, key, value)
        return event

    def _read_tick(self, partition: int, value: bytes | None) -> Tick | None:
        try:
            tick = Tick.model_validate_json(value or b"")
        except ValidationError as exc:
            log.warning("ignoring a malformed tick on partition %d: %s", partition, exc)
            return None
        self.counters["ticks"] += 1
        return tick

    def _advance(self, partition: int, moment: datetime) -> datetime:
        """Event clock: the partition's watermark after ``moment`` (it never goes back)."""
        mark = self.watermarks.get(partition)
        if mark is None or moment > mark:
            self.watermarks[partition] = mark = moment
        return mark

    def sweep(self, partition: int, now: datetime, source: tuple[str, int]) -> list[Output]:
        """Run the timers of every case on ``partition`` that has one due by ``now``."""
        out: list[Output] = []
        for case_id in self.index.pop_due(partition, now):
            row = self.table.get(case_id.encode())
            if row is None:
                continue
            try:  # one case's defect must not stop the timers of the others
                _, state, outbox = decode_row(row)
                state, findings = due(state, now, self.ctx)
                out += self._store(partition, state, outbox, findings, now, source)
            except Exception:
                self.counters["timer_errors"] += 1
                log.exception("timers failed for case %s on partition %d; state unchanged", case_id, partition)
                continue
        return out

    def tick_bytes(self, partition: int, now: datetime, *, arm: bool = False) -> bytes:
        return Tick(partition=partition, now=now, arm=arm).model_dump_json().encode()

    # ---- state and outbox ----------------------------------------------------------------------------

    def _store(
        self,
        partition: int,
        state: CaseState,
        outbox: list[OutboxEntry],
        findings: list[Finding],
        as_of: datetime,
        source: tuple[str, int],
    ) -> list[Output]:
        key = state.case_id.encode()
        due_at = next_due(state, self.ctx)
        out: list[Output] = [("findings", key, f.model_dump_json().encode()) for f in findings]
        out.append(("snapshots", key, snapshot_json(state, as_of, self.ctx, due=due_at)))
        # Pruned by the group's commits; the cap bounds a row even before a first commit is known (a case
        # changing more than OUTBOX_LIMIT times between two commits, one second apart, is not realistic).
        # Only findings are kept: a lost snapshot is rebuilt from the state itself on recovery.
        kept = [e for e in outbox if not self._flushed(e[0], partition, e[1])][-(OUTBOX_LIMIT - 1) :]
        kept.append([source[0], source[1], [v.decode() for name, _, v in out if name == "findings"]])
        self.put(partition, key, encode_row(partition, state, kept, due=due_at, basis=self.basis))
        self._cache.pop(key, None)
        self.index.touch(partition, state.case_id, due_at)
        self.counters["findings"] += len(findings)
        return out

    def _flushed(self, topic: str, partition: int, offset: int) -> bool:
        committed = self.committed(topic, partition)
        # Everything produced before a commit was flushed by it (faust flushes the producer first).
        return committed is not None and offset < committed - 1

    def recover(self, partitions: list[int], committed: Mapping[tuple[str, int], int] | None = None) -> list[Output]:
        """After (re)assignment: rebuild the deadline index of the owned partitions and return every
        outbox message that may not have reached Kafka before the previous owner stopped.

        ``committed`` is the group's committed offsets as read from Kafka: faust recovers tables before its
        consumer has fetched them, and without them every outbox entry would count as possibly unsent."""

        def flushed(topic: str, partition: int, offset: int) -> bool:
            if committed is not None and (topic, partition) in committed:
                return offset < committed[(topic, partition)] - 1
            return self._flushed(topic, partition, offset)

        owned = set(partitions)
        self._cache.clear()  # the table was just (re)loaded from the changelog
        self._armed.clear()
        for p in self.index.partitions():
            if p not in owned:
                self.index.drop_partition(p)
        entries: dict[int, list[tuple[str, datetime | None]]] = {p: [] for p in owned}
        again: list[Output] = []
        for raw in list(self.table.values()):
            if raw is None:
                continue
            row = orjson.loads(raw)
            partition = int(row["p"])
            if partition not in owned:
                continue
            if row.get("b") == self.basis:
                case_id, stored = row["s"]["case_id"], row.get("d")
                entries[partition].append((case_id, datetime.fromisoformat(stored) if stored else None))
            else:  # written before, or with another calendar or thresholds: compute it again
                state = CaseState.from_dict(row["s"])
                entries[partition].append((state.case_id, next_due(state, self.ctx)))
            pending = [e for e in row.get("o", []) if not flushed(e[0], partition, e[1])]
            if pending:
                state = CaseState.from_dict(row["s"])
                key = state.case_id.encode()
                again += [("findings", key, v.encode()) for e in pending for v in e[2]]
                as_of = state.last_event_at if self.clock == "event" and state.last_event_at else self.wall_clock()
                again.append(("snapshots", key, snapshot_json(state, as_of, self.ctx)))
        for p, items in entries.items():
            self.index.rebuild(p, items)
        self.counters["republished"] += len(again)
        return again

    def _dead_letter(
        self, reason: str, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
    ) -> Output:
        self.counters["dead_letters"] += 1
        letter = DeadLetter.of(
            reason=reason, topic=topic, partition=partition, offset=offset, key=key, value=value,
            failed_at=self.wall_clock(),
        )  # fmt: skip
        log.warning("dead letter %s/%d@%d: %s", topic, partition, offset, reason[:300])
        return ("dead_letters", key or b"", letter.model_dump_json().encode())
