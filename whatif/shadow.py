"""One shadow evaluation: the window's events through the replay path (streams.replay, as `esup evaluate
--jobs N`) under one configuration, kept as the rows a what-if compares and scores. Nothing is published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from schemas.findings import Finding
from schemas.scoring import ScoringModel
from sinks.rows import Record, snapshot_row
from streams.replay import replay
from streams.rules import Context
from streams.rules.evaluate import Timeline
from whatif.model import BEIJING, UNREPLAYABLE, FindingRow, Finished, moment_text


@dataclass
class Shadow:
    """A replay's findings (the rules it can judge) and its finished cases, as the sink would store them."""

    findings: list[FindingRow]
    snapshots: list[dict[str, object]]
    rejected: int
    events: int

    def finished(self, model: ScoringModel) -> list[Finished]:
        """The finished cases as sinks.scoring.case_facts_sql picks them from case_snapshots."""
        out = []
        for s in self.snapshots:
            deadline, last = s["decision_deadline"], s["last_event_at"]
            if s["open"] or not isinstance(deadline, datetime) or not isinstance(last, datetime):
                continue
            if s["outcome"] not in model.finished_outcomes:
                continue
            out.append(
                Finished(
                    str(s["case_id"]),
                    str(s["department_id"]),
                    str(s["responsible_staff"]),
                    str(s["region_code"]),
                    moment_text(last),
                    deadline.astimezone(BEIJING).date(),
                )
            )
        return sorted(out)


def run(events: Path, ctx: Context, at: datetime, jobs: int, timeline: Timeline | None = None) -> Shadow:
    """Evaluate ``events`` with ``ctx``, timers run to ``at``, over ``jobs`` processes; ``timeline``: the
    configurations adopted from moments over ``ctx`` (each step judged under the one in effect at its moment)."""
    done = replay(events, ctx, at, jobs, snapshots=True, timeline=timeline)
    findings = []
    for line in done.lines:
        f = Finding.model_validate_json(line)
        if f.rule not in UNREPLAYABLE:
            findings.append(FindingRow.of(f))
    snapshots = []
    for text in done.snapshots:
        converted = snapshot_row(Record("replay", 0, 0, 0, None, text.encode()))
        if converted.row is None:  # our own snapshot: cannot happen unless the contract broke
            raise RuntimeError(f"replayed snapshot refused: {converted.invalid}")
        snapshots.append(converted.row)
    return Shadow(sorted(findings), snapshots, len(done.rejected), done.events)
