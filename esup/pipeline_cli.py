"""Commands of the streaming pipeline: `esup worker`, `esup clock advance`, `esup status`."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from esup.params import aware_datetime


def register(main: click.Group) -> None:
    @main.command()
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

    @main.group()
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
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                 **kafka_python_auth(settings, CLOCK))
        try:
            parts = sorted(producer.partitions_for(settings.topic_ticks) or [])
            if not parts:
                raise click.ClickException(f"topic {settings.topic_ticks} does not exist: run `esup topics create`")
            from esup.access.audit import AccessAudit

            # Who moved the clock, when, to what: recorded (and acknowledged) before the ticks go out.
            AccessAudit(producer, settings.topic_audit, CLOCK, "esup clock advance").record(
                "clock.advance", {"to": when.isoformat(), "partitions": parts, "topic": settings.topic_ticks})
            for p in parts:
                producer.send(
                    settings.topic_ticks, partition=p, value=Tick(partition=p, now=when).model_dump_json().encode()
                )
            producer.flush()
        finally:
            producer.close()
        click.echo(f"ticked {len(parts)} partitions of {settings.topic_ticks} to {when.isoformat()}")

    @main.command("worker-status")
    @click.option("--web-port", type=int, default=6066, show_default=True)
    def worker_status(web_port: int) -> None:
        """Print a worker's status page (liveness, lag per partition, counters); exit 1 if it is not alive."""
        import urllib.error
        import urllib.request

        url = f"http://127.0.0.1:{web_port}/esup/status/"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        except OSError as exc:
            raise click.ClickException(f"no worker answers on {url}: {exc}") from None
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        sys.exit(0 if body.get("alive") else 1)

