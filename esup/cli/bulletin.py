"""`esup bulletin`: the month's evaluation as HTML and PDF (考评结果每月公布)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from esup.params import cli_settings as _settings

TZ = ZoneInfo("Asia/Shanghai")


@click.command("bulletin")
@click.option("--month", required=True, help="the month to publish, YYYY-MM (e.g. 2026-11)")
@click.option("--region", default=None, help="6-digit region code (its level is read from it); default: all")
@click.option(
    "--out",
    "out",
    default=Path("bulletins"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for the HTML and PDF files",
)
@click.option(
    "--scoring",
    "scoring_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="scoring model the views were made from (default esup/config/scoring.yaml)",
)
@click.option("--database", default=None, help="database (default: ESUP_CLICKHOUSE_DATABASE, `esup`)")
def bulletin(month: str, region: str | None, out: Path, scoring_file: Path | None, database: str | None) -> None:
    """Render a month's bulletin: department and staff rankings, deductions by heading, six-month trend, the
    red cards of the month and the accountability measures decided in it.

    \b
      esup bulletin --month 2026-11
      esup bulletin --month 2026-11 --region 511700 --out /srv/bulletins
    """
    from bulletin.data import collect, month_start
    from bulletin.render import html, pdf
    from directory.clickhouse import names
    from schemas.scoring import ScoringError, load_scoring
    from sinks.clickhouse import connect
    from sinks.scoring import level_of

    try:
        start = month_start(month)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    if region is not None:
        try:
            level_of(region)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--region") from None
    try:
        model = load_scoring(scoring_file)
    except ScoringError as exc:
        raise click.ClickException(str(exc)) from None
    s = _settings()
    client = connect(s, database or s.clickhouse_database, role="reader")
    try:
        try:
            known = names(client)
        except Exception:  # a database without the directory (0012): ids stand in for names
            known = ({}, {})
        b = collect(client, model, start, region, known)
    except Exception as exc:
        raise click.ClickException(
            f"ClickHouse: {type(exc).__name__}: {exc} (have `esup db migrate` and `esup db views` run?)"
        ) from None
    finally:
        client.disconnect()
    now = datetime.now(TZ)
    stem = f"bulletin-{start:%Y-%m}" + (f"-{region}" if region else "")
    out.mkdir(parents=True, exist_ok=True)
    page = out / f"{stem}.html"
    page.write_text(html(b, now), encoding="utf-8")
    document = pdf(b, out / f"{stem}.pdf", now)
    click.echo(
        f"{b.title}: {len(b.departments)} departments, {len(b.staff)} staff, {len(b.worst)} red cards, "
        f"{len(b.measures)} measures"
    )
    click.echo(f"wrote {page}\nwrote {document}")
