"""The worker's case state: one map of rows per owned partition, a decoded-state cache, the watermark.

Rows are only ever written here after the transaction that carries them to the changelog is computed;
a partition is ``ready`` once it was fenced and loaded from the changelog (`streams.recovery`) or from the
local snapshot of a planned stop standing exactly at the changelog's end (`streams.snapshot`), and the
offsets the group committed are read *after* the fence, so messages below them are known to be in the
loaded state already.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from streams.chain import Head
from streams.rows import decode_row
from streams.rules import CaseState


@dataclass
class Partition:
    """One owned partition's state: rows, watermark, chain head, committed offsets and whether it is loaded."""

    number: int
    rows: dict[bytes, bytes] = field(default_factory=dict)
    watermark: datetime | None = None  # event clock: the latest trusted event time seen on it
    chain: Head = field(default_factory=Head)  # the head of its findings' chain
    committed: dict[str, int] = field(default_factory=dict)  # input topic -> next offset not yet in the state
    ready: asyncio.Event | None = None  # set when loaded (None outside a running worker: ready at once)
    revoked: bool = False
    # Cases whose timers raised and left the deadline index while their rows still state a due moment: a
    # snapshot (`streams.snapshot`) lets the next owner read those rows, as a changelog read would.
    untimed: set[bytes] = field(default_factory=set)


class CaseStore:
    """The rows of every owned partition, with a cache of decoded states (the least recently written evicted)."""

    def __init__(self, cache_size: int = 20_000) -> None:
        self.partitions: dict[int, Partition] = {}
        self.cache_size = cache_size
        self._cache: dict[bytes, tuple[int, CaseState]] = {}  # key -> (partition, decoded state)

    def partition(self, number: int) -> Partition:
        """The partition's state; made empty on first use (tests and a first start with no changelog)."""
        part = self.partitions.get(number)
        if part is None:
            part = self.partitions[number] = Partition(number)
        return part

    def drop(self, number: int) -> None:
        """Give a partition up: its rows and cached states go, and whoever waits for it is released (``revoked``)."""
        part = self.partitions.pop(number, None)
        if part is not None:
            part.revoked = True
            if part.ready is not None:
                part.ready.set()  # release anyone waiting: the partition is not ours any more
            for key in part.rows:
                self._cache.pop(key, None)

    def state(self, partition: int, key: bytes) -> CaseState | None:
        """The decoded state of a case (from the cache, else its row); callers may change it only through
        a batch, which forgets what it touched if it fails (`forget`)."""
        hit = self._cache.get(key)
        if hit is not None and hit[0] == partition:
            return hit[1]
        raw = self.partition(partition).rows.get(key)
        return decode_row(raw) if raw is not None else None

    def write(self, partition: int, key: bytes, raw: bytes, state: CaseState) -> None:
        """Store a case's row and keep its decoded state in the cache."""
        self.partition(partition).rows[key] = raw
        self._cache.pop(key, None)  # re-inserted last: the least recently written is evicted first
        self._cache[key] = (partition, state)
        if len(self._cache) > self.cache_size:
            del self._cache[next(iter(self._cache))]

    def forget(self, keys: set[bytes]) -> None:
        """Drop these keys' cached states (a failed batch may have changed them); their rows stay."""
        for key in keys:
            self._cache.pop(key, None)

    def __len__(self) -> int:
        return sum(len(p.rows) for p in self.partitions.values())
