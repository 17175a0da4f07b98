"""Department-side and sink commands: `esup publish`, `esup catalog publish`, `esup sink`, `esup status`."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from esup.kafka_auth import BRIDGE, CATALOG, OPERATOR, kafka_python_auth
from esup.params import cli_settings as _settings
from esup.settings import Settings


def _require_topic(settings: Settings, topic: str) -> None:
    from esup.topics import admin_client, describe, quiet_kafka_logging

    quiet_kafka_logging()
    try:
        with admin_client(settings.kafka_bootstrap, timeout_ms=15000,
                          auth=kafka_python_auth(settings, OPERATOR)) as admin:
            found = describe(admin, [topic])
    except Exception as exc:
        raise click.ClickException(f"Kafka at {settings.kafka_bootstrap}: {type(exc).__name__}: {exc}") from None
    if topic not in found:
        raise click.ClickException(f"topic {topic} does not exist on {settings.kafka_bootstrap}: "
                                   "run `esup topics create`")


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
    _require_topic(s, s.topic_case_events)
    # Straight onto case events, as the bridge forwards them (its principal); departments use their ingest topic.
    with DepartmentProducer(s.kafka_bootstrap, s.topic_case_events, auth=kafka_python_auth(s, BRIDGE)) as producer:
        report = producer.publish_file(events_file, sort_by_time=sort_by_time)
    for r in report.rejected:
        click.echo(f"{events_file}:{r.line}: rejected: {r.reason}", err=True)
    for r in report.failed:
        click.echo(f"{events_file}:{r.line}: {r.reason}", err=True)
    click.echo(f"sent {report.sent} events ({len(report.cases)} cases) to {s.topic_case_events}; "
               f"rejected {len(report.rejected)} lines" + (f"; {len(report.failed)} not sent" if report.failed else ""))
    if not report.ok:
        sys.exit(1)


@click.group()
def catalog() -> None:
    """The licensing-item catalog the workers read (a compacted topic, one record per item code)."""


@catalog.command("publish")
@click.argument("catalog_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def catalog_publish(catalog_file: Path) -> None:
    """Validate CATALOG_FILE and publish every item; items no longer in it are deleted (tombstones)."""
    from esup.producer import publish_catalog
    from schemas.catalog import CatalogError, load_catalog

    try:
        items = load_catalog(catalog_file)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    s = _settings()
    _require_topic(s, s.topic_catalog)
    try:
        report = publish_catalog(s.kafka_bootstrap, s.topic_catalog, items, auth=kafka_python_auth(s, CATALOG))
    except (LookupError, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from None
    _audit_publish(s, catalog_file, items.version, report)
    click.echo(f"published {len(report.published)} items (catalog version {items.version}) to {s.topic_catalog}")
    for code in report.deleted:
        click.echo(f"deleted {code} (no longer in {catalog_file})")


def _audit_publish(s: Any, catalog_file: Path, version: str, report: Any) -> None:
    """Who published which catalog, when, what changed: on the audit topic (and so in audit_log)."""
    import hashlib

    from esup.access.audit import AccessAudit
    from esup.producer import kafka_producer

    producer = kafka_producer(s.kafka_bootstrap, "esup-catalog-audit", auth=kafka_python_auth(s, CATALOG))
    try:
        AccessAudit(producer, s.topic_audit, CATALOG, "esup catalog publish").record("catalog.publish", {
            "file": str(catalog_file), "sha256": hashlib.sha256(catalog_file.read_bytes()).hexdigest(),
            "version": version, "published": len(report.published), "deleted": sorted(report.deleted)})
    finally:
        producer.close(timeout=10)


@click.command()
@click.option("--loglevel", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
def sink(loglevel: str) -> None:
    """Copy case events, findings, snapshots and dead letters from Kafka into ClickHouse until stopped.

    Rows go in batches (ESUP_SINK_MAX_ROWS rows or ESUP_SINK_MAX_WAIT_S seconds, whichever comes first);
    offsets are committed only after a batch is in ClickHouse. While ClickHouse is down the batch is
    retried with backoff, never dropped. SIGTERM or Ctrl-C flushes, commits and exits.
    """
    from sinks.clickhouse import connect
    from sinks.runner import Backoff, SinkRunner, create_consumer, sink_topics
    from sinks.writer import ClickHouseSink

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)  # it warns on every reconnect attempt
    # The driver logs each failed reconnect with a traceback; the runner's one line per retry says enough.
    logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)
    s = _settings()
    topics = sink_topics(s)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("esup.sink").info("%s: flushing and stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    click.echo(f"esup sink: group {s.sink_group}, broker {s.kafka_bootstrap}, ClickHouse "
               f"{s.clickhouse_host}:{s.clickhouse_port}/{s.clickhouse_database}", err=True)
    try:
        consumer = create_consumer(s, topics)
    except Exception as exc:  # kafka-python raises a timeout when no broker answers
        raise click.ClickException(f"Kafka at {s.kafka_bootstrap}: {type(exc).__name__}: {exc}") from None
    client = connect(s, role="sink")
    try:
        runner = SinkRunner(consumer, ClickHouseSink(client), topics, max_rows=s.sink_max_rows,
                            max_wait_s=s.sink_max_wait_s, backoff=Backoff(0.5, s.sink_retry_max_s))
        stats = runner.run(stop)
    finally:
        consumer.close(autocommit=False)
        client.disconnect()
    if stats.unwritten:
        sys.exit(1)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(as_json: bool) -> None:
    """Consumer lag per partition of the workers' group and the sink's group (committed vs end offsets)."""
    from esup.lag import as_json as lag_json
    from esup.lag import group_lag, render_table
    from esup.topics import quiet_kafka_logging
    from sinks.runner import sink_topics

    s = _settings()
    quiet_kafka_logging()
    worker = [s.topic_case_events, s.topic_ticks, s.topic_applicant_facts]
    groups = {s.worker_app_id: worker, s.sink_group: sorted(sink_topics(s))}
    try:
        rows = group_lag(s.kafka_bootstrap, groups, auth=kafka_python_auth(s, OPERATOR))
    except Exception as exc:  # the admin client and consumer raise many kinds; all mean the same here
        raise click.ClickException(f"Kafka at {s.kafka_bootstrap}: {type(exc).__name__}: {exc}") from None
    if as_json:
        click.echo(json.dumps(lag_json(rows), indent=2, sort_keys=True))
    else:
        click.echo(render_table(rows))


def register(main: click.Group) -> None:
    """Attach the producer and sink commands to the `esup` group."""
    main.add_command(publish)
    main.add_command(catalog)
    main.add_command(sink)
    main.add_command(status)
