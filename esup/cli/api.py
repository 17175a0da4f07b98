"""`esup api serve|hash-password`: the loop's HTTP API (docs/loop.md)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def api() -> None:
    """The loop's HTTP API."""


@api.command("serve")
@click.option(
    "--users",
    "users_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML of API users (argon2id hashes from `esup api hash-password`)",
)
@click.option(
    "--directory",
    "directory_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="organisation directory (who belongs to which department and region)",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--complaints/--no-complaints",
    default=True,
    show_default=True,
    help="mount the complaint intake: the public form at /complaints/form, the 12345 hotline's POST",
)
def api_serve(users_file: Path, directory_file: Path | None, port: int, complaints: bool) -> None:
    """Serve the API on 127.0.0.1 (OpenAPI at /docs). The token-signing key is made once, owner-readable only.

    Phones and ID numbers are scrubbed from every log line (complaints.pii.install_log_redaction).
    """

    import uvicorn

    from api.app import Services, create_app
    from api.audit import Auditor
    from api.auth import Authenticator, load_users
    from api.directory import YamlDirectory
    from api.store import FindingsReader, Publisher
    from esup.audit_writers import audit_topic
    from esup.kafka_auth import API, kafka_python_auth
    from esup.producer import kafka_producer
    from esup.settings import load_settings
    from loop.config import load_loop_config
    from sinks.clickhouse import connect

    s = load_settings()
    from complaints.pii import install_log_redaction
    from esup.cli.console import owner_only_secret
    from esup.cli.intake import make_desk, make_intake

    install_log_redaction()
    key = owner_only_secret(s.home / "api" / "token.key")  # the console signs in with the same key
    producer = kafka_producer(s.kafka_bootstrap, "esup-api", auth=kafka_python_auth(s, API))
    directory = YamlDirectory.load(directory_file) if directory_file else None
    services = Services(
        auth=Authenticator(load_users(users_file), key.encode()),
        findings=FindingsReader(connect(s, role="reader")),
        publisher=Publisher(producer, s.topic_responses),
        # Audited on the topic only (acknowledged before the answer leaves); the sink copies it into audit_log.
        # So the API logs in to ClickHouse as the reader alone: on 18.16 a user that may INSERT may also
        # ALTER … DELETE (docs/clickhouse-versions.md#users), and the API needs neither.
        auditor=Auditor(None, producer, audit_topic(s, API)),
        loop=load_loop_config(None),
        directory=directory,
        intake=make_intake(s, producer, directory_file) if complaints else None,
        desk=make_desk(s, producer, directory) if complaints else None,
    )
    if services.intake is not None and services.desk is not None:  # the citizen's look-up by receipt number
        services.intake.status_of = services.desk.status_of
    uvicorn.run(create_app(services), host="127.0.0.1", port=port, log_level="info")


@api.command("hash-password")
@click.password_option()
def hash_password(password: str) -> None:
    """Print an argon2id hash for a users file."""
    from api.auth import hash_password as h

    click.echo(h(password))
