"""`esup directory validate|publish`: the organisation directory (departments, staff, bureaus) from YAML."""

from __future__ import annotations

from pathlib import Path

import click

from esup.kafka_auth import CATALOG, kafka_python_auth
from esup.params import cli_settings as _settings


@click.group("directory")
def directory_group() -> None:
    """The organisation directory: departments (names, heads, bureaus), staff (roles, email, mobile), bureaus.

    \b
      esup directory validate build/sim/directory.yaml
      esup directory publish build/sim/directory.yaml    # to the compacted topic, and ClickHouse's tables
    """


def _load(path: Path) -> object:
    from directory.model import DirectoryError, load_directory

    try:
        return load_directory(path)
    except (DirectoryError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@directory_group.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate(file: Path) -> None:
    """Check FILE: fields, unique ids, and that every department, head, parent and bureau exists."""
    from directory.model import Directory

    d = _load(file)
    assert isinstance(d, Directory)
    click.echo(
        f"{file}: {len(d.departments)} departments, {len(d.staff)} staff, {len(d.bureaus)} bureaus "
        f"(version {d.version})"
    )


@directory_group.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--db/--no-db",
    default=True,
    show_default=True,
    help="also write it to ClickHouse's directory tables (names in rankings and views)",
)
def publish(file: Path, db: bool) -> None:
    """Publish FILE to the directory topic (one record per entry; removed entries are tombstoned)."""
    from directory.index import DirectoryIndex
    from directory.model import Directory
    from directory.topic import publish_directory

    d = _load(file)
    assert isinstance(d, Directory)
    s = _settings()
    try:
        report = publish_directory(s.kafka_bootstrap, s.topic_directory, d, auth=kafka_python_auth(s, CATALOG))
    except Exception as exc:  # no broker, no topic
        raise click.ClickException(
            f"publishing to {s.topic_directory} at {s.kafka_bootstrap}: "
            f"{type(exc).__name__}: {exc} (did `esup topics create` run?)"
        ) from None
    click.echo(
        f"published {report.published} records ({report.deleted} removed) of directory {d.version} "
        f"to {s.topic_directory}"
    )
    if db:
        from directory.clickhouse import sync
        from sinks.clickhouse import connect

        try:
            n = sync(connect(s, role="service"), DirectoryIndex.of(d))
        except Exception as exc:  # the notifier writes it too once it runs; say so, do not fail the publish
            click.echo(f"ClickHouse not updated ({type(exc).__name__}: {exc}); the notifier will write it", err=True)
            return
        click.echo(f"wrote {n} rows to {s.clickhouse_database}.directory_*")
