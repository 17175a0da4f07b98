"""Every use of faust and aiokafka internals, in one place, checked against the versions it was written for.

The worker uses faust for group membership (static when the worker has an instance name), fetching and the
status page; state, commits and fencing are its own (`streams.fence`), and so is the path from a fetched
batch to the rules (`drain_in_batches`: faust's per-message path is not used). What it reaches into: the
assignor's active partitions, the consumer's commit (turned off: offsets are committed inside each
partition's transaction), the consumer's fetch loop, a record's broker timestamp, the consumer's group
instance id.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

log = logging.getLogger("esup.worker")

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "mode-streaming": "0.7.1"}  # mode: faust's services


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

    _no_commits(app.consumer)


def _no_commits(consumer: Any) -> None:
    async def no_commit(*_: Any, **__: Any) -> bool:
        return False

    consumer.force_commit = no_commit


# A fetched record as the worker reads it: (topic, partition, offset, key, value, broker time in ms or None).
Fetched = tuple[str, int, int, bytes | None, bytes | None, int | None]


def drain_in_batches(
    app: Any, handle: Callable[[list[Fetched]], Awaitable[None]], batch_max: int, gate: asyncio.Lock
) -> None:
    """Fetched records go to ``handle`` a batch at a time, not through faust's per-message path.

    faust 0.15.3's fetcher (transport/consumer.py ``Consumer._drain_messages``) turns every record into a
    faust Message, awaits ``wait_first`` (two tasks) per record to hand it to the conductor, which queues it
    for the agent's stream, which wraps it in an Event that ``take_events`` batches again: about a third of
    the worker's main thread (docs/performance.md). This loop keeps faust's fetch (``_wait_next_records``:
    flow control during a rebalance, paused and active partitions, the consumer thread) and replaces the
    rest: each fetch's records of the active partitions, in partition order, cut into batches of at most
    ``batch_max``. A fetch that spans a generation change is dropped whole (the partitions are seeked back
    to the committed offsets, as faust does when the flow stops); ``gate`` is held while a batch is judged
    and committed, so a revocation waits for it (faust's ``stream_wait_empty``). The agent's stream then
    never receives a message; the subscription is still the agent's. faust's own commits are off."""
    made = app._new_consumer  # noqa: SLF001 - faust's factory behind the lazy ``app.consumer``

    def new_consumer() -> Any:
        consumer = made()
        _install(app, consumer, handle, batch_max, gate)
        return consumer

    app._new_consumer = new_consumer  # noqa: SLF001 - the consumer is made when the worker starts


def _install(
    app: Any, consumer: Any, handle: Callable[[list[Fetched]], Awaitable[None]], batch_max: int, gate: asyncio.Lock
) -> None:
    _no_commits(consumer)  # see `disable_commits`

    async def drain(fetcher: Any) -> None:
        try:
            await _drain(fetcher)
        except consumer.consumer_stopped_errors:
            if not app.should_stop:
                raise
            log.info("the broker stopped the consumer while the worker stops")

    async def _drain(fetcher: Any) -> None:
        stopped = consumer._stopped.is_set  # noqa: SLF001 - mode's Service flag, as faust's own loop reads it
        fetcher_stopped = fetcher._stopped.is_set  # noqa: SLF001
        while not (stopped() or fetcher_stopped()):
            generation = app.consumer_generation_id
            records, active = await consumer._wait_next_records(1.0)  # noqa: SLF001 - faust's fetch step
            if not records or consumer.should_stop:
                continue
            if not consumer.flow_active or app.consumer_generation_id != generation:
                await consumer.perform_seek()  # a rebalance began: from the committed offsets again
                continue
            batch: list[Fetched] = [
                (r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)
                for tp in sorted(records)
                if active is None or tp in active
                for r in records[tp]
            ]
            for start in range(0, len(batch), batch_max):
                # Shielded: when the worker stops, faust cancels this loop, and a batch cancelled between
                # its judging and its commit would leave the state ahead of Kafka. It finishes (and commits)
                # instead, holding the gate, which the stop waits for before it saves snapshots.
                if not await asyncio.shield(one(generation, batch[start : start + batch_max])):
                    break

    async def one(generation: int, part: list[Fetched]) -> bool:
        async with gate:
            if not consumer.flow_active or app.consumer_generation_id != generation:
                await consumer.perform_seek()  # rebalanced meanwhile: the rest is read again
                return False
            await handle(part)
            return True

    consumer._drain_messages = drain  # noqa: SLF001 - the fetcher service calls this attribute


def broker_time_ms(ms: int | None) -> datetime | None:
    """A record's timestamp in milliseconds (the broker's receipt time on topics with LogAppendTime)."""
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None


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
    ever): a watchdog ends the process then. Nothing is lost: what was not committed is judged again (and a
    snapshot not finished by then is a temporary file, never read)."""
    import os
    import threading

    graceful = worker._on_sigterm  # noqa: SLF001 - faust's SIGTERM handler has no public hook

    def on_sigterm() -> None:
        timer = threading.Timer(grace_s, lambda: os._exit(0))
        timer.daemon = True
        timer.start()
        graceful()

    worker._on_sigterm = on_sigterm  # noqa: SLF001

    async def sentinel() -> None:
        await asyncio.sleep(0.1)

    # mode 0.x's Worker._shutdown_loop runs this for a fixed second after every service has stopped, just to
    # let the loop turn; a tenth of one does as much, and a planned restart is a second shorter.
    worker._sentinel_task = sentinel  # noqa: SLF001


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
