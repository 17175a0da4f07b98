"""Department names in ClickHouse (the `departments` dimension): written from a roster, joined by the rankings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TABLE = "departments"


@dataclass(frozen=True)
class Department:
    department_id: str
    name: str
    region_code: str
    kind: str = ""


def upsert(client: Any, departments: Iterable[Department], *, source: str, at: datetime) -> int:
    """Write (or replace: the latest `at` wins in FINAL) the names; returns how many rows were sent."""
    rows = [(d.department_id, d.name, d.region_code, d.kind, source, at) for d in departments]
    if rows:
        client.execute(f"INSERT INTO {TABLE} (department_id, name, region_code, kind, source, updated_at) VALUES",
                       rows)  # fmt: skip
    return len(rows)


def names_sql() -> str:
    """A subquery: department_id → department_name, for `ANY LEFT JOIN (…) USING department_id`."""
    return f"SELECT department_id, name AS department_name FROM {TABLE} FINAL"
