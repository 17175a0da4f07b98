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
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from schemas.control import DeadLetter, Tick
from schemas.events import EventError, parse_event
from schemas.findings import Finding
from streams.deadlines import DeadlineIndex
from streams.rules import CaseState, Context, due, step
from streams.rules.clocks import next_due
from streams.rules.snapshot import snapshot

log = logging.getLogger("esup.worker")

Output = tuple[str, bytes, bytes]
OUTBOX_LIMIT = 16
# One outbox entry: [source topic, source offset, [finding JSON, ...]] — JSON-friendly.
OutboxEntry = list[Any]


def encode_row(partition: int, state: CaseState, outbox: list[OutboxEntry] | None = None) -> bytes:
    return json.dumps(
        {"p": partition, "s": state.to_dict(), "o": outbox or []}, ensure_ascii=False, separators=(",", ":")
    ).encode()


def decode_row(raw: bytes) -> tuple[int, CaseState, list[OutboxEntry]]:
    row = json.loads(raw)
    return int(row["p"]), CaseState.from_dict(row["s"]), row.get("o", [])


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
    ) -> None:
        self.ctx = ctx
        self.table = table
        self.index = index
        self.clock = clock
        self.case_events_topic = case_events_topic
        self.ticks_topic = ticks_topic
        self.wall_clock = wall_clock
        self.committed = committed  # the consumer group's committed offset of (topic, partition)
        self.watermarks: dict[int, datetime] = {}
        self.positions: dict[int, int] = {}  # last processed offset per case-events partition
        self.counters = {"events": 0, "duplicates": 0, "dead_letters": 0, "findings": 0, "ticks": 0,
                         "timer_errors": 0, "republished": 0}  # fmt: skip
        self.last_event_at: datetime | None = None

    # ---- messages ---------------------------------------------------------------------------------

    def handle(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> list[Output]:
        source = (topic, offset)
        if topic == self.ticks_topic:
            return self._tick(partition, value, source)
        self.positions[partition] = offset
        try:
            event = parse_event(value if value is not None else b"")
        except EventError as exc:
            return [self._dead_letter(exc.reason, topic, partition, offset, key, value)]
        if key != event.case_id.encode():
            reason = f"message key {key!r} is not the case id {event.case_id!r}: events must be keyed by case id"
            return [self._dead_letter(reason, topic, partition, offset, key, value)]
        row = self.table.get(key)
        state, outbox = (None, []) if row is None else decode_row(row)[1:]
        seq = state.seq if state is not None else -1
        try:
            state, findings = step(state, event, self.ctx)
        except Exception as exc:  # a rule defect must not lose the event nor stop the partition
            log.exception("rules engine failed on %s/%d@%d", topic, partition, offset)
            reason = f"engine error: {type(exc).__name__}: {exc}"
            return [self._dead_letter(reason, topic, partition, offset, key, value)]
        self.counters["events"] += 1
        self.last_event_at = self.wall_clock()
        out: list[Output] = []
        if state.seq == seq:
            self.counters["duplicates"] += 1
        else:
            out += self._store(partition, state, outbox, findings, event.occurred_at, source)
        if self.clock == "event":
            mark = self.watermarks.get(partition)
            if mark is None or event.occurred_at > mark:
                self.watermarks[partition] = event.occurred_at
            out += self.sweep(partition, self.watermarks[partition], source)
        return out

    def _tick(self, partition: int, value: bytes | None, source: tuple[str, int]) -> list[Output]:
        try:
            tick = Tick.model_validate_json(value or b"")
        except ValidationError as exc:
            log.warning("ignoring a malformed tick on partition %d: %s", partition, exc)
            return []
        self.counters["ticks"] += 1
        now = tick.now
        if self.clock == "event":
            mark = self.watermarks.get(partition)
            if mark is None or now > mark:
                self.watermarks[partition] = now
            now = self.watermarks[partition]
        return self.sweep(partition, now, source)

    def sweep(self, partition: int, now: datetime, source: tuple[str, int]) -> list[Output]:
        """Run the timers of every case on ``partition`` that has one due by ``now``."""
        out: list[Output] = []
        for case_id in self.index.pop_due(partition, now):
            row = self.table.get(case_id.encode())
            if row is None:
                continue
            _, state, outbox = decode_row(row)
            try:
                state, findings = due(state, now, self.ctx)
            except Exception:  # one case's defect must not stop the timers of the others
                self.counters["timer_errors"] += 1
                log.exception("timers failed for case %s on partition %d; state unchanged", case_id, partition)
                continue
            out += self._store(partition, state, outbox, findings, now, source)
        return out

    def tick_bytes(self, partition: int, now: datetime) -> bytes:
        return Tick(partition=partition, now=now).model_dump_json().encode()

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
        out.append(("snapshots", key, snapshot(state, as_of, self.ctx, due=due_at).model_dump_json().encode()))
        # Pruned by the group's commits; the cap bounds a row even before a first commit is known (a case
        # changing more than OUTBOX_LIMIT times between two commits, one second apart, is not realistic).
        # Only findings are kept: a lost snapshot is rebuilt from the state itself on recovery.
        kept = [e for e in outbox if not self._flushed(e[0], partition, e[1])][-(OUTBOX_LIMIT - 1) :]
        kept.append([source[0], source[1], [v.decode() for name, _, v in out if name == "findings"]])
        self.table[key] = encode_row(partition, state, kept)
        self.index.touch(partition, state.case_id, due_at)
        self.counters["findings"] += len(findings)
        return out

    def _flushed(self, topic: str, partition: int, offset: int) -> bool:
        committed = self.committed(topic, partition)
        # Everything produced before a commit was flushed by it (faust flushes the producer first).
        return committed is not None and offset < committed - 1

    def recover(self, partitions: list[int]) -> list[Output]:
        """After (re)assignment: rebuild the deadline index of the owned partitions and return every
        outbox message that may not have reached Kafka before the previous owner stopped."""
        owned = set(partitions)
        for p in self.index.partitions():
            if p not in owned:
                self.index.drop_partition(p)
        entries: dict[int, list[tuple[str, datetime | None]]] = {p: [] for p in owned}
        again: list[Output] = []
        for raw in list(self.table.values()):
            if raw is None:
                continue
            partition, state, outbox = decode_row(raw)
            if partition not in owned:
                continue
            entries[partition].append((state.case_id, next_due(state, self.ctx)))
            pending = [e for e in outbox if not self._flushed(e[0], partition, e[1])]
            if pending:
                key = state.case_id.encode()
                again += [("findings", key, v.encode()) for e in pending for v in e[2]]
                as_of = state.last_event_at if self.clock == "event" and state.last_event_at else self.wall_clock()
                again.append(("snapshots", key, snapshot(state, as_of, self.ctx).model_dump_json().encode()))
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
