"""`esup complaints …`: the complaint cards' service (docs/complaints.md)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click


def register(main: click.Group) -> None:
    main.add_command(complaints)


@click.group()
def complaints() -> None:
    """Complaints from the public (投诉处理): dispatch and reply limits, and their cards."""


@complaints.command("run")
@click.option("--clock", type=click.Choice(["wall", "event"]), default="wall", show_default=True)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def complaints_run(clock: str, config_file: Path | None) -> None:
    """Consume esup.complaints; raise the complaint cards onto the findings topic when they fall due."""
    from complaints.config import load_complaints_config
    from complaints.service import ComplaintsService
    from complaints.store import ComplaintStore
    from esup.kafka_auth import COMPLAINTS, kafka_python_auth
    from esup.settings import load_settings
    from loop.service import wall_now
    from sinks.clickhouse import connect
    from streams.rules import WorkCalendar

    s = load_settings()
    svc = ComplaintsService(bootstrap=s.kafka_bootstrap, complaints_topic=s.topic_complaints,
                            findings_topic=s.topic_findings, ticks_topic=s.topic_ticks,
                            dead_letter_topic=s.topic_dead_letters, cfg=load_complaints_config(config_file),
                            calendar=WorkCalendar(), clock=clock, now=wall_now(s.clock_offset_s),
                            store=ComplaintStore(connect(s, role="sink")), heads_topic=s.topic_chain_heads,
                            chain_group=s.worker_app_id, auth=kafka_python_auth(s, COMPLAINTS))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        svc.run(stop)
    finally:
        svc.close()
