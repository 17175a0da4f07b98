"""`esup db migrate|views`: the ClickHouse database's tables (migrations) and its score and ranking views."""

from __future__ import annotations

from pathlib import Path

import click

from esup.params import cli_settings as _settings


@click.group()
def db() -> None:
    """The ClickHouse database (ESUP_CLICKHOUSE_* settings)."""


@db.command("migrate")
@click.option("--database", default=None, help="target database (default: ESUP_CLICKHOUSE_DATABASE, `esup`)")
def db_migrate(database: str | None) -> None:
    """Apply the pending migrations from sinks/migrations (idempotent) and list the tables."""
    from sinks.clickhouse import connect
    from sinks.migrate import MigrationError, migrate, tables

    s = _settings()
    target = database or s.clickhouse_database
    try:
        done = migrate(lambda name: connect(s, name, role="admin"), target, cluster=s.clickhouse_cluster)
        names = tables(connect(s, target, role="admin"), target)
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # connection refused, authentication, DDL rejected…
        raise click.ClickException(
            f"ClickHouse at {s.clickhouse_host}:{s.clickhouse_port}: {type(exc).__name__}: {exc}"
        ) from None
    for m in done:
        click.echo(f"applied {m.version:04d}_{m.name} ({len(m.statements)} statements)")
    if not done:
        click.echo(f"{target}: up to date")
    click.echo(f"tables in {target}: {', '.join(names)}")


@db.command("views")
@click.option("--database", default=None, help="target database (default: ESUP_CLICKHOUSE_DATABASE, `esup`)")
@click.option(
    "--scoring",
    "scoring_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="scoring model (YAML; default esup/config/scoring.yaml)",
)
@click.option(
    "--calendar",
    "calendar_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="working-day calendar override (YAML), as for `esup evaluate`",
)
def db_views(database: str | None, scoring_file: Path | None, calendar_file: Path | None) -> None:
    """(Re)create the score and ranking views from the scoring model, and fill the scoreboard from them; run
    after `esup db migrate`.

    The views hold the model and the holidays of its calendar years, so run it again after changing
    esup/config/scoring.yaml or loading a newly published holiday calendar. The scoreboard (the tables the
    console, bulletin, rankings and dashboards read) is rebuilt from the new views at once; `esup scores
    refresh --every N` keeps it current after that.
    """
    from directory.views import create_views as accountability_views
    from schemas.scoring import ScoringError, load_scoring
    from sinks.clickhouse import connect, replica_settings
    from sinks.scoreboard import refresh, tables
    from sinks.scoring import create_views
    from streams.rules import load_calendar

    try:
        model = load_scoring(scoring_file)
        calendar = load_calendar(calendar_file)
    except (ScoringError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    s = _settings()
    target = database or s.clickhouse_database
    try:
        # On a cluster each replica gets its own views (they read the Distributed tables by their plain names).
        for one in replica_settings(s):
            client = connect(one, target, role="admin")  # views are DDL
            names = create_views(client, model, calendar)
            names += accountability_views(client)
        done = refresh(client, force=True)  # the views changed: the boards must follow them now
        names += [t for t in tables() if not t.endswith(("_next", "_prev"))]
    except Exception as exc:  # connection refused, missing tables (migrate first), SQL rejected…
        raise click.ClickException(
            f"ClickHouse at {s.clickhouse_host}:{s.clickhouse_port}/{target}: {type(exc).__name__}: {exc}"
        ) from None
    board = f"; scoreboard as of {done.as_of:%Y-%m-%d %H:%M:%S} ({done.seconds:.1f} s)" if done else ""
    click.echo(
        f"{target}: views {', '.join(names)} (scoring model {model.version}, calendar {calendar.version})" + board
    )
