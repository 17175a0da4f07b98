"""Timers armed ahead: shortly before a due moment, compute on copies of the stored states what the timers
will raise, so that at the moment itself the worker only publishes (deadlines bunch at 24:00).

A result is used only for a case whose state is still the armed version and has nothing else due by the
sweep's ``now``; anything else is computed again at the sweep. It is a cache: losing it changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import orjson

from streams.chain import content_hash
from streams.deadlines import DeadlineIndex
from streams.rows import decode_row, encode_row
from streams.rules import CaseState, Context, due
from streams.rules.clocks import next_due
from streams.rules.snapshot import snapshot_json
from streams.store import CaseStore


@dataclass
class Armed:
    """What a case's timers due by ``moment`` raise, computed on a copy of its state of version ``seq``."""

    seq: int
    moment: datetime
    state: CaseState
    texts: list[str]  # the findings, as JSON
    contents: dict[bytes, str]  # each finding's JSON (encoded) → its content hash (streams.chain), computed here
    due: datetime | None  # the next due moment after them
    snapshot: bytes
    row: bytes  # the case's row after them (on the basis it was armed on)
    basis: str = ""  # the configuration schedule it was armed on: a new adoption since makes it stale


class Arming:
    """Armed results by partition and case, kept until the sweep uses them or their moment passes."""

    def __init__(self) -> None:
        self.by_partition: dict[int, dict[bytes, Armed]] = {}

    def arm(
        self,
        partition: int,
        moment: datetime,
        store: CaseStore,
        index: DeadlineIndex,
        ctx: Context,
        basis: str,
        cap: Callable[[datetime | None, datetime], datetime | None] = lambda due, _: due,
    ) -> int:
        """Arm every case of ``partition`` due by ``moment`` with ``ctx`` (the context in effect then); ``cap``
        brings a next due moment forward to the next configuration boundary (streams.configs)."""
        armed = self.by_partition.setdefault(partition, {})
        before = len(armed)
        rows = store.partition(partition).rows
        for case_id in index.due_by(partition, moment):
            key = case_id.encode()
            if key not in rows:
                continue
            state = decode_row(rows[key])  # a copy: the live state is not touched
            seq = state.seq
            try:
                state, findings = due(state, moment, ctx)
            except Exception:  # noqa: S112 - the sweep at the moment itself meets (and handles) the same defect
                continue
            nxt = cap(next_due(state, ctx), moment)
            snap = snapshot_json(state, moment, ctx, due=nxt)
            row = encode_row(state, due=nxt, basis=basis)
            texts = [f.model_dump_json() for f in findings]
            # The chain's content hashes too: at the moment only the links are left to compute (they follow
            # the partition's head, which other cases' findings may still move before then).
            contents = {raw: content_hash(orjson.loads(raw)) for raw in (t.encode() for t in texts)}
            armed[key] = Armed(seq, moment, state, texts, contents, nxt, snap, row, basis)
        return len(armed) - before

    def take(self, partition: int, key: bytes, seq: int, now: datetime, basis: str = "") -> Armed | None:
        """The armed result for a case swept at ``now``, if it is still valid (and forget it either way)."""
        a = self.by_partition.get(partition, {}).pop(key, None)
        if a is None or a.seq != seq or a.moment > now or (a.due is not None and a.due <= now):
            return None
        if basis and a.basis != basis:  # armed before a configuration was adopted
            return None
        return a

    def expire(self, partition: int, now: datetime) -> None:
        """Whatever was armed for a moment now past was used or is stale."""
        armed = self.by_partition.get(partition)
        if armed:
            for key in [k for k, a in armed.items() if a.moment <= now]:
                del armed[key]

    def drop(self, partition: int) -> None:
        """Forget what was armed on a partition (this worker lost it)."""
        self.by_partition.pop(partition, None)
