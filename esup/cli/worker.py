"""`esup worker`: one stream worker (start several with the same settings to share the partitions)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from esup.cli import status


@click.command()
@click.option(
    "--clock",
    type=click.Choice(["wall", "event"]),
    default="wall",
    show_default=True,
    help="'wall': timers follow the wall clock (live); 'event': they follow event time (replay)",
)
@click.option(
    "--web-port",
    type=int,
    default=None,
    help="serve the status page (liveness, lag) on 127.0.0.1:PORT at /esup/status/",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="rule thresholds (YAML)",
)
@click.option(
    "--calendar",
    "calendar_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="working-day calendar override (YAML)",
)
@click.option(
    "--instance",
    default=None,
    help="static group membership: this worker's stable name, unique in the group (ESUP_WORKER_INSTANCE); "
    "restarted under it, the worker gets its partitions straight back",
)
@click.option("--loglevel", default="info", show_default=True)
def worker(
    clock: str,
    web_port: int | None,
    rules_file: Path | None,
    calendar_file: Path | None,
    instance: str | None,
    loglevel: str,
) -> None:
    """Run a stream worker. Start several (same settings) to share the partitions."""
    from faust import Worker

    from esup.settings import load_settings
    from schemas.config import load_rule_config
    from streams import faust_adapter
    from streams.app import create_app
    from streams.rules import load_calendar

    settings = load_settings()
    if instance is not None:
        settings = settings.model_copy(update={"worker_instance": instance})
    (settings.home / "worker-data").mkdir(parents=True, exist_ok=True)
    # faust lets a WEB_PORT environment variable win over the app's own setting: make --web-port win.
    os.environ.pop("WEB_PORT", None)
    if web_port is not None:
        os.environ["WEB_PORT"] = str(web_port)
    if loglevel.lower() != "debug":
        # aiokafka logs every request at DEBUG; building those records cost ~8 % of a busy worker.
        for name in ("aiokafka", "kafka"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # faust formats a DEBUG record for every message it sends unless told not to (~5 % of a worker).
        for name in ("faust", "mode"):
            logging.getLogger(name).setLevel(logging.INFO)
    runtime = create_app(
        settings,
        clock=clock,  # type: ignore[arg-type]
        calendar=load_calendar(calendar_file),
        rules=load_rule_config(rules_file),
        web_port=web_port,
    )
    click.echo(
        f"esup worker: group {settings.worker_app_id}, broker {settings.kafka_bootstrap}, "
        f"clock {clock}, instance {settings.worker_instance or '(dynamic membership)'}",
        err=True,
    )
    worker = Worker(runtime.app, loglevel=loglevel, quiet=True)
    faust_adapter.bound_shutdown(worker, settings.shutdown_grace_s)
    worker.execute_from_commandline()


worker_status = status.alias(status.worker, "esup worker-status", "esup status worker")
