"""Every use of faust and aiokafka internals, in one place, checked against the versions it was written for.

The worker uses faust for group membership, the stream and the status page; state, commits and fencing are
its own (`streams.fence`). What it reaches into: the assignor's active partitions, the consumer's commit
(turned off: offsets are committed inside each partition's transaction), a message's broker timestamp.
"""

from __future__ import annotations

import importlib.metadata
from datetime import UTC, datetime
from typing import Any

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


def check_versions() -> None:
    """Refuse to start on versions whose internals were not checked (upgrade: re-read this module)."""
    for name, want in PINNED.items():
        have = importlib.metadata.version(name)
        if have != want:
            raise RuntimeError(f"{name} {have} is installed; the worker's faust adapter was checked with {want}")


def active_partitions(app: Any, topic: str) -> list[int]:
    return sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)


def disable_commits(app: Any) -> None:
    """faust's own offset commits off: a partition's offsets are committed in its transaction, with the rows
    and outputs they produced; a commit outside it could run ahead of (or behind) the state."""

    async def no_commit(*_: Any, **__: Any) -> bool:
        return False

    app.consumer.force_commit = no_commit


def broker_time(message: Any) -> datetime | None:
    """The record's timestamp (the broker's receipt time on topics with LogAppendTime)."""
    ts = getattr(message, "timestamp", None)
    return datetime.fromtimestamp(ts, UTC) if ts else None


def highwater(app: Any, topic: str, partition: int) -> int | None:
    from faust.types import TP

    try:
        return int(app.consumer.highwater(TP(topic, partition)))
    except Exception:  # not fetched yet
        return None


def bound_shutdown(worker: Any, grace_s: float) -> None:
    """SIGTERM stops the worker within ``grace_s`` even when Kafka is unreachable (faust can wait on it for
    ever): a watchdog ends the process then. Nothing is lost: what was not committed is judged again."""
    import os
    import threading

    graceful = worker._on_sigterm

    def on_sigterm() -> None:
        timer = threading.Timer(grace_s, lambda: os._exit(0))
        timer.daemon = True
        timer.start()
        graceful()

    worker._on_sigterm = on_sigterm
