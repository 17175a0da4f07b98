"""Findings: what the supervision rules detect, with their evidence and a deterministic id."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

FINDING_SCHEMA_VERSION = 1

# Fixed namespace: the same (case, rule, occurrence) always hashes to the same finding id,
# so replays, restarts and a second worker never produce a second row for one finding.
_FINDING_NS = uuid.UUID("6b1c0f0e-3c1e-5a52-9f3e-6573757031a1")


class Category(StrEnum):
    """The kind of rule a finding comes from (time limit, fee, procedure…); scoring counts each under one heading."""

    time = "time"
    fee = "fee"
    procedure = "procedure"
    condition = "condition"
    first_inquiry = "first_inquiry"
    data_quality = "data_quality"
    supervision = "supervision"  # the loop: a response or a recommendation's report overdue (docs/loop.md)
    # Complaints (docs/complaints.md): handling cards (dispatch, reply, extensions, second unsatisfied
    # evaluation); the citizen's final dissatisfaction; substantiated complaints on attitude or efficiency, and
    # on fees or misconduct (吃拿卡要).
    complaint_handling = "complaint_handling"
    satisfaction = "satisfaction"
    attitude = "attitude"
    integrity = "integrity"


class Severity(StrEnum):
    """A finding's warning level: notice (预警), yellow card (黄牌) or red card (红牌)."""

    notice = "notice"  # 预警
    yellow = "yellow"  # 黄牌
    red = "red"  # 红牌


SEVERITY_RANK = {Severity.notice: 1, Severity.yellow: 2, Severity.red: 3}


def finding_id(case_id: str, rule: str, occurrence: str) -> str:
    """The finding's deterministic id, a UUIDv5 of case, rule and occurrence: a replay gives the same id."""
    # Each part length-prefixed: no id, whatever characters it holds, can make two triples hash alike
    # (with a separator, case "A\x1fR" and rule "X" collided with case "A" and rule "R\x1fX").
    return str(uuid.uuid5(_FINDING_NS, "".join(f"{len(part)}:{part}" for part in (case_id, rule, occurrence))))


class ChainLink(BaseModel):
    """Where a finding sits in its partition's tamper-evident chain (streams/chain.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partition: int = Field(ge=0)
    seq: int = Field(ge=1, description="the entry's number in the partition's chain: the finding's revision")
    prev: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    content: str = Field(
        pattern=r"^(v[0-9]{1,3}:)?[0-9a-f]{64}$",
        description="hash of the finding's content, `vN:` naming its version (bare: version 1; streams/chain.py)",
    )


class Finding(BaseModel):
    """One detected violation or warning, with responsible staff, department, evidence events and law article."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = FINDING_SCHEMA_VERSION
    finding_id: str
    case_id: str
    rule: str
    category: Category
    severity: Severity
    title: str
    message: str
    staff_id: str = Field(description="the responsible staff member (首问负责, 责任追究)")
    department_id: str
    region_code: str
    item_code: str
    detected_at: AwareDatetime = Field(description="when the rule became true: event time or deadline moment")
    deadline: AwareDatetime | None = None
    law_article: str | None = None
    evidence_event_ids: list[str]
    calendar_version: str
    # The configuration in effect when it was judged (streams.rules.schedule.config_version: calendar and
    # thresholds); "" on findings from before the field and on the loop's and complaints' findings.
    config_version: str = Field(default="", max_length=64)
    provisional: bool = False
    details: dict[str, Any] = Field(default_factory=dict)
    chain: ChainLink | None = Field(default=None, description="set by the worker that published it")


MAX_FINDING_BYTES = 4 << 20  # far above any finding: a bound, not a format rule


def read_finding(raw: bytes | bytearray | str | None) -> Finding:
    """A finding from the findings topic, read as the sink reads it (bounded; a newer writer's fields ignored);
    raises :class:`schemas.wire.WireError` naming the field (``<finding>`` for the whole) and nothing else."""
    from schemas.wire import read_model

    return read_model(Finding, raw or b"", what="<finding>", max_bytes=MAX_FINDING_BYTES)
