"""The Faust app factory: topics, the case table, the catalog feed, the agent and the sweeper.

Faust is glue here: the agent decodes bytes, calls the pure rules (`streams.rules`) and sends what they
return. The catalog is every worker's full copy of the compacted catalog topic (`streams.catalog_feed`).
Traps avoided on purpose (see ../shared/infrastructure.md): agent concurrency is 1, processing
is at-least-once with idempotent outputs (deterministic finding ids, versioned snapshots), deadlines
live in an explicit per-partition index rather than in windowed tables, and the timer only touches
partitions this worker actively owns.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import faust
from faust.types import TP

from esup.lag import committed_offsets
from esup.settings import Settings
from schemas.config import RuleConfig
from streams.catalog import LiveCatalog
from streams.catalog_feed import CatalogFeed
from streams.deadlines import DeadlineIndex, SweepPlan
from streams.processor import CaseProcessor
from streams.publish import BatchPublisher, Record
from streams.rules import Context, WorkCalendar

log = logging.getLogger("esup.worker")

Clock = Literal["wall", "event"]


def committed_offset(app: faust.App, topic: str, partition: int) -> int | None:
    """The group's committed offset as this worker's consumer last saw it (after seek or commit)."""
    try:
        return app.consumer._committed_offset.get(TP(topic, partition))  # type: ignore[attr-defined]
    except Exception:  # consumer not started yet
        return None


@dataclass
class Runtime:
    """What the agent, the sweeper and the status page share inside one worker."""

    app: faust.App
    processor: CaseProcessor
    clock: Clock
    settings: Settings
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_sweep_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def create_app(
    settings: Settings,
    *,
    clock: Clock = "wall",
    calendar: WorkCalendar | None = None,
    rules: RuleConfig | None = None,
    web_port: int | None = None,
) -> Runtime:
    """Build a worker's app; nothing connects until the worker starts it."""
    if not settings.worker_store.startswith("memory://"):
        # The worker writes rows on an explicit partition (a batch, a sweep); faust's RocksDB store finds a
        # key's partition from the current message instead, which would file rows under the wrong one.
        raise ValueError(f"worker store {settings.worker_store!r}: only memory:// is supported")
    partitions = settings.case_events_partitions
    app = faust.App(
        settings.worker_app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store=settings.worker_store,
        autodiscover=False,
        processing_guarantee="at_least_once",
        topic_partitions=partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_disable_leader=True,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        # A worker killed with -9 leaves its group membership behind until the session times out; keep that
        # short so a replacement takes its partitions over within seconds, not faust's default minute.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        datadir=str(settings.home / "worker-data"),
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        producer_acks=-1,
        # Batch the per-event outputs (finding, snapshot, changelog row) instead of one request each.
        producer_linger=0.005,
        producer_max_batch_size=256 * 1024,
        stream_wait_empty=True,
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        web_in_thread=False,
        logging_config=None,
    )

    def topic(*names: str, partitions: int | None = None) -> faust.TopicT:
        # Bytes in, bytes out: decoding is ours, so a bad message becomes a dead letter, not a crash.
        return app.topic(
            *names,
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    inputs = topic(settings.topic_case_events, settings.topic_ticks, partitions=partitions)
    ticks = topic(settings.topic_ticks, partitions=partitions)
    outputs = {
        "dead_letters": topic(settings.topic_dead_letters),
        "findings": topic(settings.topic_findings),
        "snapshots": topic(settings.topic_case_snapshots),
    }
    raw: faust.Schema = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    # key_type/value_type bytes make faust pick the raw codec for the changelog too (it ignores the schema's).
    cases = app.Table("cases", default=None, partitions=partitions, schema=raw, key_type=bytes, value_type=bytes)
    feed = CatalogFeed(settings.kafka_bootstrap, settings.topic_catalog)
    live_catalog = LiveCatalog(feed.items)
    ctx = Context.build(calendar or WorkCalendar(), live_catalog, rules or RuleConfig())
    table_topic = cases.changelog_topic.get_topic_name()
    changelog: list[tuple[int, bytes, bytes]] = []  # table rows written since the last emit

    def put(partition: int, key: bytes, raw: bytes) -> None:
        """A table write on an explicit partition (a batch's writes happen after its last message); the
        changelog record is sent with the batch's other outputs rather than through faust's send buffer."""
        cases.data[key] = raw
        changelog.append((partition, key, raw))

    offset = timedelta(seconds=settings.clock_offset_s)

    def wall_clock() -> datetime:
        return datetime.now(UTC) + offset

    processor = CaseProcessor(
        wall_clock=wall_clock,
        ctx=ctx,
        table=cases,
        index=DeadlineIndex(),
        clock=clock,
        case_events_topic=settings.topic_case_events,
        ticks_topic=settings.topic_ticks,
        committed=lambda topic, partition: committed_offset(app, topic, partition),
        cache_size=settings.worker_state_cache,
        put=put,
    )
    runtime = Runtime(app=app, processor=processor, clock=clock, settings=settings)

    names = {name: t.get_topic_name() for name, t in outputs.items()}
    publisher: BatchPublisher | None = None  # made on first use: the producer runs by then

    async def emit(out: list[tuple[str, bytes, bytes]]) -> None:
        """Publish the table rows and the outputs and wait until Kafka has every one of them (acks=all):
        only then are the inputs acked."""
        nonlocal publisher
        if publisher is None:
            publisher = BatchPublisher(app.producer._ensure_producer())  # type: ignore[attr-defined]
        records: list[Record] = [(table_topic, partition, key, raw) for partition, key, raw in changelog]
        changelog.clear()
        records += [(names[name], None, key, value) for name, key, value in out]
        await publisher.publish(records)

    @app.agent(inputs, concurrency=1, name="esup-cases")
    async def case_agent(stream: Any) -> None:
        await feed.ready.wait()  # never judge an event against a catalog still loading
        async for events in stream.take_events(settings.worker_batch_max, within=settings.worker_batch_wait_s):
            batch = [(e.message.topic, e.message.partition, e.message.offset, e.key, e.value) for e in events]
            try:
                out = processor.handle_batch(batch)
                await emit(out)
            except BaseException:
                # faust acks a taken batch even when this body raises, and would restart the agent in-process:
                # exiting now is what gets the batch processed again after a restart (at-least-once).
                first, last = batch[0], batch[-1]
                log.critical(
                    "could not process or publish %d messages (%s/%d@%d … %s/%d@%d); exiting so nothing is lost",
                    len(batch), *first[:3], *last[:3],
                    exc_info=True,
                )  # fmt: skip
                os._exit(70)

    @app.task
    async def follow_catalog() -> None:
        await feed.run()

    def active_partitions() -> list[int]:
        return sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == settings.topic_case_events)

    plan = SweepPlan(timedelta(seconds=settings.sweep_interval_s), timedelta(seconds=settings.sweep_arm_ahead_s))

    @app.task
    async def sweeper() -> None:
        """Wall clock only: tick each partition this worker owns when its earliest timer falls due (or at
        least every sweep interval, which is also how the status page knows the sweeper is alive)."""
        if clock != "wall":
            return
        while True:
            now = wall_clock()
            due_now, arms, wake = plan.plan(now, active_partitions(), processor.index)
            for partition in due_now:
                await ticks.send(partition=partition, value=processor.tick_bytes(partition, now))
            for partition, moment in arms:
                await ticks.send(partition=partition, value=processor.tick_bytes(partition, moment, arm=True))
            runtime.last_sweep_at = now
            await asyncio.sleep(max(0.005, (wake - wall_clock()).total_seconds()))

    @cases.on_recover
    async def recovered() -> None:
        try:
            try:
                # faust runs this before its consumer has fetched the committed offsets; ask Kafka directly.
                committed = await asyncio.get_running_loop().run_in_executor(
                    None, committed_offsets, settings.kafka_bootstrap, settings.worker_app_id
                )
            except Exception as exc:  # unknown: every outbox entry counts as possibly unsent (duplicates, no loss)
                log.warning("could not read the group's committed offsets (%s): republishing every outbox entry", exc)
                committed = None
            owned = active_partitions()  # after the wait: a rebalance meanwhile may have changed them
            again = processor.recover(owned, committed)
            await emit(again)
        except asyncio.CancelledError:
            raise  # a newer rebalance took over; its own recovery runs
        except BaseException:
            # faust runs this callback in a task whose failure nobody sees: without the index no timer fires,
            # without the outbox the previous owner's unsent findings are lost. Exit and start again.
            log.critical("recovering the case table failed; exiting so nothing is lost", exc_info=True)
            os._exit(70)
        log.info(
            "case table recovered: partitions %s, %d cases with pending timers, %d outbox messages republished",
            owned, len(processor.index), len(again),
        )  # fmt: skip

    async def on_revoked(sender: Any, revoked: set[TP], **_: Any) -> None:
        for tp in revoked:
            if tp.topic == settings.topic_case_events:
                processor.index.drop_partition(tp.partition)

    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]

    if web_port is not None:
        from streams.web import register_status_page

        register_status_page(runtime)
    runtime.extra.update(case_agent=case_agent, sweeper=sweeper, cases=cases, catalog=feed)
    return runtime
