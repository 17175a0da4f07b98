"""`esup dashboards build|push`: Grafana dashboards as code, generated and published."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from esup.params import cli_settings as _settings


@click.group("dashboards")
def dashboards_group() -> None:
    """Grafana dashboards as code: generate the JSON and publish it to a Grafana."""


@dashboards_group.command("build")
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="directory (default: dashboards/json, which docker-compose provisions)",
)
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
def dashboards_push(
    url: str, token: str, clickhouse_host: str | None, clickhouse_port: int | None, database: str | None
) -> None:
    """Create or update the ClickHouse data source and every dashboard in a running Grafana."""
    from grafana_client.api import GrafanaApi
    from grafana_client.client import GrafanaException

    from dashboards.push import Target, push

    s = _settings()
    user, password = s.clickhouse_login("reader")  # Grafana only reads: readonly=1, the esup database only
    target = Target(
        host=clickhouse_host or s.clickhouse_host,
        port=clickhouse_port or s.clickhouse_port,
        database=database or s.clickhouse_database,
        user=user,
        password=password,
    )
    api = GrafanaApi.from_url(url, credential=token)
    try:
        push(api, target, report=click.echo)
    except GrafanaException as exc:
        raise click.ClickException(f"Grafana at {url}: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"Grafana at {url}: {type(exc).__name__}: {exc}") from None
