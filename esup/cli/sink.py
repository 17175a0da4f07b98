"""`esup sink`: copy case events, findings, snapshots, dead letters and audit records from Kafka into ClickHouse."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import click

from esup.params import cli_settings as _settings


@click.command()
@click.option(
    "--loglevel",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
)
def sink(loglevel: str) -> None:
    """Copy case events, findings, snapshots and dead letters from Kafka into ClickHouse until stopped.

    Rows go in batches (ESUP_SINK_MAX_ROWS rows or ESUP_SINK_MAX_WAIT_S seconds, whichever comes first);
    offsets are committed only after a batch is in ClickHouse. While ClickHouse is down the batch is
    retried with backoff, never dropped. SIGTERM or Ctrl-C flushes, commits and exits.
    """
    from sinks.clickhouse import connect
    from sinks.runner import Backoff, SinkRunner, create_consumer, sink_topics, sink_writers
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
    click.echo(
        f"esup sink: group {s.sink_group}, broker {s.kafka_bootstrap}, ClickHouse "
        f"{s.clickhouse_host}:{s.clickhouse_port}/{s.clickhouse_database}",
        err=True,
    )
    try:
        consumer = create_consumer(s, topics)
    except Exception as exc:  # kafka-python raises a timeout when no broker answers
        raise click.ClickException(f"Kafka at {s.kafka_bootstrap}: {type(exc).__name__}: {exc}") from None
    client = connect(s, role="sink")
    try:
        runner = SinkRunner(
            consumer,
            ClickHouseSink(client),
            topics,
            writers=sink_writers(s),
            max_rows=s.sink_max_rows,
            max_wait_s=s.sink_max_wait_s,
            backoff=Backoff(0.5, s.sink_retry_max_s),
        )
        stats = runner.run(stop)
    finally:
        consumer.close(autocommit=False)
        client.disconnect()
    if stats.unwritten:
        sys.exit(1)
