"""A what-if from start to end: read the window from ClickHouse, replay it under the baseline and the proposed
configuration, check the baseline against the live findings, compare, score, and assemble the report."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from schemas.catalog import Catalog
from schemas.config import RuleConfig
from schemas.scoring import ScoringModel
from streams.rules import Context, WorkCalendar
from whatif import shadow, source
from whatif.diff import Changes, compare, consistency
from whatif.model import Finished
from whatif.report import Side, findings_section, scenario_side, scores_section
from whatif.schedule import SideSchedule
from whatif.scores import Score, month_of, region_prefix
from whatif.source import Window


@dataclass(frozen=True)
class Configuration:
    """What the rules and the scores run with, and where each part came from (file and its content hash)."""

    catalog: Catalog
    rules: RuleConfig
    calendar: WorkCalendar
    scoring: ScoringModel
    sources: dict[str, str] = field(default_factory=dict)  # part → "built-in", "live catalog topic" or "file sha256:…"
    # The rules and calendars adopted from moments over the parts above (whatif/schedule.py): each step is
    # judged under the configuration in effect at its moment, as the workers judge it.
    schedule: SideSchedule = field(default_factory=lambda: SideSchedule("none"))

    def context(self) -> Context:
        """The rules engine's start context of this configuration (before any adoption)."""
        return Context.build(self.calendar, self.catalog, self.rules)


def changed_parts(base: Configuration, new: Configuration) -> list[str]:
    """The parts the proposal changes: a file of another content, or ("schedule") other adoptions."""
    parts = {k for k in new.sources if new.sources[k] != base.sources.get(k)}
    if new.schedule.signature() != base.schedule.signature():
        parts.add("schedule")
    return sorted(parts)


def content_version(path: Path) -> str:
    """A configuration file's version: the SHA-256 of its bytes (what `esup rules adopt` records)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def described(path: Path) -> str:
    """How a report names a configuration file: its name and content hash."""
    return f"{path.name} sha256:{content_version(path)}"


@dataclass
class Result:
    """The report, and what `--store` writes beside it."""

    report: dict[str, Any]
    changes: Changes
    scores: dict[str, dict[tuple[str, date, str], tuple[Score | None, Score | None]]]


def _within(rows: list[Finished], cases: set[str], months: list[date], region: str) -> set[Finished]:
    p = region_prefix(region)
    return {c for c in rows if c.case_id in cases and month_of(c.day) in months and c.region_code.startswith(p)}


def whatif(
    client: Any,
    window: Window,
    base: Configuration,
    new: Configuration,
    *,
    jobs: int = 1,
    at: datetime | None = None,
) -> Result:
    """Run the what-if of ``new`` against ``base`` over ``window`` (timers to ``at``, default the latest event)."""
    until = at or source.latest_event_at(client)
    if until is None:
        raise LookupError("no case events recorded: nothing to re-evaluate")
    with tempfile.TemporaryDirectory(prefix="esup-whatif-") as tmp:
        events = Path(tmp) / "events.jsonl"
        n_events, cases = source.write_events(client, window, events)
        base_ctx, new_ctx = base.context(), new.context()
        before = shadow.run(events, base_ctx, until, jobs, base.schedule.timeline(base_ctx))
        after = shadow.run(events, new_ctx, until, jobs, new.schedule.timeline(new_ctx))
    live = source.live_findings(client, window)
    check = consistency(live, before.findings)
    changes = compare(before.findings, after.findings)
    months = window.months()
    regions: dict[str, tuple[Side, Side]] = {}
    decisions: dict[str, str] = {}
    finished_differ = 0
    for region in source.regions_of(client, window):
        got = source.score_inputs(client, window, base.scoring, region)
        decisions.update(got.decisions)
        live_side = Side(base.scoring, base.calendar, got.findings, got.finished, got.late_findings)
        if new.scoring != base.scoring:  # another model may count other outcomes or another late category
            got = source.score_inputs(client, window, new.scoring, region)
        scen_live = Side(new.scoring, new.calendar, got.findings, got.finished, got.late_findings)
        regions[region] = (
            live_side,
            scenario_side(scen_live, new.scoring, new.calendar, cases, after.findings, after.finished(new.scoring)),
        )
        replayed = _within(before.finished(base.scoring), cases, months, region)
        finished_differ += len(replayed ^ _within(live_side.finished, cases, months, region))
    check["finished_cases_differ"] = finished_differ
    check["ok"] = bool(check["ok"]) and finished_differ == 0
    scores, table = scores_section(regions, months, decisions)
    report = {
        "window": {
            "from": window.start.isoformat(),
            "to": window.end.isoformat(),
            "region": window.region,
            "timers_run_to": until.isoformat(),
            "cases": len(cases),
            "events": n_events,
            "events_refused_by_the_contract": before.rejected,
        },
        "configuration": {
            "baseline": dict(sorted(base.sources.items())),
            "scenario": dict(sorted(new.sources.items())),
            "changed": changed_parts(base, new),
        },
        "schedule": {"baseline": base.schedule.describe(base_ctx), "scenario": new.schedule.describe(new_ctx)},
        "check": check,
        "findings": findings_section(changes, len(before.findings), len(after.findings)),
        "scores": scores,
    }
    return Result(report, changes, table)
