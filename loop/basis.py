"""What a dossier recomputes a deadline with: the deployed catalog, rule thresholds and calendar, and their versions.

Deployed means what the workers judge with: the catalog as published on its compacted topic (or a file given
explicitly), and the ``--rules`` / ``--calendar`` files the running workers were started with (their command
lines, kept in ``<home>/services/worker-*.pid`` by `esup services up`), else the defaults the workers use then.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esup.audit_writers import LEGACY
from esup.kafka_auth import CATALOG
from schemas.catalog import Catalog, CatalogError, load_catalog, parse_catalog_item
from schemas.config import RuleConfig, load_rule_config
from streams.rules.calendar import WorkCalendar, load_calendar


@dataclass(frozen=True)
class Basis:
    """The catalog, thresholds and calendar a dossier uses, each with where it came from and its version."""

    catalog: Catalog
    calendar: WorkCalendar
    rules: RuleConfig
    catalog_source: str
    catalog_version: str
    rules_source: str
    calendar_source: str
    notes: list[str] = field(default_factory=list)  # what the resolution could not settle (said in the dossier)

    def describe(self) -> dict[str, Any]:
        """The basis as the dossier states it."""
        return {
            "catalog": {
                "source": self.catalog_source,
                "version": self.catalog_version,
                "items": len(self.catalog.items),
            },
            "rules": {"source": self.rules_source, "thresholds": self.rules.model_dump(mode="json")},
            "calendar": {"source": self.calendar_source, "version": self.calendar.version},
            "notes": list(self.notes),
        }


def catalog_digest(catalog: Catalog) -> str:
    """A short digest of the items' content (code order): names one catalog whatever file or topic it came from."""
    h = hashlib.sha256()
    for item in sorted(catalog.items, key=lambda i: i.code):
        h.update(item.model_dump_json().encode())
    return h.hexdigest()[:12]


def worker_options(home: Path) -> tuple[dict[str, Path], list[str]]:
    """The ``--rules`` and ``--calendar`` files of the workers `esup services up` started, and disagreements."""
    seen: dict[str, set[str]] = {"--rules": set(), "--calendar": set()}
    workers = sorted((home / "services").glob("worker-*.pid")) if (home / "services").is_dir() else []
    for pidfile in workers:
        try:
            marker = pidfile.read_text(encoding="utf-8").split("\n", 1)[1].split()
        except (OSError, IndexError):
            continue
        for opt in seen:
            seen[opt].add(marker[marker.index(opt) + 1] if opt in marker[:-1] else "")
    notes = [f"the workers differ in {opt}: {sorted(v)}" for opt, v in seen.items() if len(v) > 1]
    found = {opt.lstrip("-"): Path(sorted(v)[0]) for opt, v in seen.items() if len(v) == 1 and "" not in v}
    if not workers:
        notes.append(f"no worker started by `esup services up` under {home}: the workers' defaults are assumed")
    return found, notes


def topic_catalog(records: dict[bytes, bytes | None], topic: str, audited: tuple[str, str] | None) -> Catalog:
    """The catalog from the topic's latest record per item (tombstones and unreadable records left out, as the
    workers do); its version is the last audited publish's, else unknown, with the content digest either way."""
    items = []
    for value in records.values():
        if value is None:
            continue
        try:
            items.append(parse_catalog_item(value))
        except CatalogError:
            continue
    catalog = Catalog(items=sorted(items, key=lambda i: i.code))
    label = f"{audited[0]} (last audited publish, {audited[1]})" if audited else "not recorded (no audited publish)"
    return catalog.model_copy(update={"version": f"{label}; topic {topic} content {catalog_digest(catalog)}"})


def last_audited_publish(client: Any) -> tuple[str, str] | None:
    """(version, when) of the latest `esup catalog publish` in the audit log, or None: a record from the catalog
    publisher's own audit topic (or the shared one of earlier versions), never one another writer claims."""
    rows = client.execute(
        "SELECT detail, toString(at) FROM audit_log FINAL WHERE action = 'catalog.publish' "
        "AND writer IN (%(catalog)s, %(legacy)s) ORDER BY at DESC LIMIT 1",
        {"catalog": CATALOG, "legacy": LEGACY},
        settings={"readonly": 1},
    )
    if not rows:
        return None
    try:
        return str(json.loads(rows[0][0]).get("version", "?")), str(rows[0][1])
    except (ValueError, AttributeError):
        return None


def resolve(
    *,
    home: Path,
    catalog_file: Path | None,
    rules_file: Path | None,
    calendar_file: Path | None,
    published: Any,
) -> Basis:
    """The basis: explicit files win; else the workers' files and the published catalog (``published()`` returns
    it with its source, read only when no file is given)."""
    found, notes = worker_options(home)
    if catalog_file is not None:
        catalog = load_catalog(catalog_file)
        catalog_source, version = f"file {catalog_file}", f"{catalog.version} (content {catalog_digest(catalog)})"
    else:
        catalog, catalog_source = published()
        version = catalog.version
    rules_path = rules_file or found.get("rules")
    calendar_path = calendar_file or found.get("calendar")

    def source(path: Path | None, given: Path | None, what: str) -> str:
        if path is None:
            return f"the default {what} (the workers run without a file)"
        return f"file {path}" + ("" if given else " (the running workers')")

    return Basis(
        catalog=catalog,
        calendar=load_calendar(calendar_path),
        rules=load_rule_config(rules_path),
        catalog_source=catalog_source,
        catalog_version=version,
        rules_source=source(rules_path, rules_file, "thresholds"),
        calendar_source=source(calendar_path, calendar_file, "calendar"),
        notes=notes,
    )


def of_files(catalog: Catalog, calendar: WorkCalendar, source: str, rules: RuleConfig | None = None) -> Basis:
    """A basis from objects already loaded (the console's), saying where they came from."""
    return Basis(
        catalog=catalog,
        calendar=calendar,
        rules=rules or RuleConfig(),
        catalog_source=source,
        catalog_version=f"{catalog.version} (content {catalog_digest(catalog)})",
        rules_source="the default thresholds",
        calendar_source="the default calendar",
    )
