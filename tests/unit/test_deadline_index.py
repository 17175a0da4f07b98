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


def test_the_sweep_plan_wakes_at_the_next_due_moment_and_does_not_tick_twice_for_it() -> None:
    from datetime import timedelta

    from streams.deadlines import SweepPlan

    idx = DeadlineIndex()
    idx.touch(0, "a", at("2026-03-03T00:00"))
    idx.touch(1, "b", at("2026-03-09T00:00"))
    plan = SweepPlan(timedelta(seconds=1))
    # Before the deadline: nothing to tick, wake exactly at it (not up to an interval later).
    assert plan.plan(at("2026-03-02T23:59:59.7"), [0, 1], idx) == ([], [], at("2026-03-03T00:00"))
    # At it: tick partition 0 once; while that tick is on its way, do not send another…
    assert plan.plan(at("2026-03-03T00:00:00.001"), [0, 1], idx)[0] == [0]
    assert plan.plan(at("2026-03-03T00:00:00.300"), [0, 1], idx)[0] == []
    # …unless it went unanswered for a whole interval (a lost tick costs a second, not a timer).
    assert plan.plan(at("2026-03-03T00:00:01.002"), [0, 1], idx)[0] == [0]
    # A timer due after the last tick's moment needs a tick of its own.
    idx.touch(0, "c", at("2026-03-03T00:00:01.500"))
    idx.pop_due(0, at("2026-03-03T00:00:01"))
    assert plan.plan(at("2026-03-03T00:00:01.600"), [0, 1], idx)[0] == [0]
    # With nothing pending the plan sleeps one interval.
    empty = DeadlineIndex()
    assert plan.plan(at("2026-03-04T00:00"), [0], empty) == ([], [], at("2026-03-04T00:00:01"))


def test_the_sweep_plan_arms_each_due_moment_once_ahead_of_it() -> None:
    from datetime import timedelta

    from streams.deadlines import SweepPlan

    idx = DeadlineIndex()
    idx.touch(0, "a", at("2026-03-03T00:00"))
    plan = SweepPlan(timedelta(seconds=1), arm_ahead=timedelta(seconds=30))
    # Long before: sleep until the arming moment, not until the deadline.
    ticks, arms, wake = plan.plan(at("2026-03-02T23:00"), [0], idx)
    assert (ticks, arms, wake) == ([], [], at("2026-03-02T23:00:01"))
    ticks, arms, wake = plan.plan(at("2026-03-02T23:59:29.5"), [0], idx)
    assert (ticks, arms, wake) == ([], [], at("2026-03-02T23:59:30"))
    # Within 30 s: arm once, then wake at the deadline itself.
    assert plan.plan(at("2026-03-02T23:59:30"), [0], idx) == (
        [],
        [(0, at("2026-03-03T00:00"))],
        at("2026-03-02T23:59:31"),
    )
    assert plan.plan(at("2026-03-02T23:59:59.9"), [0], idx) == ([], [], at("2026-03-03T00:00"))
    assert plan.plan(at("2026-03-03T00:00:00.002"), [0], idx)[:2] == ([0], [])
