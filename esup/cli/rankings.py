"""`esup rankings`: the live ranking of departments or staff as a table, for anyone without Grafana."""

from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from esup.clickhouse_auth import Role
from esup.params import cli_settings as _settings
from esup.settings import Settings

if TYPE_CHECKING:
    from sinks.fair_reader import FairEntry
    from sinks.rankings import RankRow
    from sinks.scoring import Kind

TZ = ZoneInfo("Asia/Shanghai")


def _client(s: Settings, database: str | None, role: Role) -> Any:
    from sinks.clickhouse import connect

    return connect(s, database or s.clickhouse_database, role=role)


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


def _fair_entries(
    client: Any, kind: Kind, period: str, start: date, region: str | None, history: int, raw: list[RankRow]
) -> list[FairEntry]:
    """The fair comparison of one period beside the raw rows, counting findings as the scoring model does."""
    from schemas.scoring import ScoringError, load_scoring
    from sinks.fair_reader import fair_entries

    try:
        model = load_scoring()
    except ScoringError as exc:
        raise click.ClickException(str(exc)) from None
    return fair_entries(
        client, kind, period, start, region, raw, history=history, pending_counts=model.pending_findings_count
    )


@click.command("rankings")
@click.option("--by", "by", type=click.Choice(["dept", "staff"]), default="dept", show_default=True)
@click.option(
    "--region",
    default=None,
    help="6-digit region code; its level (province/city/county) is read from it (default: every province)",
)
@click.option("--period", type=click.Choice(["day", "week", "month"]), default="month", show_default=True)
@click.option("--at", "at", default=None, help="show the period containing this date (default: today, Beijing time)")
@click.option("--watch", is_flag=True, help="refresh until Ctrl-C")
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.5),
    help="seconds between refreshes with --watch",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON (one array) instead of a table")
@click.option(
    "--fair",
    is_flag=True,
    help="the fair comparison beside the raw rank: cards against the case mix's expected, shrunk, rank ranges "
    "(README 'Fair rankings'; the raw score stays the official one)",
)
@click.option(
    "--history",
    default=6,
    show_default=True,
    type=click.IntRange(min=1, max=36),
    help="with --fair: periods (the ranked one and those before it) whose province rates set the expected cards",
)
@click.option("--database", default=None, help="database (default: ESUP_CLICKHOUSE_DATABASE)")
def rankings(
    by: str,
    region: str | None,
    period: str,
    at: str | None,
    watch: bool,
    interval: float,
    as_json: bool,
    fair: bool,
    history: int,
    database: str | None,
) -> None:
    """The live ranking of departments or staff as a table, for anyone without Grafana.

    \b
      esup rankings --region 511700 --period week
      esup rankings --by staff --region 511702 --watch
      esup rankings --at 2026-05-15 --json
      esup rankings --fair --region 511700
    """
    from sinks.fair_table import EXPLAIN_EN
    from sinks.fair_table import format_table as fair_table
    from sinks.rankings import fetch, format_table, period_start, with_names
    from sinks.scoring import level_of

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
                entries = _fair_entries(client, kind, period, start, region, history, rows) if fair else []
            except click.ClickException:
                raise
            except Exception as exc:
                raise click.ClickException(
                    f"ClickHouse: {type(exc).__name__}: {exc} (have `esup db migrate` and `esup db views` run?)"
                ) from None
            names = {r.id: r.name or (r.department_name if kind == "department" else "") for r in rows}
            where = f"region {region}" if region else "each province"
            if as_json and fair:
                click.echo(
                    json.dumps([{**e.as_json(), "name": names.get(e.id, "")} for e in entries], ensure_ascii=False)
                )
            elif as_json:
                click.echo(json.dumps([r.as_json() for r in rows], ensure_ascii=False))
            elif fair:
                if watch:
                    click.clear()
                click.echo(
                    f"fair {kind} ranking, {period} from {start.isoformat()}, {where}, reference rates: "
                    f"{history} {period}(s) (as of {datetime.now(TZ):%Y-%m-%d %H:%M:%S})"
                )
                click.echo(fair_table(entries, kind) if entries else "(nothing to compare in this period)")
                click.echo("\n" + EXPLAIN_EN)
            else:
                if watch:
                    click.clear()
                click.echo(
                    f"{kind} ranking, {period} from {start.isoformat()}, {where} "
                    f"(as of {datetime.now(TZ):%Y-%m-%d %H:%M:%S})"
                )
                click.echo(format_table(rows, kind) if rows else "(nothing ranked in this period)")
            if not watch:
                return
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        click.echo("")
    finally:
        client.disconnect()
