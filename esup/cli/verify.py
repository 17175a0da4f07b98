"""`esup verify`: are the findings in ClickHouse exactly what the workers published (tamper evidence)?"""

from __future__ import annotations

import click

from esup.params import aware_datetime


@click.command()
@click.option("--from", "since", default=None, help="check findings detected from this ISO-8601 time on")
@click.option(
    "--audit",
    is_flag=True,
    help="also check audit_log against the audit topics: every record deleted, edited or inserted in ClickHouse",
)
def verify(since: str | None, audit: bool) -> None:
    """Recompute the findings chain and name every finding deleted, edited or inserted outside it, every
    decision in loop_messages that no API audit record names, and every record on an audit topic that its
    writer may not make (forged: esup/audit_writers.py); with --audit, every audit_log row deleted, edited or
    inserted behind the audit topics' back.

    Exit 0: nothing found; 1: problems (one line each)."""
    from esup.audit_writers import audit_topics
    from esup.kafka_auth import OPERATOR, kafka_python_auth
    from esup.settings import load_settings
    from sinks.clickhouse import connect
    from sinks.verify import read_heads
    from sinks.verify import verify as run
    from sinks.verify_audit import check_audit, check_forged, load_audit_log, read_audit_topics, verify_decisions

    s = load_settings()
    client = connect(s, role="reader")
    try:
        heads = read_heads(s.kafka_bootstrap, s.topic_chain_heads, s.worker_app_id, auth=kafka_python_auth(s, OPERATOR))
        problems = run(client, s.clickhouse_database, heads, aware_datetime(since) if since else None)
        problems += verify_decisions(client, s.clickhouse_database)
        topics = audit_topics(s)
        records, complete, every = read_audit_topics(s.kafka_bootstrap, topics, auth=kafka_python_auth(s, OPERATOR))
        problems += check_forged(every, {writer: topic for topic, writer in topics.items()})
        if audit:
            problems += check_audit(records, load_audit_log(client, s.clickhouse_database), complete=complete)
            if not complete:
                click.echo(
                    "an audit topic no longer holds its oldest records: rows older than it are not checked "
                    "for insertion",
                    err=True,
                )
    finally:
        client.disconnect()
    for p in problems:
        click.echo(str(p))
    click.echo(f"{len(problems)} problem(s); chain heads checked for {len(heads)} partition(s)", err=True)
    if problems:
        raise SystemExit(1)
