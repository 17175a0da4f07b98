"""The ground truth: one expected finding per line (case, rule, responsible staff; for timers when, and the
deadline), and for the loop one line per supervised finding (sim/responses.py): what its messages must cause."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

_CATEGORIES = (
    ("TIME_", "time"),
    ("FEE_", "fee"),
    ("PROC_", "procedure"),
    ("COND_", "condition"),
    ("FIRST_INQUIRY_", "first_inquiry"),
    ("DQ_", "data_quality"),
)


def category(rule: str) -> str:
    """The finding category of ``rule``, by its prefix (ValueError when none matches)."""
    for prefix, name in _CATEGORIES:
        if rule.startswith(prefix):
            return name
    raise ValueError(f"no category for rule {rule}")


@dataclass(frozen=True)
class Expected:
    """One finding the platform must raise: case, rule, responsible staff, the violation behind it; timers' moments."""

    case_id: str
    rule: str
    staff_id: str
    violation: str  # the injected violation kind that causes it
    event_id: str | None = None  # the event that raises it (event findings)
    detected_at: datetime | None = None  # timer findings: 24:00 of the day reached (or the extension's moment)
    deadline: date | None = None  # the last day of the limit
    provisional: bool = False

    @property
    def category(self) -> str:
        """The finding category of the rule (time, fee, procedure, condition, first_inquiry, data_quality)."""
        return category(self.rule)

    def key(self) -> tuple[str, str, str]:
        """What the finding is matched on: (case id, rule, staff)."""
        return (self.case_id, self.rule, self.staff_id)

    def to_json(self) -> str:
        """One truth.jsonl line: every field (dates in ISO form) and the category, keys sorted."""
        d: dict[str, Any] = {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in asdict(self).items()}
        d["category"] = self.category
        return json.dumps(d, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Expected:
        """An expected finding from a parsed truth.jsonl line."""
        detected = datetime.fromisoformat(d["detected_at"]) if d.get("detected_at") else None
        deadline = date.fromisoformat(d["deadline"]) if d.get("deadline") else None
        return cls(
            d["case_id"],
            d["rule"],
            d["staff_id"],
            d["violation"],
            d.get("event_id"),
            detected,
            deadline,
            bool(d.get("provisional", False)),
        )


def sort_key(e: Expected) -> tuple[str, str, str, str]:
    """The order of truth.jsonl: case, rule, evidence event, then detection moment."""
    return (e.case_id, e.rule, e.event_id or "", e.detected_at.isoformat() if e.detected_at else "")


def write_truth(path: Path, expected: Iterable[Expected]) -> int:
    """Write the expected findings to ``path`` as truth.jsonl, sorted; returns how many."""
    rows = sorted(expected, key=sort_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(e.to_json() + "\n" for e in rows), encoding="utf-8")
    return len(rows)


def read_truth(path: Path) -> list[Expected]:
    """The expected findings of a truth.jsonl file."""
    with path.open(encoding="utf-8") as fh:
        return [Expected.from_dict(json.loads(line)) for line in fh if line.strip()]


def keys(rows: Iterable[Expected]) -> Counter[tuple[str, str, str]]:
    """The multiset of (case id, rule, staff) that findings must equal."""
    return Counter(e.key() for e in rows)


@dataclass(frozen=True)
class LoopExpected:
    """What must follow from one finding's messages by ``at``: supervision findings and decisions."""

    finding_id: str
    case_id: str
    department_id: str
    staff_id: str
    behaviour: str  # on_time | late | missing
    story: str  # appeal_accepted | appeal_refused | explained | reminder_talk | recommendation_done | …
    supervision: list[tuple[str, str]] = field(default_factory=list)  # (rule, ISO moment it fires)
    measures: list[tuple[str, str, str]] = field(default_factory=list)  # (measure, target kind, target id)
    status: str = "pending"  # the latest decision's outcome, or pending

    def to_json(self) -> str:
        """One loop_truth.jsonl line, keys sorted."""
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopExpected:
        """A loop expectation from a parsed loop_truth.jsonl line (its pairs and triples as tuples again)."""
        return cls(
            **{**d, "supervision": [tuple(x) for x in d["supervision"]], "measures": [tuple(x) for x in d["measures"]]}
        )


def write_loop_truth(path: Path, expected: Iterable[LoopExpected]) -> int:
    """Write the loop's expectations to ``path`` as loop_truth.jsonl, by finding id; returns how many."""
    rows = sorted(expected, key=lambda e: e.finding_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(e.to_json() + "\n" for e in rows), encoding="utf-8")
    return len(rows)


def read_loop_truth(path: Path) -> list[LoopExpected]:
    """The loop's expectations of a loop_truth.jsonl file."""
    with path.open(encoding="utf-8") as fh:
        return [LoopExpected.from_dict(json.loads(line)) for line in fh if line.strip()]
