"""What the API needs of the organisation directory (a Protocol), and a minimal YAML implementation for tests.

The directory package (departments, staff with roles, bureaus) is built elsewhere; anything with these two
lookups can be passed to the API instead of :class:`YamlDirectory`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from schemas.yamlfile import DATA_MAX_BYTES, load_mapping


class Staff(BaseModel):
    """A staff member: which department, which role."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    staff_id: str
    department_id: str
    role: str = "handler"
    name: str | None = None


class Department(BaseModel):
    """A department: its region code and its head."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    department_id: str
    region_code: str = Field(pattern=r"^\d{6}$")
    head_staff_id: str | None = None
    name: str | None = None


class Accountable(BaseModel):
    """Who answers for a finding (责任追究): the responsible staff, the department and its head, by id and name."""

    model_config = ConfigDict(frozen=True)

    staff_id: str
    staff_name: str | None = None
    department_id: str
    department_name: str | None = None
    head_staff_id: str | None = None
    head_name: str | None = None


class Directory(Protocol):
    """Who is staff X, which department and region, who heads it."""

    def staff(self, staff_id: str) -> Staff | None:
        """The staff member with this id, or None."""

    def department(self, department_id: str) -> Department | None:
        """The department with this id, or None."""


class YamlDirectory:
    """departments: [{department_id, region_code, head_staff_id}], staff: [{staff_id, department_id, role}]; or
    the organisation directory's YAML (directory/model.py: departments with id and head, staff with roles)."""

    def __init__(self, departments: list[Department], staff: list[Staff]) -> None:
        self._departments = {d.department_id: d for d in departments}
        self._staff = {s.staff_id: s for s in staff}

    @classmethod
    def load(cls, path: str | Path) -> YamlDirectory:
        """Read a directory YAML file in either of the two formats."""
        data = load_mapping(path, max_bytes=DATA_MAX_BYTES)  # bounded: size, nesting, aliases
        if any("id" in d for d in data.get("departments", [])):  # the organisation directory's own format
            data = {
                "departments": [
                    {
                        "department_id": d["id"],
                        "region_code": d["region_code"],
                        "head_staff_id": d.get("head"),
                        "name": d.get("name"),
                    }
                    for d in data["departments"]
                ],
                "staff": [
                    {
                        "staff_id": s["id"],
                        "department_id": s["department"],
                        "role": s["roles"][0],
                        "name": s.get("name"),
                    }
                    for s in data.get("staff", [])
                ],
            }
        return cls(
            [Department.model_validate(d) for d in data.get("departments", [])],
            [Staff.model_validate(s) for s in data.get("staff", [])],
        )

    def staff(self, staff_id: str) -> Staff | None:
        """The staff member with this id, or None."""
        return self._staff.get(staff_id)

    def department(self, department_id: str) -> Department | None:
        """The department with this id, or None."""
        return self._departments.get(department_id)


def accountable(directory: Directory | None, staff_id: str, department_id: str) -> Accountable:
    """The finding's responsible staff, department and head with their names from the directory (None: unknown)."""
    staff = directory.staff(staff_id) if directory and staff_id else None
    dept = directory.department(department_id) if directory and department_id else None
    head_id = dept.head_staff_id if dept else None
    head = directory.staff(head_id) if directory and head_id else None
    return Accountable(
        staff_id=staff_id,
        staff_name=staff.name if staff else None,
        department_id=department_id,
        department_name=dept.name if dept else None,
        head_staff_id=head_id,
        head_name=head.name if head else None,
    )
