"""`esup loop …`, `esup api …` and `esup dossier`: the supervisors' loop (docs/loop.md)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click


def register(main: click.Group) -> None:
    main.add_command(loop)
    main.add_command(api)
    main.add_command(dossier)


@click.group()
def loop() -> None:
    """Responses and decisions on findings, and the deadlines on them."""


@loop.command("run")
@click.option("--clock", type=click.Choice(["wall", "event"]), default="wall", show_default=True)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def loop_run(clock: str, config_file: Path | None) -> None:
    """Consume findings and esup.responses; raise supervision findings when a deadline passes."""
    from esup.kafka_auth import LOOP, kafka_python_auth
    from esup.settings import load_settings
    from loop.config import load_loop_config
    from loop.service import LoopService, wall_now
    from loop.store import MessageStore
    from sinks.clickhouse import connect
    from streams.rules import WorkCalendar

    s = load_settings()
    svc = LoopService(bootstrap=s.kafka_bootstrap, findings_topic=s.topic_findings,
                      responses_topic=s.topic_responses, dead_letter_topic=s.topic_dead_letters,
                      cfg=load_loop_config(config_file), calendar=WorkCalendar(), clock=clock,
                      now=wall_now(s.clock_offset_s), store=MessageStore(connect(s, role="sink")),
                      heads_topic=s.topic_chain_heads, chain_group=s.worker_app_id,
                      auth=kafka_python_auth(s, LOOP))
    try:
        svc.run(threading.Event())
    finally:
        svc.close()


@loop.command("simulate")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--until", "until", default=None, help="ISO moment: answer and decide everything made by then, tick "
              "the loop's event clock there, write loop_truth.jsonl and stop")
@click.option("--follow", is_flag=True, help="live: follow the findings and answer as simulated time goes on")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where loop_truth.jsonl goes (default: <ESUP_HOME>/sim)")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def loop_simulate(seed: int, until: str | None, follow: bool, out: Path | None, config_file: Path | None) -> None:
    """The simulated departments' responses (回告) and supervisors' decisions on the findings topic's findings,
    published on esup.responses as department systems and the API do (sim/responses.py says who does what)."""
    import signal
    from datetime import datetime

    from esup.settings import load_settings
    from loop.config import load_loop_config
    from sim import respond
    from streams.rules import WorkCalendar

    if (until is None) == (not follow):
        raise click.UsageError("give exactly one of --until and --follow")
    s = load_settings()
    cfg, cal = load_loop_config(config_file), WorkCalendar()
    if until is not None:
        at = datetime.fromisoformat(until)
        if at.tzinfo is None:
            raise click.BadParameter("needs a UTC offset, e.g. 2026-03-01T00:00:00+08:00", param_hint="--until")
        sent, supervised = respond.respond_until(s, seed=seed, until=at, out=out or s.home / "sim", cfg=cfg,
                                                 calendar=cal)  # fmt: skip
        click.echo(f"sent {sent} messages on {supervised} supervised findings; truth in "
                   f"{(out or s.home / 'sim') / respond.TRUTH_FILE}")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    respond.follow(s, seed=seed, cfg=cfg, calendar=cal, stop=stop, say=click.echo)


@loop.command("schema")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def loop_schema(directory: Path) -> None:
    """Write the JSON Schema of loop messages (responses, decisions, reports) into DIRECTORY."""
    from loop.contract import loop_json_schema

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "loop-message.schema.json"
    path.write_text(json.dumps(loop_json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8")
    click.echo(f"wrote {path}")


@click.group()
def api() -> None:
    """The loop's HTTP API."""


@api.command("serve")
@click.option("--users", "users_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML of API users (argon2id hashes from `esup api hash-password`)")
@click.option("--directory", "directory_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="organisation directory (who belongs to which department and region)")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--complaints/--no-complaints", default=True, show_default=True,
              help="mount the complaint intake: the public form at /complaints/form, the 12345 hotline's POST")
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
    from esup.kafka_auth import API, kafka_python_auth
    from esup.producer import kafka_producer
    from esup.settings import load_settings
    from loop.config import load_loop_config
    from sinks.clickhouse import connect

    s = load_settings()
    from complaints.pii import install_log_redaction
    from esup.console_cli import owner_only_secret
    from esup.intake_cli import make_desk, make_intake

    install_log_redaction()
    key = owner_only_secret(s.home / "api" / "token.key")  # the console signs in with the same key
    producer = kafka_producer(s.kafka_bootstrap, "esup-api", auth=kafka_python_auth(s, API))
    directory = YamlDirectory.load(directory_file) if directory_file else None
    services = Services(
        auth=Authenticator(load_users(users_file), key.encode()),
        findings=FindingsReader(connect(s, role="reader")), publisher=Publisher(producer, s.topic_responses),
        auditor=Auditor(connect(s, role="sink"), producer, s.topic_audit), loop=load_loop_config(None),
        directory=directory, intake=make_intake(s, producer, directory_file) if complaints else None,
        desk=make_desk(s, producer, directory) if complaints else None,
    )  # fmt: skip
    if services.intake is not None and services.desk is not None:  # the citizen's look-up by receipt number
        services.intake.status_of = services.desk.status_of
    uvicorn.run(create_app(services), host="127.0.0.1", port=port, log_level="info")


@api.command("hash-password")
@click.password_option()
def hash_password(password: str) -> None:
    """Print an argon2id hash for a users file."""
    from api.auth import hash_password as h

    click.echo(h(password))


@click.command()
@click.argument("finding_id")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--catalog", "catalog_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("examples/catalog.yaml"), show_default=True)
def dossier(finding_id: str, out: Path | None, catalog_file: Path) -> None:
    """Write the evidence dossier (证据材料) of FINDING_ID: dossier.json and dossier.pdf."""
    from esup.settings import load_settings
    from loop import dossier as d
    from loop.config import load_loop_config
    from schemas.catalog import load_catalog
    from sinks.clickhouse import connect
    from streams.rules import WorkCalendar

    s = load_settings()
    try:
        doc = d.build(connect(s, role="reader"), finding_id, load_catalog(catalog_file), WorkCalendar(),
                      load_loop_config())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    for path in d.write(doc, out or Path(f"dossier-{finding_id}")):
        click.echo(f"wrote {path}")
