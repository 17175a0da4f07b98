"""`esup clock advance`: drive the timers of workers that run with --clock event (replays)."""

from __future__ import annotations

import click

from esup.params import aware_datetime


@click.group()
def clock() -> None:
    """Drive the timers of workers that run with --clock event (replays)."""


@clock.command("advance")
@click.option("--to", "to", required=True, help="ISO-8601 time with offset")
def clock_advance(to: str) -> None:
    """Run every partition's timers up to TO (sends one tick to each partition)."""
    from kafka import KafkaProducer

    from esup.kafka_auth import CLOCK, kafka_python_auth
    from esup.settings import load_settings
    from schemas.control import Tick

    settings = load_settings()
    when = aware_datetime(to)
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", **kafka_python_auth(settings, CLOCK)
    )
    try:
        parts = sorted(producer.partitions_for(settings.topic_ticks) or [])
        if not parts:
            raise click.ClickException(f"topic {settings.topic_ticks} does not exist: run `esup topics create`")
        from esup.access.audit import AccessAudit
        from esup.audit_writers import audit_topic

        # Who moved the clock, when, to what: recorded (and acknowledged) before the ticks go out.
        AccessAudit(producer, audit_topic(settings, CLOCK), CLOCK, "esup clock advance").record(
            "clock.advance", {"to": when.isoformat(), "partitions": parts, "topic": settings.topic_ticks}
        )
        for p in parts:
            producer.send(
                settings.topic_ticks, partition=p, value=Tick(partition=p, now=when).model_dump_json().encode()
            )
        producer.flush()
    finally:
        producer.close()
    click.echo(f"ticked {len(parts)} partitions of {settings.topic_ticks} to {when.isoformat()}")
