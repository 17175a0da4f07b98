"""Per-case state: small, plain and JSON-serialisable, so it can live in a changelog-backed table.

Dates are stored, never computed deadlines: a deadline is derived from the clock's start, its limits
and suspensions with whatever calendar is loaded, so loading a newly published calendar recomputes
every open case's deadlines without touching the state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

# Stages of a licensing case, in the order the law expects them.
NEW, APPLIED, ACCEPTED, REVIEWED, DECIDED, CONCLUDED = range(6)
STAGE_NAMES = ("new", "applied", "accepted", "reviewed", "decided", "concluded")


@dataclass
class Suspension:
    """A special procedure's time out of a clock (art. 45): the days it began and ended (None while on), its event."""

    start: date
    end: date | None
    event_id: str


@dataclass
class Clock:
    """One legal period: acceptance, preliminary review, decision or certificate delivery."""

    key: str  # name and generation, e.g. "accept#2" after a supplement restarted it
    name: str
    start: date
    statutory: int
    promised: int | None = None  # only set when stricter than the statutory limit
    max_extension: int = 0
    extension: int = 0
    extensions: int = 0
    deemed_basis: str | None = None  # decision clock of an item with 超时默认
    suspensions: list[Suspension] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    stopped: bool = False
    stopped_on: date | None = None  # the day it stopped: working days used stop counting there

    def stop(self, day: date) -> None:
        """Stop the clock on ``day`` (its stage is done); a clock stops once, and later calls keep the first day."""
        if not self.stopped:
            self.stopped = True
            self.stopped_on = day

    @property
    def suspended(self) -> bool:
        """Whether a special procedure is running on this clock (its last suspension has no end yet)."""
        return bool(self.suspensions) and self.suspensions[-1].end is None


@dataclass
class CaseState:
    """What the rules remember of one case between events: stage, responsibility, clocks, events seen, rules flagged."""

    case_id: str
    item_code: str
    department_id: str
    region_code: str
    responsible_staff: str
    first_staff: str
    stage: int = NEW
    outcome: str | None = None  # granted, refused, not_accepted, withdrawn, deemed_approved, out_of_scope
    deemed_accepted: bool = False
    delivered: bool = False
    referred: bool = False
    inquiry: bool = False
    supplement_notices: int = 0
    open_suspensions: int = 0  # lawful special procedures running (art. 45); they may overlap
    awaiting_supplement: bool = False
    materials: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    fee_codes: list[str] = field(default_factory=list)
    clocks: dict[str, Clock] = field(default_factory=dict)  # by name: the current generation
    generations: dict[str, int] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)  # event id -> content digest, in order applied
    stage_events: list[str] = field(default_factory=list)  # ids of the stage-changing events
    flagged: list[str] = field(default_factory=list)  # one-off rules already raised on this case
    # Departments that may write this case: its first event's, and each one a `refer` handed it to (a case
    # is bound to its department: another department's event on it is refused, see integrity.foreign_department).
    holders: list[str] = field(default_factory=list)
    applicant_id: str | None = None  # from the application: the cross-case withdraw-and-reapply check needs it
    applied_at: datetime | None = None  # the application's occurred_at and recorded_at (off-system checks)
    apply_recorded_at: datetime | None = None
    # Back-dated events not yet known to form a batch: [recorded_at ISO, event id], at most BATCH_LIMIT.
    backdated: list[list[str]] = field(default_factory=list)
    last_event_at: datetime | None = None
    seq: int = 0  # bumped on every change: the snapshot's version for idempotent sinks

    @property
    def closed(self) -> bool:
        """Whether the case is concluded (办结)."""
        return self.stage == CONCLUDED

    def active_clocks(self) -> list[Clock]:
        """The clocks still running (suspended or not)."""
        return [c for c in self.clocks.values() if not c.stopped]

    # ---- serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The state as plain JSON values (dates as ISO strings); :meth:`from_dict` reads it back."""
        # Hand-written rather than dataclasses.asdict, which deep-copies every string: this runs on every
        # state write of every worker, and asdict made it the single largest cost per event.
        d = {f: getattr(self, f) for f in _STATE_SCALARS}
        for f in _STATE_LISTS:
            d[f] = list(getattr(self, f))
        d["generations"] = dict(self.generations)
        d["seen"] = dict(self.seen)
        d["clocks"] = {name: _clock_dict(c) for name, c in self.clocks.items()}
        for f in _STATE_TIMES:
            v = getattr(self, f)
            d[f] = v.isoformat() if v else None
        d["backdated"] = [list(p) for p in self.backdated]
        return d

    def to_json(self) -> str:
        """The state as compact JSON with sorted keys."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseState:
        """The state from :meth:`to_dict`'s output, also as written before ``seen`` kept digests (a list of ids)."""
        d = dict(data)
        clocks = {}
        for name, c in d.pop("clocks", {}).items():
            c = dict(c)
            c["start"] = date.fromisoformat(c["start"])
            c["stopped_on"] = date.fromisoformat(c["stopped_on"]) if c.get("stopped_on") else None
            c["suspensions"] = [
                Suspension(
                    start=date.fromisoformat(s["start"]),
                    end=date.fromisoformat(s["end"]) if s["end"] else None,
                    event_id=s["event_id"],
                )
                for s in c.get("suspensions", [])
            ]
            clocks[name] = Clock(**c)
        for f in _STATE_TIMES:
            v = d.pop(f, None)
            d[f] = datetime.fromisoformat(v) if v else None
        seen = d.pop("seen", {})
        if isinstance(seen, list):  # written before digests were kept: ids only
            seen = dict.fromkeys(seen, "")
        return cls(**d, seen=seen, clocks=clocks)

    @classmethod
    def from_json(cls, text: str | bytes) -> CaseState:
        """The state from :meth:`to_json`'s output."""
        return cls.from_dict(json.loads(text))


def _clock_dict(c: Clock) -> dict[str, Any]:
    d = {f: getattr(c, f) for f in _CLOCK_SCALARS}
    d["start"] = c.start.isoformat()
    d["stopped_on"] = c.stopped_on.isoformat() if c.stopped_on else None
    d["evidence"] = list(c.evidence)
    d["fired"] = list(c.fired)
    d["suspensions"] = [
        {"start": x.start.isoformat(), "end": x.end.isoformat() if x.end else None, "event_id": x.event_id}
        for x in c.suspensions
    ]
    return d


_STATE_LISTS = ("materials", "conditions", "reviewers", "fee_codes", "stage_events", "flagged", "holders")
_STATE_TIMES = ("applied_at", "apply_recorded_at", "last_event_at")
_STATE_SCALARS = tuple(
    f.name
    for f in fields(CaseState)
    if f.name not in {*_STATE_LISTS, *_STATE_TIMES, "backdated", "generations", "seen", "clocks"}
)
_CLOCK_SCALARS = tuple(
    f.name for f in fields(Clock) if f.name not in {"start", "stopped_on", "evidence", "fired", "suspensions"}
)
