"""`esup complaints …`: the cards' service, its simulator and the 12345 hotline's credentials (docs/complaints.md)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import click


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
    svc = ComplaintsService(
        bootstrap=s.kafka_bootstrap,
        complaints_topic=s.topic_complaints,
        findings_topic=s.topic_findings,
        ticks_topic=s.topic_ticks,
        dead_letter_topic=s.topic_dead_letters,
        cfg=load_complaints_config(config_file),
        calendar=WorkCalendar(),
        clock=clock,
        now=wall_now(s.clock_offset_s),
        store=ComplaintStore(connect(s, role="sink")),
        heads_topic=s.topic_chain_heads,
        chain_group=s.worker_app_id,
        auth=kafka_python_auth(s, COMPLAINTS),
        clock_ticks_topic=s.topic_complaint_ticks,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        svc.run(stop)
    finally:
        svc.close()


@complaints.command("simulate")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--per-day", type=float, default=20.0, show_default=True, help="complaints received per day")
@click.option("--start", "start", default=None, help="ISO date of the first complaints (with --until)")
@click.option(
    "--until",
    "until",
    default=None,
    help="ISO moment: publish everything made by then, tick the "
    "service's event clock there, write complaints_truth.jsonl and stop",
)
@click.option("--follow", is_flag=True, help="live: complaints as the province's simulated time goes on")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where the truth goes (default: <ESUP_HOME>/sim)",
)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def complaints_simulate(
    seed: int,
    per_day: float,
    start: str | None,
    until: str | None,
    follow: bool,
    out: Path | None,
    config_file: Path | None,
) -> None:
    """The simulated public's complaints and their handling (sim/complaints.py), on esup.complaints."""
    from datetime import date, datetime

    from complaints.config import load_complaints_config
    from esup.settings import load_settings
    from sim import complain
    from streams.rules import WorkCalendar

    if (until is None) == (not follow):
        raise click.UsageError("give exactly one of --until and --follow")
    s = load_settings()
    cfg, cal = load_complaints_config(config_file), WorkCalendar()
    if until is not None:
        at = datetime.fromisoformat(until)
        if at.tzinfo is None:
            raise click.BadParameter("needs a UTC offset, e.g. 2026-03-01T00:00:00+08:00", param_hint="--until")
        first = date.fromisoformat(start) if start else at.date().replace(day=1)
        where = out or s.home / "sim"
        sent, n = complain.complain_until(
            s, seed=seed, start=first, until=at, per_day=per_day, out=where, cfg=cfg, calendar=cal
        )
        click.echo(f"sent {sent} messages on {n} complaints; truth in {where / complain.TRUTH_FILE}")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    complain.follow(s, seed=seed, per_day=per_day, cfg=cfg, calendar=cal, stop=stop, say=click.echo)


@complaints.group("hotline-token")
def hotline_token() -> None:
    """Bearer tokens of 12345 hotline systems (argon2id hashes kept, 0600; POST /complaints/hotline)."""


@hotline_token.command("add")
@click.argument("system")
def add(system: str) -> None:
    """A new token for hotline SYSTEM (e.g. 12345-dazhou), printed once; only its hash is kept."""
    from esup.settings import load_settings
    from esup.tokens import TokenStore, add_audited

    s = load_settings()
    try:
        record, token = add_audited(
            s, TokenStore(_tokens_path(s)), system, command="esup complaints hotline-token add", kind="hotline"
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SYSTEM") from None
    click.echo(f"token {record.token_id} for {system} (shown once, keep it in the hotline system's secrets):", err=True)
    click.echo(token)


@hotline_token.command("revoke")
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke one token by its id; takes effect without a restart."""
    from esup.settings import load_settings
    from esup.tokens import TokenStore, revoke_audited

    s = load_settings()
    done = revoke_audited(
        s,
        TokenStore(_tokens_path(s)),
        token_id=token_id,
        command="esup complaints hotline-token revoke",
        kind="hotline",
    )
    if not done:
        raise click.ClickException(f"no active token {token_id}")
    click.echo(f"revoked {token_id}")


@hotline_token.command("list")
def list_tokens() -> None:
    """Token ids, systems and dates (never the tokens)."""
    from esup.settings import load_settings
    from esup.tokens import TokenStore

    for r in TokenStore(_tokens_path(load_settings())).records().values():
        click.echo(json.dumps(r.public(), ensure_ascii=False))


def _tokens_path(s: Any) -> Path:
    from esup.cli.intake import hotline_tokens_path

    return hotline_tokens_path(s)
