"""`esup publish`: a file of case events onto the case-events topic, each checked against the contract first."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from esup.kafka_auth import BRIDGE, OPERATOR, kafka_python_auth
from esup.params import cli_settings as _settings
from esup.settings import Settings


def require_topic(settings: Settings, topic: str) -> None:
    """Fail with an operator's message unless the topic exists on the cluster (`esup topics create` makes it)."""
    from esup.topics import admin_client, describe, quiet_kafka_logging

    quiet_kafka_logging()
    try:
        with admin_client(
            settings.kafka_bootstrap, timeout_ms=15000, auth=kafka_python_auth(settings, OPERATOR)
        ) as admin:
            found = describe(admin, [topic])
    except Exception as exc:
        raise click.ClickException(f"Kafka at {settings.kafka_bootstrap}: {type(exc).__name__}: {exc}") from None
    if topic not in found:
        raise click.ClickException(
            f"topic {topic} does not exist on {settings.kafka_bootstrap}: run `esup topics create`"
        )


@click.command()
@click.argument("events_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sort-by-time", is_flag=True, help="send in occurred_at order (a replay of a whole file)")
def publish(events_file: Path, sort_by_time: bool) -> None:
    """Publish EVENTS_FILE (JSON Lines) to the case-events topic, each event keyed by its case id.

    Every line is checked against the event contract first; rejected lines are listed on stderr with
    their line number and reason and are not sent. Exit code 1 if any line was rejected or not sent.
    """
    from esup.producer import DepartmentProducer

    s = _settings()
    require_topic(s, s.topic_case_events)
    # Straight onto case events, as the bridge forwards them (its principal); departments use their ingest topic.
    with DepartmentProducer(s.kafka_bootstrap, s.topic_case_events, auth=kafka_python_auth(s, BRIDGE)) as producer:
        report = producer.publish_file(events_file, sort_by_time=sort_by_time)
    for r in report.rejected:
        click.echo(f"{events_file}:{r.line}: rejected: {r.reason}", err=True)
    for r in report.failed:
        click.echo(f"{events_file}:{r.line}: {r.reason}", err=True)
    click.echo(
        f"sent {report.sent} events ({len(report.cases)} cases) to {s.topic_case_events}; "
        f"rejected {len(report.rejected)} lines" + (f"; {len(report.failed)} not sent" if report.failed else "")
    )
    if not report.ok:
        sys.exit(1)
