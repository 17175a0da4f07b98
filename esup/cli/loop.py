"""`esup loop run|simulate|schema`: the supervisors' loop of responses, decisions and deadlines (docs/loop.md)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click


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
    svc = LoopService(
        bootstrap=s.kafka_bootstrap,
        findings_topic=s.topic_findings,
        responses_topic=s.topic_responses,
        dead_letter_topic=s.topic_dead_letters,
        cfg=load_loop_config(config_file),
        calendar=WorkCalendar(),
        clock=clock,
        now=wall_now(s.clock_offset_s),
        store=MessageStore(connect(s, role="sink")),
        heads_topic=s.topic_chain_heads,
        chain_group=s.worker_app_id,
        auth=kafka_python_auth(s, LOOP),
        ticks_topic=s.topic_loop_ticks,
    )
    try:
        svc.run(threading.Event())
    finally:
        svc.close()


@loop.command("simulate")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--until",
    "until",
    default=None,
    help="ISO moment: answer and decide everything made by then, tick "
    "the loop's event clock there, write loop_truth.jsonl and stop",
)
@click.option("--follow", is_flag=True, help="live: follow the findings and answer as simulated time goes on")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where loop_truth.jsonl goes (default: <ESUP_HOME>/sim)",
)
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
        sent, supervised = respond.respond_until(
            s, seed=seed, until=at, out=out or s.home / "sim", cfg=cfg, calendar=cal
        )
        click.echo(
            f"sent {sent} messages on {supervised} supervised findings; truth in "
            f"{(out or s.home / 'sim') / respond.TRUTH_FILE}"
        )
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
