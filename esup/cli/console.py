"""`esup console`: the web console of the correction loop on 127.0.0.1 (docs/loop.md, README "Console")."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click


def owner_only_secret(path: Path) -> str:
    """A random key made once, readable by its owner only (refused when others can read it)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    if path.stat().st_mode & 0o077:
        raise click.ClickException(f"{path} is readable by others: chmod 600 it")
    return path.read_text().strip()


def first_users(path: Path) -> None:
    """No users file yet: one province supervisor, its password in an owner-only file beside it."""
    from api.auth import hash_password

    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = path.with_name("admin.password")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    path.write_text(
        "# esup console/API users (argon2id hashes: esup api hash-password)\nusers:\n"
        f"  - {{username: admin, role: supervisor, region_code: '510000', "
        f"password_hash: '{hash_password(password)}'}}\n",
        encoding="utf-8",
    )
    click.echo(f"made {path} with user admin (province supervisor); its password is in {secret}")


@click.command("console")
@click.option(
    "--users",
    "users_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML of users, as for `esup api serve` (default <ESUP_HOME>/console/users.yaml, made with one "
    "province supervisor when missing)",
)
@click.option(
    "--directory",
    "directory_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="organisation directory YAML for accountability targets (as `esup api serve`)",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8090, show_default=True)
@click.option(
    "--bulletins",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bulletins"),
    show_default=True,
    help="the folder `esup bulletin --out` writes to",
)
@click.option(
    "--catalog",
    "catalog_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="catalog for the deadline walk of timer findings (default examples/catalog.yaml "
    "where it exists, else none: the walk then says the clock is not known)",
)
@click.option("--dev-http", is_flag=True, help="cookies without Secure, for plain http on loopback (development)")
@click.option("--idle-minutes", type=click.IntRange(1, 24 * 60), default=30, show_default=True)
def console(
    users_file: Path | None,
    directory_file: Path | None,
    port: int,
    bulletins: Path,
    catalog_file: Path | None,
    dev_http: bool,
    idle_minutes: int,
) -> None:
    """Serve the console on 127.0.0.1: inbox, findings, cases, the supervisors' queue, scores, ranking, bulletins.

    It signs in with the API's users and uses the API's token key (<ESUP_HOME>/api/token.key); behind an https
    proxy leave --dev-http off so the session cookie is Secure.
    """
    import uvicorn

    from api.app import Services
    from api.audit import Auditor
    from api.auth import Authenticator, load_users
    from api.directory import YamlDirectory
    from api.store import FindingsReader, Publisher
    from console.app import Console, create_console
    from console.queries import PerThread
    from console.session import SessionConfig
    from esup.audit_writers import audit_topic
    from esup.kafka_auth import API, kafka_python_auth
    from esup.producer import kafka_producer
    from esup.settings import load_settings
    from loop.config import load_loop_config
    from schemas.catalog import Catalog, load_catalog
    from sinks.clickhouse import connect
    from streams.rules import WorkCalendar

    s = load_settings()
    default_catalog = Path("examples/catalog.yaml")
    catalog_file = catalog_file or (default_catalog if default_catalog.exists() else None)
    catalog = load_catalog(catalog_file) if catalog_file else Catalog(items=[])
    users_file = users_file or s.home / "console" / "users.yaml"
    if not users_file.exists():
        first_users(users_file)
    # The console is the API's front end: it publishes and audits as the API's principal, and reads ClickHouse
    # as the reader (no write login: its audit records reach audit_log through the sink).
    producer = kafka_producer(s.kafka_bootstrap, "esup-console", auth=kafka_python_auth(s, API))
    from esup.cli.intake import make_desk

    directory = YamlDirectory.load(directory_file) if directory_file else None
    services = Services(
        auth=Authenticator(load_users(users_file), owner_only_secret(s.home / "api" / "token.key").encode()),
        findings=FindingsReader(PerThread(lambda: connect(s, role="reader"))),
        publisher=Publisher(producer, s.topic_responses),
        auditor=Auditor(
            None, producer, audit_topic(s, API)
        ),  # like the API: the topic, copied by the sink; reader only
        loop=load_loop_config(None),
        directory=directory,
        desk=make_desk(s, producer, directory),  # the complaint desk (complaints/desk.py)
    )
    app = create_console(
        Console(
            services,
            WorkCalendar(),
            catalog,
            SessionConfig(
                owner_only_secret(s.home / "console" / "session.key"), secure=not dev_http, idle_s=idle_minutes * 60
            ),
            bulletins=bulletins,
        )
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
