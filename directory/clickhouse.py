"""The directory as ClickHouse tables, so rankings, dashboards and the accountability view show names."""

from __future__ import annotations

import time
from typing import Any

from directory.index import DirectoryIndex

TABLES = ("directory_departments", "directory_staff", "directory_bureaus")


def sync(client: Any, index: DirectoryIndex) -> int:
    """Write the whole directory with a new version; entries no longer in it are written as deleted."""
    version = time.time_ns() // 1000
    present = {t: {str(r[0]) for r in client.execute(f"SELECT id FROM {t} FINAL WHERE deleted = 0")} for t in TABLES}
    depts = [
        (d.id, d.name, d.region_code, d.parent or "", d.head or "", d.bureau or "", 0, version)
        for d in index.departments.values()
    ]
    staff = [
        (s.id, s.name, s.department, [r.value for r in s.roles], s.email or "", s.mobile or "", 0, version)
        for s in index.staff.values()
    ]
    bureaus = [(b.id, b.name, b.region_code, list(b.staff), 0, version) for b in index.bureaus.values()]
    gone: dict[str, list[Any]] = {
        "directory_departments": [
            (i, "", "", "", "", "", 1, version) for i in present["directory_departments"] - set(index.departments)
        ],
        "directory_staff": [(i, "", "", [], "", "", 1, version) for i in present["directory_staff"] - set(index.staff)],
        "directory_bureaus": [(i, "", "", [], 1, version) for i in present["directory_bureaus"] - set(index.bureaus)],
    }
    cols = {
        "directory_departments": "(id, name, region_code, parent, head, bureau, deleted, version)",
        "directory_staff": "(id, name, department, roles, email, mobile, deleted, version)",
        "directory_bureaus": "(id, name, region_code, staff, deleted, version)",
    }
    rows: dict[str, list[Any]] = {
        "directory_departments": depts,
        "directory_staff": staff,
        "directory_bureaus": bureaus,
    }
    written = 0
    for table in TABLES:
        batch = rows[table] + gone[table]
        if batch:
            client.execute(f"INSERT INTO {table} {cols[table]} VALUES", batch)
            written += len(batch)
    return written


def names(client: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Department id → name and staff id → name, empty when the directory was never loaded."""
    depts = client.execute("SELECT id, name FROM directory_departments FINAL WHERE deleted = 0")
    staff = client.execute("SELECT id, name FROM directory_staff FINAL WHERE deleted = 0")
    return {str(i): str(n) for i, n in depts}, {str(i): str(n) for i, n in staff}
