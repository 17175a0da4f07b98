"""The directory's YAML model, validated by pydantic: every reference (department, head, bureau) must resolve."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.yamlfile import DATA_MAX_BYTES, YamlFileError, load_yaml


class Role(StrEnum):
    """A staff member's role in licensing (窗口受理, 承办, 审核, 批准, 负责人) or in supervision (监察室)."""

    window_clerk = "window_clerk"  # 窗口受理
    handler = "handler"  # 承办
    reviewer = "reviewer"  # 审核
    approver = "approver"  # 批准
    head = "head"  # 负责人
    supervisor = "supervisor"  # 监察室 (a supervision bureau's staff)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Staff(_Strict):
    """A staff member: name, department (or bureau, for supervisors), roles, and the email and mobile for notices."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    department: str = Field(min_length=1, description="a department id, or a bureau id for its supervisors")
    roles: list[Role] = Field(min_length=1)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    mobile: str | None = Field(default=None, pattern=r"^\+?\d{6,15}$")


class Department(_Strict):
    """A licensing department: name, region, parent, its head (负责人) and the bureau that supervises it."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    region_code: str = Field(pattern=r"^\d{6}$")
    parent: str | None = None
    head: str | None = Field(default=None, description="staff id of the head (负责人)")
    bureau: str | None = Field(default=None, description="id of the supervising bureau (监察机关)")


class Bureau(_Strict):
    """A supervision bureau (监察机关): its region and the staff who receive its notices."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    region_code: str = Field(pattern=r"^\d{6}$")
    staff: list[str] = Field(default_factory=list, description="staff ids who receive its notices")


class Directory(_Strict):
    """The whole directory of departments, staff and bureaus; ids are unique and every reference resolves."""

    version: str = "1"
    departments: list[Department] = Field(default_factory=list)
    staff: list[Staff] = Field(default_factory=list)
    bureaus: list[Bureau] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Directory:
        for what, ids in (
            ("department", [d.id for d in self.departments]),
            ("staff", [s.id for s in self.staff]),
            ("bureau", [b.id for b in self.bureaus]),
        ):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"duplicate {what} ids: {', '.join(dup[:5])}")
        depts = {d.id for d in self.departments}
        bureaus = {b.id for b in self.bureaus}
        staff = {s.id: s for s in self.staff}
        for s in self.staff:
            if s.department not in depts and s.department not in bureaus:
                raise ValueError(f"staff {s.id}: unknown department {s.department}")
        for d in self.departments:
            if d.parent is not None and d.parent not in depts:
                raise ValueError(f"department {d.id}: unknown parent {d.parent}")
            if d.bureau is not None and d.bureau not in bureaus:
                raise ValueError(f"department {d.id}: unknown bureau {d.bureau}")
            if d.head is not None:
                if d.head not in staff:
                    raise ValueError(f"department {d.id}: unknown head {d.head}")
                if staff[d.head].department != d.id:
                    raise ValueError(f"department {d.id}: head {d.head} belongs to {staff[d.head].department}")
        for b in self.bureaus:
            missing = [s for s in b.staff if s not in staff]
            if missing:
                raise ValueError(f"bureau {b.id}: unknown staff {', '.join(missing)}")
        return self


class DirectoryError(ValueError):
    """A directory that cannot be used; the message names the source and each bad entry or field."""

    pass


def parse_directory(data: Any, source: str = "<directory>") -> Directory:
    """Validate a decoded directory mapping; raises :class:`DirectoryError` naming ``source`` and each bad field."""
    if not isinstance(data, dict):
        raise DirectoryError(f"{source}: expected a mapping with departments, staff and bureaus")
    try:
        return Directory.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise DirectoryError(f"{source}: " + "; ".join(lines)) from None


def load_directory(path: str | Path) -> Directory:
    """Read and validate a directory YAML file; errors name the entry and field."""
    try:
        data = load_yaml(path, max_bytes=DATA_MAX_BYTES)
    except YamlFileError as exc:
        raise DirectoryError(str(exc)) from None
    return parse_directory(data, source=str(path))


def dump_directory(directory: Directory, path: Path) -> Path:
    """Write the directory as YAML to ``path``, empty fields left out; returns the path."""
    doc = directory.model_dump(mode="json", exclude_none=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    return path
