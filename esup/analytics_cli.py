"""Commands for scores, rankings and dashboards: `esup db views`, `esup rankings`, `esup dashboards build|push`."""

from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from esup.clickhouse_auth import Role
from esup.params import cli_settings as _settings
from esup.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")




def _client(s: Settings, database: str | None, role: Role) -> Any:
    from sinks.clickhouse import connect

    return connect(s, database or s.clickhouse_database, role=role)


@click.command("views")
@click.option("--database", default=None, help="target database (default: ESUP_CLICKHOUSE_DATABASE, `esup`)")
@click.option("--scoring", "scoring_file", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="scoring model (YAML; default esup/config/scoring.yaml)")
@click.option("--calendar", "calendar_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="working-day calendar override (YAML), as for `esup evaluate`")
def db_views(database: str | None, scoring_file: Path | None, calendar_file: Path | None) -> None:
    """(Re)create the score and ranking views from the scoring model; run after `esup db migrate`.

    The views hold the model and the holidays of its calendar years, so run it again after changing
    esup/config/scoring.yaml or loading a newly published holiday calendar.
    """
    from directory.views import create_views as accountability_views
    from schemas.scoring import ScoringError, load_scoring
    from sinks.clickhouse import replica_settings
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
            client = _client(one, target, "admin")  # views are DDL
            names = create_views(client, model, calendar)
            names += accountability_views(client)
    except Exception as exc:  # connection refused, missing tables (migrate first), SQL rejected…
        raise click.ClickException(
            f"ClickHouse at {s.clickhouse_host}:{s.clickhouse_port}/{target}: {type(exc).__name__}: {exc}"
        ) from None
    click.echo(f"{target}: views {', '.join(names)} (scoring model {model.version}, calendar {calendar.version})")


def _day(value: str | None) -> date:
    if value is None:
        return datetime.now(TZ).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _names(client: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Department and staff names from the directory tables; none (ids only) before the directory is loaded."""
    from directory.clickhouse import names

    try:
        return names(client)
    except Exception:  # a database not migrated to 0012: rank by ids, as before
        return {}, {}


@click.command("rankings")
@click.option("--by", "by", type=click.Choice(["dept", "staff"]), default="dept", show_default=True)
@click.option("--region", default=None, help="6-digit region code; its level (province/city/county) is read from "
              "it (default: every province)")
@click.option("--period", type=click.Choice(["day", "week", "month"]), default="month", show_default=True)
@click.option("--at", "at", default=None, help="show the period containing this date (default: today, Beijing time)")
@click.option("--watch", is_flag=True, help="refresh until Ctrl-C")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(min=0.5),
              help="seconds between refreshes with --watch")
@click.option("--json", "as_json", is_flag=True, help="print JSON (one array) instead of a table")
@click.option("--database", default=None, help="database (default: ESUP_CLICKHOUSE_DATABASE)")
def rankings(by: str, region: str | None, period: str, at: str | None, watch: bool, interval: float,
             as_json: bool, database: str | None) -> None:
    """The live ranking of departments or staff as a table, for anyone without Grafana.

    \b
      esup rankings --region 511700 --period week
      esup rankings --by staff --region 511702 --watch
      esup rankings --at 2026-05-15 --json
    """
    from sinks.rankings import fetch, format_table, period_start, with_names
    from sinks.scoring import Kind, level_of

    kind: Kind = "department" if by == "dept" else "staff"
    if region is not None:
        try:
            level_of(region)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--region") from None
    s = _settings()
    client = _client(s, database, "reader")
    try:
        while True:
            day = _day(at)
            start = period_start(period, day)
            try:
                rows = with_names(fetch(client, kind, period, start, region), *_names(client), kind)
            except Exception as exc:
                raise click.ClickException(f"ClickHouse: {type(exc).__name__}: {exc} "
                                           "(have `esup db migrate` and `esup db views` run?)") from None
            if as_json:
                click.echo(json.dumps([r.as_json() for r in rows], ensure_ascii=False))
            else:
                if watch:
                    click.clear()
                where = f"region {region}" if region else "each province"
                click.echo(f"{kind} ranking, {period} from {start.isoformat()}, {where} "
                           f"(as of {datetime.now(TZ):%Y-%m-%d %H:%M:%S})")
                click.echo(format_table(rows, kind) if rows else "(nothing ranked in this period)")
            if not watch:
                return
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        click.echo("")
    finally:
        client.disconnect()


@click.group("dashboards")
def dashboards_group() -> None:
    """Grafana dashboards as code: generate the JSON and publish it to a Grafana."""


@dashboards_group.command("build")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="directory (default: dashboards/json, which docker-compose provisions)")
@click.option("--check", is_flag=True, help="write nothing; exit 1 if the files differ from the generated JSON")
def dashboards_build(out_dir: Path | None, check: bool) -> None:
    """Write every dashboard's JSON (sorted keys, stable output)."""
    from dashboards.build import OUT_DIR, differences, write

    where = out_dir or OUT_DIR
    if check:
        problems = differences(where)
        for p in problems:
            click.echo(f"{where}/{p}", err=True)
        if problems:
            click.echo("run `esup dashboards build` and commit the result", err=True)
            sys.exit(1)
        click.echo(f"{where}: up to date")
        return
    for path in write(where):
        click.echo(f"wrote {path}")


@dashboards_group.command("push")
@click.option("--url", required=True, help="Grafana base URL, e.g. http://127.0.0.1:3000")
@click.option("--token", required=True, envvar="GRAFANA_TOKEN", help="service-account token (or GRAFANA_TOKEN)")
@click.option("--clickhouse-host", default=None, help="ClickHouse host as Grafana sees it (default: the settings)")
@click.option("--clickhouse-port", default=None, type=int, help="native port as Grafana sees it")
@click.option("--database", default=None, help="default database of the data source (default: the settings)")
def dashboards_push(url: str, token: str, clickhouse_host: str | None, clickhouse_port: int | None,
                    database: str | None) -> None:
    """Create or update the ClickHouse data source and every dashboard in a running Grafana."""
    from grafana_client import GrafanaApi
    from grafana_client.client import GrafanaException

    from dashboards.push import Target, push

    s = _settings()
    user, password = s.clickhouse_login("reader")  # Grafana only reads: readonly=1, the esup database only
    target = Target(host=clickhouse_host or s.clickhouse_host, port=clickhouse_port or s.clickhouse_port,
                    database=database or s.clickhouse_database, user=user, password=password)
    api = GrafanaApi.from_url(url, credential=token)
    try:
        push(api, target, report=click.echo)
    except GrafanaException as exc:
        raise click.ClickException(f"Grafana at {url}: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"Grafana at {url}: {type(exc).__name__}: {exc}") from None


def register(main: click.Group) -> None:
    """Attach `db views` (to the infrastructure's `db` group when present), `rankings` and `dashboards`."""
    db = main.commands.get("db")
    if not isinstance(db, click.Group):
        db = click.Group("db", help="The ClickHouse database (ESUP_CLICKHOUSE_* settings).")
        main.add_command(db)
    db.add_command(db_views)
    main.add_command(rankings)
    main.add_command(dashboards_group)
