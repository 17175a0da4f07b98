"""`esup catalog publish`: the licensing-item catalog onto its compacted topic, every publish audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from esup.cli.publish import require_topic
from esup.kafka_auth import CATALOG, kafka_python_auth
from esup.params import cli_settings as _settings


@click.group()
def catalog() -> None:
    """The licensing-item catalog the workers read (a compacted topic, one record per item code)."""


@catalog.command("publish")
@click.argument("catalog_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def catalog_publish(catalog_file: Path) -> None:
    """Validate CATALOG_FILE and publish every item; items no longer in it are deleted (tombstones)."""
    from esup.producer import publish_catalog
    from schemas.catalog import CatalogError, load_catalog

    try:
        items = load_catalog(catalog_file)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    s = _settings()
    require_topic(s, s.topic_catalog)
    try:
        report = publish_catalog(s.kafka_bootstrap, s.topic_catalog, items, auth=kafka_python_auth(s, CATALOG))
    except (LookupError, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from None
    _audit_publish(s, catalog_file, items.version, report)
    click.echo(f"published {len(report.published)} items (catalog version {items.version}) to {s.topic_catalog}")
    for code in report.deleted:
        click.echo(f"deleted {code} (no longer in {catalog_file})")


def _audit_publish(s: Any, catalog_file: Path, version: str, report: Any) -> None:
    """Who published which catalog, when, what changed: on the audit topic (and so in audit_log)."""
    import hashlib

    from esup.access.audit import AccessAudit
    from esup.audit_writers import audit_topic
    from esup.producer import kafka_producer

    producer = kafka_producer(s.kafka_bootstrap, "esup-catalog-audit", auth=kafka_python_auth(s, CATALOG))
    try:
        AccessAudit(producer, audit_topic(s, CATALOG), CATALOG, "esup catalog publish").record(
            "catalog.publish",
            {
                "file": str(catalog_file),
                "sha256": hashlib.sha256(catalog_file.read_bytes()).hexdigest(),
                "version": version,
                "published": len(report.published),
                "deleted": sorted(report.deleted),
            },
        )
    finally:
        producer.close(timeout=10)
