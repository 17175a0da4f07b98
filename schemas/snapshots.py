"""Case snapshots: the current stage, deadlines and responsibility of one case, kept current on a topic."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict


class ClockView(BaseModel):
    """One clock of a case as shown: deadlines, working days used of its limit, extension, suspended or stopped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # accept, review, decision, delivery
    start: str  # ISO date; the start day is not counted
    deadline: AwareDatetime | None  # statutory, with extension and suspensions; None while suspended
    promised_deadline: AwareDatetime | None
    working_days_used: int
    limit_wd: int
    extension_wd: int
    suspended: bool
    stopped: bool


class CaseSnapshot(BaseModel):
    """A case as of ``as_of``: stage, outcome, clocks, next due moment and who is responsible."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: str
    item_code: str
    department_id: str
    region_code: str
    responsible_staff: str
    first_staff: str
    stage: str
    outcome: str | None
    open: bool
    deemed_accepted: bool
    clocks: list[ClockView]
    next_due: AwareDatetime | None
    last_event_at: AwareDatetime | None
    as_of: AwareDatetime
    provisional: bool
    calendar_version: str
    version: int  # monotonic per case (ReplacingMergeTree version)
