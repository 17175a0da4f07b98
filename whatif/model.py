"""The plain rows a what-if compares: findings and finished cases, the same whether read from ClickHouse or replayed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from schemas.findings import Finding

BEIJING = ZoneInfo("Asia/Shanghai")

# Rules the replay cannot judge from the stored events: the broker's receipt time is not stored, and the
# events table keeps one version of a resent event id. Their live findings are kept as they are on both sides.
UNREPLAYABLE = frozenset({"DQ_AHEAD_OF_RECEIPT", "DQ_CONFLICTING_RESEND"})


def moment_text(moment: datetime) -> str:
    """A moment as ClickHouse's DateTime('Asia/Shanghai') holds it: Beijing time, to the second."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def epoch_text(seconds: int) -> str:
    """An epoch second (toUInt32 of a DateTime) as :func:`moment_text` writes it."""
    return moment_text(datetime.fromtimestamp(seconds, BEIJING))


@dataclass(frozen=True, order=True)
class FindingRow:
    """A finding as far as the what-if compares and scores it (times in Beijing, to the second)."""

    finding_id: str
    case_id: str
    rule: str
    category: str
    severity: str
    staff_id: str
    department_id: str
    region_code: str
    detected_at: str  # "YYYY-MM-DD HH:MM:SS", Beijing
    deadline: str  # the same, or "" when none

    @classmethod
    def of(cls, f: Finding) -> FindingRow:
        """The row of a finding the rules engine produced."""
        return cls(
            f.finding_id,
            f.case_id,
            f.rule,
            f.category.value,
            f.severity.value,
            f.staff_id,
            f.department_id,
            f.region_code,
            moment_text(f.detected_at),
            moment_text(f.deadline) if f.deadline is not None else "",
        )

    def content(self) -> tuple[str, ...]:
        """What must match for the same id to be the same finding."""
        return (self.rule, self.severity, self.staff_id, self.department_id, self.detected_at, self.deadline)

    def example(self) -> dict[str, str]:
        """A short description for a report's examples."""
        return {
            "finding_id": self.finding_id,
            "case_id": self.case_id,
            "rule": self.rule,
            "severity": self.severity,
            "staff_id": self.staff_id,
            "department_id": self.department_id,
            "detected_at": self.detected_at,
        }

    @property
    def day(self) -> date:
        """The Beijing day it was detected on."""
        return date.fromisoformat(self.detected_at[:10])


@dataclass(frozen=True, order=True)
class Finished:
    """A finished case as the scores count it (sinks.scoring.case_facts_sql): who, where, when, its deadline."""

    case_id: str
    department_id: str
    staff_id: str
    region_code: str
    finished_at: str  # "YYYY-MM-DD HH:MM:SS", Beijing: the last event
    deadline_day: date  # the statutory decision deadline's day

    @property
    def day(self) -> date:
        """The Beijing day it finished on."""
        return date.fromisoformat(self.finished_at[:10])
