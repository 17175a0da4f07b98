"""Department names in ClickHouse: the organisation directory's table (directory_departments), one source.

The `departments` view (migration 0031) reads it for the rankings and `esup case`; `upsert` writes names for
departments the directory does not describe fully (no head, no bureau), e.g. a test's fixture.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TABLE = "departments"  # a view over directory_departments (FINAL, not deleted)


@dataclass(frozen=True)
class Department:
    """One row of the departments directory: id, name, region code and kind."""

    department_id: str
    name: str
    region_code: str
    kind: str = ""


def upsert(client: Any, departments: Iterable[Department], *, source: str, at: datetime) -> int:
    """Write (or replace: the highest version wins in FINAL) directory rows with these names; returns how many.

    ``source`` is not stored any more (the directory has no such column); ``at`` is the version, in
    microseconds as `esup directory publish` numbers them, so a later publish of the whole directory wins."""
    version = int(at.timestamp() * 1_000_000)
    rows = [(d.department_id, d.name, d.region_code, "", "", "", 0, version) for d in departments]
    if rows:
        client.execute(
            "INSERT INTO directory_departments (id, name, region_code, parent, head, bureau, deleted, version) VALUES",
            rows,
        )
    return len(rows)


def names_sql() -> str:
    """A subquery: department_id → department_name, for `ANY LEFT JOIN (…) USING department_id`."""
    return f"SELECT department_id, name AS department_name FROM {TABLE}"
