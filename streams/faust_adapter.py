"""Every use of faust and aiokafka internals, in one place, checked against the versions it was written for.

The worker uses faust for group membership (static when the worker has an instance name), the stream and
the status page; state, commits and fencing are its own (`streams.fence`). What it reaches into: the
assignor's active partitions, the consumer's commit (turned off: offsets are committed inside each
partition's transaction), a message's broker timestamp, the consumer's group instance id.
"""

from __future__ import annotations

import importlib.metadata
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


def check_versions() -> None:
    """Refuse to start on versions whose internals were not checked (upgrade: re-read this module)."""
    for name, want in PINNED.items():
        have = importlib.metadata.version(name)
        if have != want:
            raise RuntimeError(f"{name} {have} is installed; the worker's faust adapter was checked with {want}")


def membership(group: str, instance: str | None) -> dict[str, Any]:
    """faust settings for static group membership (none without an instance name).

    faust 0.15.3 hands ``consumer_group_instance_id`` to ``AIOKafkaConsumer(group_instance_id=…)``
    (transport/drivers/aiokafka.py); aiokafka 0.14 then joins as a static member and does not send
    LeaveGroup when it stops. A static member that comes back is given the assignment the coordinator
    kept for it, whose metadata carries the *previous* process's ``canonical_url``, and faust's assignor
    asserts it is its own (assignor/partition_assignor.py ``on_assignment``): by default that URL holds
    the web port, so a restart on another port would crash the consumer. The URL is made the instance's
    own (faust uses it only to route table queries, which this worker does not serve). The group's name
    is part of the id so that two groups on one host never share one."""
    if not instance:
        return {"consumer_group_instance_id": None}
    return {
        "consumer_group_instance_id": f"{group}/{instance}",
        "canonical_url": f"http://esup-worker/{quote(instance, safe='')}",
    }


def active_partitions(app: Any, topic: str) -> list[int]:
    """The partitions of ``topic`` that faust's assignor gave this worker as active (not standby)."""
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
    """The consumer's high-water mark of the partition; None until it has been fetched."""
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

    graceful = worker._on_sigterm  # noqa: SLF001 - faust's SIGTERM handler has no public hook

    def on_sigterm() -> None:
        timer = threading.Timer(grace_s, lambda: os._exit(0))
        timer.daemon = True
        timer.start()
        graceful()

    worker._on_sigterm = on_sigterm  # noqa: SLF001


def broker_credentials(auth: dict[str, Any]) -> dict[str, Any]:
    """faust.App settings for a login given as esup.kafka_auth.aiokafka_auth() ({} on a PLAINTEXT cluster).

    faust 0.15.3's aiokafka driver turns ``SASLCredentials`` back into aiokafka's sasl_* arguments
    (transport/drivers/aiokafka.py ``credentials_to_aiokafka_auth``); an ssl_context makes it SASL_SSL."""
    if not auth:
        return {}
    import faust

    return {
        "broker_credentials": faust.SASLCredentials(
            username=auth["sasl_plain_username"],
            password=auth["sasl_plain_password"],
            ssl_context=auth.get("ssl_context"),
            mechanism=auth["sasl_mechanism"],
        )
    }
