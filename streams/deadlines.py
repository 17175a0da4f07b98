"""Per-partition deadline index: which cases have a timer due, without scanning every open case.

A dependency-free structure with explicit ``now`` (the sweeper passes it). Each partition keeps a heap
of ``(due, case_id)``; an entry is stale when the case's current due moment differs, and is dropped
lazily when popped. The index is rebuilt from the case table when partitions are assigned or the
table is recovered, so it never needs its own persistence.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType


class DeadlineIndex:
    """Each partition's cases by next due moment (a heap, stale entries dropped lazily); see the module docstring."""

    def __init__(self) -> None:
        self._due: dict[int, dict[str, datetime]] = {}
        self._heaps: dict[int, list[tuple[datetime, str]]] = {}
        # One object per distinct moment: timers fall at a few 24:00s, and a datetime is 48 bytes per case.
        self._moments: dict[tuple[datetime, object], datetime] = {}

    def _same(self, due: datetime) -> datetime:
        if len(self._moments) > 100_000:  # moments are mostly ends of days; a runaway mix just starts afresh
            self._moments.clear()
        return self._moments.setdefault((due, due.tzinfo), due)  # equal instants in other zones stay apart

    def touch(self, partition: int, case_id: str, due: datetime | None) -> None:
        """Record the case's next due moment (None: nothing pending)."""
        dues = self._due.setdefault(partition, {})
        if due is None:
            dues.pop(case_id, None)
            return
        if dues.get(case_id) == due:
            return
        due = self._same(due)
        dues[case_id] = due
        heapq.heappush(self._heaps.setdefault(partition, []), (due, case_id))

    def pop_due(self, partition: int, now: datetime) -> list[str]:
        """Case ids on ``partition`` whose due moment is ``<= now``, earliest first; they leave the index
        until touched again."""
        heap = self._heaps.get(partition)
        dues = self._due.get(partition)
        out: list[str] = []
        if not heap or dues is None:
            return out
        while heap and heap[0][0] <= now:
            due, case_id = heapq.heappop(heap)
            if dues.get(case_id) == due:
                del dues[case_id]
                out.append(case_id)
        return out

    def cap(self, partition: int, moment: datetime) -> int:
        """Bring every due moment of ``partition`` later than ``moment`` forward to it (a configuration adopted
        from ``moment``: those cases are judged again then); returns how many moved."""
        dues = self._due.get(partition, {})
        later = [case for case, due in dues.items() if due > moment]
        for case in later:
            self.touch(partition, case, moment)
        return len(later)

    def due_by(self, partition: int, moment: datetime) -> list[str]:
        """Case ids on ``partition`` with a timer due by ``moment``, left in the index (for arming)."""
        return [case for case, due in self._due.get(partition, {}).items() if due <= moment]

    def next_due(self, partition: int) -> datetime | None:
        """The partition's earliest due moment, None when nothing is pending (stale heap entries are dropped)."""
        heap = self._heaps.get(partition)
        dues = self._due.get(partition, {})
        while heap and dues.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def dues(self, partition: int) -> Mapping[str, datetime]:
        """The partition's cases with a timer pending and their due moments (read-only)."""
        return MappingProxyType(self._due.get(partition, {}))

    def pending(self, partition: int) -> int:
        """How many cases of the partition have a timer pending (the status page)."""
        return len(self._due.get(partition, {}))

    def drop_partition(self, partition: int) -> None:
        """Forget a partition (no longer this worker's, or about to be rebuilt)."""
        self._due.pop(partition, None)
        self._heaps.pop(partition, None)

    def rebuild(self, partition: int, entries: Iterable[tuple[str, datetime | None]]) -> None:
        """Replace the partition's entries with ``(case id, due)`` pairs, as recovered from its rows."""
        self.drop_partition(partition)
        dues = {case: self._same(due) for case, due in entries if due is not None}
        self._due[partition] = dues
        heap = [(due, case) for case, due in dues.items()]
        heapq.heapify(heap)
        self._heaps[partition] = heap

    def partitions(self) -> list[int]:
        """The partitions the index holds, in order."""
        return sorted(self._due)

    def __len__(self) -> int:
        return sum(len(d) for d in self._due.values())


class SweepPlan:
    """When a wall-clock worker ticks which partition: at the due moment itself rather than on the next
    round of a fixed interval, and not again while a tick covering the same timers is on its way; and,
    ``arm_ahead`` before a due moment, once, an arming tick for it."""

    def __init__(self, interval: timedelta, arm_ahead: timedelta = timedelta(0)) -> None:
        self.interval = interval  # the longest sleep, and how soon an unanswered tick is sent again
        self.arm_ahead = arm_ahead
        self.requested: dict[int, datetime] = {}  # partition -> `now` of the last tick sent to it
        self.armed: dict[int, datetime] = {}  # partition -> the due moment last armed

    def plan(
        self, now: datetime, partitions: Iterable[int], index: DeadlineIndex
    ) -> tuple[list[int], list[tuple[int, datetime]], datetime]:
        """The partitions to tick now, the (partition, due moment) pairs to arm now, and when to look again."""
        ticks: list[int] = []
        arms: list[tuple[int, datetime]] = []
        wake = now + self.interval
        for p in partitions:
            nxt = index.next_due(p)
            if nxt is None:
                self.requested.pop(p, None)
            elif nxt > now:
                wake = min(wake, nxt)
                if self.arm_ahead and self.armed.get(p) != nxt:
                    if nxt - now <= self.arm_ahead:
                        arms.append((p, nxt))
                        self.armed[p] = nxt
                    else:
                        wake = min(wake, nxt - self.arm_ahead)
            else:
                last = self.requested.get(p)
                if last is None or nxt > last or now - last >= self.interval:
                    ticks.append(p)
                    self.requested[p] = now
        return ticks, arms, wake
