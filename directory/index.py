"""Lookups on a directory: names, heads and bureaus, and who answers for a finding (责任追究)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from directory.model import Bureau, Department, Directory, Staff


@dataclass(frozen=True)
class Accountable:
    """Who answers for a finding, resolved when it is notified; names fall back to ids when unknown."""

    staff_id: str
    staff_name: str
    department_id: str
    department_name: str
    head_id: str  # "" when the department has no head in the directory
    head_name: str
    bureau_id: str
    bureau_name: str
    bureau_staff: tuple[str, ...] = ()


class DirectoryIndex:
    """Entries by id; built from a validated Directory or, live, from whatever entries the topic holds."""

    def __init__(
        self,
        departments: Iterable[Department] = (),
        staff: Iterable[Staff] = (),
        bureaus: Iterable[Bureau] = (),
        version: str = "",
    ) -> None:
        self.departments = {d.id: d for d in departments}
        self.staff = {s.id: s for s in staff}
        self.bureaus = {b.id: b for b in bureaus}
        self.version = version

    @classmethod
    def of(cls, directory: Directory) -> DirectoryIndex:
        """The index of a validated directory."""
        return cls(directory.departments, directory.staff, directory.bureaus, directory.version)

    def __len__(self) -> int:
        return len(self.departments) + len(self.staff) + len(self.bureaus)

    def staff_name(self, staff_id: str) -> str:
        """The staff member's name, or the id when the directory does not know it."""
        s = self.staff.get(staff_id)
        return s.name if s else staff_id

    def department_name(self, department_id: str) -> str:
        """The department's name, or the id when the directory does not know it."""
        d = self.departments.get(department_id)
        return d.name if d else department_id

    def accountable(self, staff_id: str, department_id: str) -> Accountable:
        """Who answers for a finding (责任追究): the staff member, the department's head and its supervising bureau."""
        dept = self.departments.get(department_id)
        head = dept.head if dept and dept.head else ""
        bureau = self.bureaus.get(dept.bureau) if dept and dept.bureau else None
        return Accountable(
            staff_id=staff_id,
            staff_name=self.staff_name(staff_id),
            department_id=department_id,
            department_name=self.department_name(department_id),
            head_id=head,
            head_name=self.staff_name(head) if head else "",
            bureau_id=bureau.id if bureau else "",
            bureau_name=bureau.name if bureau else "",
            bureau_staff=tuple(bureau.staff) if bureau else (),
        )
