"""Findings before and after a change, compared by id, and the changes broken down by rule, department and staff."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from whatif.model import FindingRow

EXAMPLES = 3  # examples per group and side in a report


@dataclass
class Changes:
    """Findings only after (added), only before (removed), and with the same id but other content (changed)."""

    added: list[FindingRow] = field(default_factory=list)
    removed: list[FindingRow] = field(default_factory=list)
    changed: list[tuple[FindingRow, FindingRow]] = field(default_factory=list)  # (before, after)

    @property
    def empty(self) -> bool:
        """Nothing added, removed or changed."""
        return not (self.added or self.removed or self.changed)


def _by_id(rows: Iterable[FindingRow], side: str) -> dict[str, FindingRow]:
    out: dict[str, FindingRow] = {}
    for r in rows:
        if r.finding_id in out and out[r.finding_id] != r:
            raise ValueError(f"{side}: finding {r.finding_id} appears twice with different content")
        out[r.finding_id] = r
    return out


def compare(before: Iterable[FindingRow], after: Iterable[FindingRow]) -> Changes:
    """The changes from ``before`` to ``after``, each list sorted by finding id."""
    b, a = _by_id(before, "before"), _by_id(after, "after")
    return Changes(
        added=[a[i] for i in sorted(a.keys() - b.keys())],
        removed=[b[i] for i in sorted(b.keys() - a.keys())],
        changed=[(b[i], a[i]) for i in sorted(a.keys() & b.keys()) if a[i].content() != b[i].content()],
    )


GROUPINGS: dict[str, Callable[[FindingRow], str]] = {
    "rule": lambda r: r.rule,
    "department": lambda r: r.department_id,
    "staff": lambda r: r.staff_id,
}


def breakdown(changes: Changes, key: Callable[[FindingRow], str], examples: int = EXAMPLES) -> list[dict[str, Any]]:
    """One entry per group with a change: counts and a few examples of each side, the largest groups first.

    A changed finding is counted under its group after the change (a finding moved to another staff member
    is counted as changed there)."""
    groups: dict[str, dict[str, list[FindingRow]]] = defaultdict(lambda: {"added": [], "removed": [], "changed": []})
    for r in changes.added:
        groups[key(r)]["added"].append(r)
    for r in changes.removed:
        groups[key(r)]["removed"].append(r)
    for _, after in changes.changed:
        groups[key(after)]["changed"].append(after)
    out: list[dict[str, Any]] = []
    for name, sides in groups.items():
        n = {side: len(rows) for side, rows in sides.items()}
        out.append(
            {
                "key": name,
                **n,
                "net": n["added"] - n["removed"],
                "examples": {side: [r.example() for r in rows[:examples]] for side, rows in sides.items() if rows},
            }
        )
    out.sort(key=lambda g: (-(int(g["added"]) + int(g["removed"]) + int(g["changed"])), str(g["key"])))
    return out


def consistency(live: Iterable[FindingRow], replayed: Iterable[FindingRow], limit: int = 20) -> dict[str, Any]:
    """Does the baseline replay equal the live findings id for id (and in content)? Differences are listed."""
    c = compare(live, replayed)
    return {
        "ok": c.empty,
        "only_live": len(c.removed),
        "only_replay": len(c.added),
        "content_differs": len(c.changed),
        "examples": {
            "only_live": [r.example() for r in c.removed[:limit]],
            "only_replay": [r.example() for r in c.added[:limit]],
            "content_differs": [{"live": b.example(), "replay": a.example()} for b, a in c.changed[:limit]],
        },
    }
