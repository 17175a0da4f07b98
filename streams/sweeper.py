"""The wall-clock sweeper: ticks each owned partition when its earliest timer falls due, and arms ahead."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from streams.deadlines import DeadlineIndex, SweepPlan


async def sweep_forever(
    plan: SweepPlan,
    index: DeadlineIndex,
    owned: Callable[[], list[int]],
    send_tick: Callable[[int, datetime, bool], Awaitable[None]],
    now: Callable[[], datetime],
    on_round: Callable[[datetime], None],
) -> None:
    """Tick at due moments (or at least every sweep interval, which also shows the sweeper is alive)."""
    while True:
        t = now()
        due_now, arms, wake = plan.plan(t, owned(), index)
        for partition in due_now:
            await send_tick(partition, t, False)
        for partition, moment in arms:
            await send_tick(partition, moment, True)
        on_round(t)
        await asyncio.sleep(max(0.005, (wake - now()).total_seconds()))


def interval(seconds: float) -> timedelta:
    """``seconds`` as a timedelta."""
    return timedelta(seconds=seconds)
