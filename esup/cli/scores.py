"""`esup scores refresh`: the scoreboard (the score views materialised) kept current, as the scorer role."""

from __future__ import annotations

from typing import Any

import click

from esup.params import cli_settings as _settings
from esup.settings import Settings


def _client(s: Settings, database: str | None) -> Any:
    from sinks.clickhouse import connect

    return connect(s, database or s.clickhouse_database, role="scorer")


@click.group("scores")
def scores() -> None:
    """The scoreboard: the score views materialised for the console, bulletin, rankings and dashboards."""


@scores.command("refresh")
@click.option(
    "--every",
    default=None,
    type=click.FloatRange(min=0.2),
    help="keep running: look for changed inputs every this many seconds (default: refresh once)",
)
@click.option(
    "--max-age",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="with --every: rebuild at least this often even if the inputs look unchanged",
)
@click.option("--force", is_flag=True, help="rebuild even if the inputs are unchanged")
@click.option("--database", default=None, help="database (default: ESUP_CLICKHOUSE_DATABASE)")
def scores_refresh(every: float | None, max_age: float, force: bool, database: str | None) -> None:
    """Rebuild the scoreboard from the score views when their inputs changed (as the scorer role).

    A decision or a finding reaches the boards within --every plus twice a rebuild's time (docs/performance.md).

    \b
      esup scores refresh                 once, now (nothing when nothing changed)
      esup scores refresh --every 10      as a service: what `esup services up` runs
    """
    import threading

    from sinks.scoreboard import refresh, run

    s = _settings()
    if every is None:
        client = _client(s, database)
        try:
            done = refresh(client, force=force)
        except Exception as exc:
            raise click.ClickException(
                f"ClickHouse: {type(exc).__name__}: {exc} (have `esup db migrate` and `esup db views` run?)"
            ) from None
        finally:
            client.disconnect()
        if done is None:
            click.echo("scoreboard: inputs unchanged, nothing to do")
        else:
            click.echo(
                f"scoreboard: {done.rows['department']} department and {done.rows['staff']} staff rows, "
                f"as of {done.as_of:%Y-%m-%d %H:%M:%S}, in {done.seconds:.2f} s"
            )
        return
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    try:
        run(lambda: _client(s, database), stop, every=every, max_age=max_age)
    except KeyboardInterrupt:
        stop.set()
