"""The Faust app factory: wiring only. What each piece does lives in its own module:
`streams.processor` (judging batches), `streams.ownership` (taking partitions over), `streams.fence`
(transactional writes), `streams.sweeper` (wall-clock timers), `streams.catalog_feed` (the catalog),
`streams.config_feed` (the configurations adopted with `esup rules adopt`)."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import faust

from esup.kafka_auth import WORKER, aiokafka_auth, kafka_python_auth
from esup.lag import committed_offsets
from esup.settings import Settings
from schemas.config import RuleConfig
from streams import faust_adapter
from streams.batch import Message
from streams.catalog import LiveCatalog
from streams.catalog_feed import CatalogFeed
from streams.config_feed import ConfigFeed
from streams.configs import Contexts
from streams.deadlines import SweepPlan
from streams.fence import Fence
from streams.ownership import Ownership
from streams.processor import CaseProcessor
from streams.rules import Context, WorkCalendar
from streams.sweeper import sweep_forever

log = logging.getLogger("esup.worker")

Clock = Literal["wall", "event"]


@dataclass
class Runtime:
    """What the agent, the sweeper and the status page share inside one worker."""

    app: faust.App
    processor: CaseProcessor
    clock: Clock
    settings: Settings
    ownership: Ownership | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_sweep_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def changelog_topic(settings: Settings) -> str:
    """The topic of the worker's case rows: ``<worker app id>-cases-changelog``."""
    return f"{settings.worker_app_id}-cases-changelog"


def create_app(
    settings: Settings,
    *,
    clock: Clock = "wall",
    calendar: WorkCalendar | None = None,
    rules: RuleConfig | None = None,
    web_port: int | None = None,
) -> Runtime:
    """Build a worker's app; nothing connects until the worker starts it."""
    faust_adapter.check_versions()
    partitions = settings.case_events_partitions
    # Every client of the worker logs in as the worker (esup.kafka_auth), never as admin.
    auth = aiokafka_auth(settings, WORKER)
    app = faust.App(
        settings.worker_app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        autodiscover=False,
        processing_guarantee="at_least_once",
        topic_partitions=partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # A worker killed with -9 leaves its membership behind until the session times out: keep it short.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        # aiokafka 0.14 does not refresh metadata when resetting a partition's offset fails with
        # NotLeaderForPartition (consumer/fetcher.py: "Failed fetch offsets"): it asks the old leader again
        # until the metadata ages out, 5 minutes by default. After a broker restart that stalled both workers
        # of a cluster fault run; a 15 s age bounds the stall (one metadata request per 15 s otherwise).
        consumer_metadata_max_age_ms=15_000,
        # Static membership when the worker has a stable name: a restart under it is not a new member.
        **faust_adapter.membership(settings.worker_app_id, settings.worker_instance),
        datadir=str(settings.home / "worker-data"),
        stream_wait_empty=True,
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        web_in_thread=False,
        logging_config=None,
        **faust_adapter.broker_credentials(auth),
    )

    def topic(*names: str) -> faust.TopicT:
        # Bytes in, bytes out: decoding is ours, so a bad message becomes a dead letter, not a crash.
        return app.topic(
            *names,
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    # Co-partitioned inputs of one agent: the worker given case partition N gets ticks and facts partition N.
    inputs = topic(settings.topic_case_events, settings.topic_ticks, settings.topic_applicant_facts)
    ticks = topic(settings.topic_ticks)
    feed = CatalogFeed(settings.kafka_bootstrap, settings.topic_catalog, auth=auth)
    live = LiveCatalog(feed.items)
    feed.observe = live.observe  # every record checked as it arrives: a bad one keeps the last good version
    ctx = Context.build(calendar or WorkCalendar(), live, rules or RuleConfig())
    contexts = Contexts(ctx)  # the start files, and the configurations adopted with their moments
    offset = timedelta(seconds=settings.clock_offset_s)
    # A live worker refuses an adoption dated before its publication (the broker's receipt, on the worker's
    # clock); an event-clock worker replays history, where the moments are in the past by nature.
    configs = ConfigFeed(
        settings.kafka_bootstrap,
        settings.topic_config,
        contexts,
        auth=auth,
        published_offset=offset if clock == "wall" else None,
    )

    def wall_clock() -> datetime:
        return datetime.now(UTC) + offset

    processor = CaseProcessor(
        ctx=ctx,
        clock=clock,
        ticks_topic=settings.topic_ticks,
        wall_clock=wall_clock,
        receipt_skew=timedelta(seconds=settings.event_time_tolerance_s) + offset,
        facts_topic=settings.topic_applicant_facts,
        contexts=contexts,
    )
    processor.store.cache_size = settings.worker_state_cache
    outputs = {
        "dead_letters": settings.topic_dead_letters,
        "findings": settings.topic_findings,
        "snapshots": settings.topic_case_snapshots,
        "chain_heads": settings.topic_chain_heads,
        "facts": settings.topic_applicant_facts,
    }
    fence = Fence(settings.kafka_bootstrap, settings.worker_app_id, changelog_topic(settings), outputs, auth)
    ownership = Ownership(
        processor,
        fence,
        bootstrap=settings.kafka_bootstrap,
        input_topics=(settings.topic_case_events, settings.topic_ticks, settings.topic_applicant_facts),
        committed=lambda: committed_offsets(
            settings.kafka_bootstrap, settings.worker_app_id, auth=kafka_python_auth(settings, WORKER)
        ),
        ensure_changelog=lambda: _ensure_changelog(settings),
        client_options=auth,
        before_index=configs.ready.wait,  # a partition's timers are indexed under the whole schedule
        snapshots=settings.home / "worker-data" / "snapshots",
    )
    runtime = Runtime(app=app, processor=processor, clock=clock, settings=settings, ownership=ownership)

    # The agent only subscribes the worker to its inputs: fetched batches reach the rules through
    # `faust_adapter.drain_in_batches`, never through the agent's stream.
    @app.agent(inputs, concurrency=1, name="esup-cases")
    async def case_agent(stream: Any) -> None:
        async for _ in stream:  # pragma: no cover - nothing is delivered here
            pass

    gate = asyncio.Lock()  # held while a batch is judged and committed; a revocation waits for it
    unsettled: set[int] = set()  # partitions of the batch in hand: its state may be ahead of Kafka
    stopping = asyncio.Event()  # the worker stops: nothing more is judged

    async def judge(fetched: list[faust_adapter.Fetched]) -> None:
        if stopping.is_set():
            return  # not judged, not committed: the next owner reads it again from the committed offset
        partitions = {f[1] for f in fetched}
        unsettled.update(partitions)
        if not feed.ready.is_set():
            await feed.ready.wait()  # never judge an event against a catalog still loading (or empty)
        if not configs.ready.is_set():
            await configs.ready.wait()  # nor before every adopted configuration is known
        messages = [Message(t, p, o, k, v, faust_adapter.broker_time_ms(ts)) for t, p, o, k, v, ts in fetched]
        mine = {p: await ownership.ready(p) for p in partitions}
        result = processor.handle([m for m in messages if mine[m.partition]])
        await _commit(ownership, fence, result.parts, messages)
        unsettled.difference_update(partitions)

    faust_adapter.drain_in_batches(app, judge, settings.worker_batch_max, gate)

    @app.task  # type: ignore[untyped-decorator]  # faust's decorators carry no types
    async def follow_catalog() -> None:
        await feed.run()

    @app.task  # type: ignore[untyped-decorator]
    async def follow_configs() -> None:
        await configs.run()

    plan = SweepPlan(timedelta(seconds=settings.sweep_interval_s), timedelta(seconds=settings.sweep_arm_ahead_s))

    async def send_tick(partition: int, now: datetime, arm: bool) -> None:
        await ticks.send(partition=partition, value=processor.tick_bytes(partition, now, arm=arm))

    def swept(now: datetime) -> None:
        runtime.last_sweep_at = now

    @app.task  # type: ignore[untyped-decorator]
    async def sweeper() -> None:
        if clock == "wall":
            await sweep_forever(plan, processor.index, ownership.owned, send_tick, wall_clock, swept)

    async def on_assigned(sender: Any, assigned: set[Any], **_: Any) -> None:
        await ownership.assigned({tp.partition for tp in assigned if tp.topic == settings.topic_case_events})

    async def on_revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
        async with gate:  # the batch being judged is committed first
            for tp in revoked:
                if tp.topic == settings.topic_case_events:
                    await ownership.lose(tp.partition)

    async def on_shutdown(sender: Any, **_: Any) -> None:
        # faust stopped fetching; the batch in hand (if any) commits before the gate is free. Then each owned
        # partition's rows go to a local snapshot for the next start (`Ownership.save`).
        stopping.set()
        try:
            await asyncio.wait_for(gate.acquire(), timeout=settings.shutdown_grace_s / 3)
        except TimeoutError:
            log.warning("a batch is still being judged at the stop; its partitions get no snapshot")
            await ownership.save(unsettled)
            return
        await ownership.save(unsettled)
        await fence.close()  # nothing more is written; its producers' tasks would keep the loop waiting

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]
    app.on_before_shutdown.connect(on_shutdown)  # type: ignore[arg-type]

    if web_port is not None:
        from streams.web import register_status_page

        register_status_page(runtime)
    runtime.extra.update(case_agent=case_agent, sweeper=sweeper, catalog=feed, configs=configs, fence=fence)
    return runtime


async def _commit(ownership: Ownership, fence: Fence, parts: dict[int, Any], messages: list[Message]) -> None:
    """One transaction per partition the batch touched. A fenced partition belongs to another worker now:
    it is dropped here (its new owner judges its messages again from the committed offset). Any other
    failure leaves the state ahead of Kafka: exit, and the partitions are taken over afresh."""
    from aiokafka.errors import ProducerFenced

    async def one(p: int) -> None:
        try:
            await fence.commit(p, parts[p])
        except ProducerFenced:
            log.warning("partition %d was taken over by another worker; dropping it", p)
            await ownership.lose(p)

    try:
        await asyncio.gather(*(one(p) for p in parts))
    except BaseException:
        first, last = messages[0], messages[-1]
        log.critical(
            "could not commit %d messages (%s/%d@%d … %s/%d@%d); exiting so nothing is lost",
            len(messages),
            *first[:3],
            *last[:3],
            exc_info=True,
        )
        os._exit(70)


def _ensure_changelog(settings: Settings) -> None:
    from esup.topics import TopicSpec, admin_client, durable, ensure_topics

    spec = durable(
        TopicSpec(
            changelog_topic(settings),
            settings.case_events_partitions,
            settings.topic_replication_factor,
            {"cleanup.policy": "compact"},
            "the workers' case rows, one partition per input partition",
        )
    )
    with admin_client(settings.kafka_bootstrap, auth=kafka_python_auth(settings, WORKER)) as admin:
        ensure_topics(admin, [spec])
