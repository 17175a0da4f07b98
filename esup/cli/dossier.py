"""`esup dossier FINDING_ID`: the evidence file of one finding, as JSON and PDF (docs/loop.md)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("finding_id")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option(
    "--catalog",
    "catalog_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("examples/catalog.yaml"),
    show_default=True,
)
def dossier(finding_id: str, out: Path | None, catalog_file: Path) -> None:
    """Write the evidence dossier (证据材料) of FINDING_ID: dossier.json and dossier.pdf."""
    from esup.settings import load_settings
    from loop import dossier as d
    from loop.config import load_loop_config
    from schemas.catalog import load_catalog
    from sinks.clickhouse import connect
    from streams.rules import WorkCalendar

    s = load_settings()
    try:
        doc = d.build(
            connect(s, role="reader"), finding_id, load_catalog(catalog_file), WorkCalendar(), load_loop_config()
        )
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    for path in d.write(doc, out or Path(f"dossier-{finding_id}")):
        click.echo(f"wrote {path}")
