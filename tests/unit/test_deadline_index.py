"""The sweeper's per-partition deadline index."""

from __future__ import annotations

from streams.deadlines import DeadlineIndex
from tests.support import at


def test_pop_due_returns_due_cases_once_in_deadline_order() -> None:
    idx = DeadlineIndex()
    idx.touch(0, "b", at("2026-03-05T00:00"))
    idx.touch(0, "a", at("2026-03-03T00:00"))
    idx.touch(0, "c", at("2026-03-09T00:00"))
    idx.touch(1, "z", at("2026-03-01T00:00"))
    assert idx.pop_due(0, at("2026-03-06T00:00")) == ["a", "b"]
    assert idx.pop_due(0, at("2026-03-06T00:00")) == []
    assert idx.next_due(0) == at("2026-03-09T00:00")
    assert len(idx) == 2


def test_a_moved_or_cleared_deadline_replaces_the_old_one() -> None:
    idx = DeadlineIndex()
    idx.touch(0, "a", at("2026-03-03T00:00"))
    idx.touch(0, "a", at("2026-03-10T00:00"))
    assert idx.pop_due(0, at("2026-03-05T00:00")) == []
    idx.touch(0, "a", None)
    assert idx.pop_due(0, at("2026-04-01T00:00")) == []
    assert idx.next_due(0) is None


def test_rebuild_and_drop_partition() -> None:
    idx = DeadlineIndex()
    idx.touch(2, "old", at("2026-03-01T00:00"))
    idx.rebuild(2, [("x", at("2026-03-02T00:00")), ("closed", None)])
    assert idx.pop_due(2, at("2026-12-01T00:00")) == ["x"]
    idx.touch(3, "y", at("2026-03-02T00:00"))
    idx.drop_partition(3)
    assert idx.pop_due(3, at("2026-12-01T00:00")) == [] and idx.partitions() == [2]
