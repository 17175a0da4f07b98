"""`esup schema export`: the event contract's JSON Schemas for department systems."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def schema() -> None:
    """The event contract for department systems."""


@schema.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schema_export(directory: Path) -> None:
    """Write the JSON Schemas of case events, the catalog, findings and complaints into DIRECTORY."""
    from complaints.contract import complaints_json_schema
    from schemas.catalog import Catalog
    from schemas.events import event_json_schema
    from schemas.findings import Finding

    directory.mkdir(parents=True, exist_ok=True)
    docs = {
        "case-event.schema.json": event_json_schema(),
        "catalog.schema.json": Catalog.model_json_schema(),
        "finding.schema.json": Finding.model_json_schema(),
        "complaint-message.schema.json": complaints_json_schema(),
    }
    for name, doc in docs.items():
        (directory / name).write_text(
            json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        click.echo(f"wrote {directory / name}")
