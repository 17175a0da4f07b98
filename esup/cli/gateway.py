"""`esup gateway`: the bridge from the departments' ingestion topics, the HTTP gateway, and its tokens."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from esup.settings import load_settings


@click.group()
def gateway() -> None:
    """Ingestion bound to departments (docs/gateway.md): the bridge, the HTTP gateway, its tokens."""


@gateway.command("bridge")
@click.option(
    "--instance",
    default="1",
    show_default=True,
    help="this bridge's name in the group (its transactional id): unique per running bridge, stable across restarts",
)
def bridge(instance: str) -> None:
    """Forward every department's ingestion topic into case events, exactly once; foreign events are dead letters."""
    import logging

    from gateway.bridge import Bridge

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    s = load_settings()
    b = Bridge(s, instance=instance)
    click.echo(
        f"esup gateway bridge: {s.topic_ingest_prefix}* -> {s.topic_case_events} (group {s.bridge_group}, "
        f"instance {instance})",
        err=True,
    )
    try:
        b.run(stop)
    finally:
        b.close()
        click.echo(f"esup gateway bridge: stopped; {dict(b.counts)}", err=True)


@gateway.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="default: ESUP_GATEWAY_PORT (8090)")
def serve(host: str, port: int | None) -> None:
    """Serve POST /v1/events (OpenAPI at /docs); events go to case events once Kafka acknowledges them."""
    import uvicorn

    from esup.audit_writers import audit_topic
    from esup.kafka_auth import GATEWAY, kafka_python_auth
    from esup.producer import kafka_producer
    from esup.ratelimit import RateLimiter
    from esup.tokens import store
    from gateway.audit import GatewayAuditor
    from gateway.http import GatewayServices, create_app

    s = load_settings()
    producer = kafka_producer(s.kafka_bootstrap, "esup-gateway", auth=kafka_python_auth(s, GATEWAY))
    services = GatewayServices(
        tokens=store(s),
        producer=producer,
        topic=s.topic_case_events,
        auditor=GatewayAuditor(producer, audit_topic(s, GATEWAY)),
        limiter=RateLimiter(s.gateway_rate_per_s, s.gateway_burst),
        max_body_bytes=s.gateway_max_body_bytes,
    )
    try:
        uvicorn.run(create_app(services), host=host, port=port or s.gateway_port, log_level="warning")
    finally:
        producer.close(timeout=10)


@gateway.group("token")
def token() -> None:
    """Department tokens: shown once when made; only their argon2id hashes are kept (0600)."""


@token.command("add")
@click.argument("department_id")
def token_add(department_id: str) -> None:
    """Make a token for DEPARTMENT_ID and print it (once: it is not stored); the issue is audited."""
    from esup.tokens import add_audited, store

    s = load_settings()
    try:
        record, secret = add_audited(s, store(s), department_id, command="esup gateway token add")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"token {record.token_id} for department {department_id} (shown once; keep it secret):", err=True)
    click.echo(secret)


@token.command("revoke")
@click.option("--token-id", default=None)
@click.option("--department", "department_id", default=None, help="revoke every token of this department")
def token_revoke(token_id: str | None, department_id: str | None) -> None:
    """Revoke a token (the gateway notices at its next request); the revocation is audited."""
    from esup.tokens import revoke_audited, store

    if not token_id and not department_id:
        raise click.UsageError("give --token-id or --department")
    s = load_settings()
    done = revoke_audited(
        s, store(s), token_id=token_id, department_id=department_id, command="esup gateway token revoke"
    )
    if not done:
        raise click.ClickException("no active token matched")
    for r in done:
        click.echo(f"revoked {r.token_id} ({r.department_id})")


@token.command("list")
def token_list() -> None:
    """Every token's id, department and dates (never the token or its hash)."""
    from esup.tokens import store

    for r in sorted(store(load_settings()).records().values(), key=lambda r: (r.department_id, r.created_at)):
        click.echo(
            f"{r.token_id}  {r.department_id:<20} created {r.created_at}"
            + (f"  REVOKED {r.revoked_at}" if r.revoked_at else "")
        )
