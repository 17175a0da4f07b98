"""`esup dossier FINDING_ID`: the evidence file of one finding, as JSON and PDF (docs/loop.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.argument("finding_id")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option(
    "--catalog",
    "catalog_file",
    type=_FILE,
    default=None,
    help="catalog file to recompute with (default: the catalog as published on its topic, as the workers read it)",
)
@click.option(
    "--rules",
    "rules_file",
    type=_FILE,
    default=None,
    help="rule thresholds (default: the running workers' --rules file, else the defaults)",
)
@click.option(
    "--calendar",
    "calendar_file",
    type=_FILE,
    default=None,
    help="working-day calendar override (default: the running workers' --calendar file, else the default calendar)",
)
@click.option(
    "--accept-calendar-mismatch",
    is_flag=True,
    help="write the dossier even when its calendar is not the one the finding was computed with (it says so)",
)
def dossier(
    finding_id: str,
    out: Path | None,
    catalog_file: Path | None,
    rules_file: Path | None,
    calendar_file: Path | None,
    accept_calendar_mismatch: bool,
) -> None:
    """Write the evidence dossier (证据材料) of FINDING_ID: dossier.json and dossier.pdf.

    The deadline is recomputed with the deployed catalog, thresholds and calendar; the dossier names each
    and its version, and refuses (unless --accept-calendar-mismatch) a calendar other than the finding's.
    """
    from esup.settings import load_settings
    from loop import basis as b
    from loop import dossier as d
    from loop.config import load_loop_config
    from schemas.catalog import CatalogError
    from schemas.config import ConfigError
    from sinks.clickhouse import connect

    s = load_settings()
    client = connect(s, role="reader")
    try:
        basis = b.resolve(
            home=s.home,
            catalog_file=catalog_file,
            rules_file=rules_file,
            calendar_file=calendar_file,
            published=lambda: _published(s, client),
        )
        doc = d.build(client, finding_id, basis, load_loop_config())
    except (LookupError, TimeoutError, CatalogError, ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    mismatch = doc["finding_calendar_version"] != doc["calendar_version"]
    for w in doc["warnings"]:
        click.echo(f"warning: {w}", err=True)
    if mismatch and not accept_calendar_mismatch:
        raise click.ClickException(
            "refused: the dossier's calendar is not the finding's (see the warning); pass the workers' --calendar "
            "file, or --accept-calendar-mismatch to write it with the warning"
        )
    basis_doc = doc["basis"]
    click.echo(
        f"catalog {basis_doc['catalog']['source']} (version {basis_doc['catalog']['version']}); "
        f"thresholds {basis_doc['rules']['source']}; calendar {basis_doc['calendar']['version']}"
    )
    for path in d.write(doc, out or Path(f"dossier-{finding_id}")):
        click.echo(f"wrote {path}")


def _published(s: Any, client: Any) -> tuple[Any, str]:
    """The catalog on its topic, read as the operator (read-only everywhere), and its last audited version."""
    from esup.kafka_auth import OPERATOR, kafka_python_auth
    from esup.producer import read_compacted
    from loop.basis import last_audited_publish, topic_catalog

    records = read_compacted(s.kafka_bootstrap, s.topic_catalog, auth=kafka_python_auth(s, OPERATOR))
    return topic_catalog(records, s.topic_catalog, last_audited_publish(client)), f"topic {s.topic_catalog}"
