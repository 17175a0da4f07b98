"""Responses, decisions and recommendation reports: versioned messages on esup.responses, keyed by finding id."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from schemas.events import Moment, printable_id
from schemas.wire import WireError, load_json

LOOP_SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024

# Fixed namespace: the same (finding, type, request key) always gives the same message id, so a department
# system or the API retrying a request never makes a second response or decision.
_MESSAGE_NS = uuid.UUID("2f0f3f55-6e2b-5b8a-93c1-6c6f6f702d31")


def message_id(finding_id: str, kind: str, request_key: str) -> str:
    """The idempotent id of a loop message: resending the same request gives the same id."""
    return str(uuid.uuid5(_MESSAGE_NS, f"{finding_id}\x1f{kind}\x1f{request_key}"))


class ResponseKind(StrEnum):
    """What a department's response is: an explanation (说明理由), a rectification (整改情况) or an appeal (申诉)."""

    explanation = "explanation"  # 说明理由
    rectification = "rectification"  # 整改情况
    appeal = "appeal"  # 申诉


class Outcome(StrEnum):
    """A supervisor's decision on a finding: confirmed, dismissed, a recommendation or accountability."""

    confirmed = "confirmed"  # 确认: the finding stands
    dismissed = "dismissed"  # 撤销: it costs nothing in the rankings
    recommendation = "recommendation"  # 监察建议书: the department must report it carried it out
    accountability = "accountability"  # 责任追究: a measure (esup/config/loop.yaml) on staff, department or head


class DismissalReason(StrEnum):
    """Why a finding was dismissed."""

    data_error = "data_error"  # 数据错误
    lawful_cause = "lawful_cause"  # 正当理由 (e.g. force majeure, a lawful suspension not recorded)
    duplicate = "duplicate"
    other = "other"


class TargetKind(StrEnum):
    """Whom an accountability measure names: a staff member, the department, or its head (部门首长问责)."""

    staff = "staff"
    department = "department"
    head = "head"  # 部门首长问责


class Attachment(BaseModel):
    """An attachment is kept by the department; the message carries its digest so it cannot be swapped later."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, lower-case hex")
    size_bytes: int = Field(ge=0)


# Ids reach Kafka keys, ClickHouse rows and message ids (joined with U+001F): no control or format characters.
LoopId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(printable_id)]
_OptionalId = Annotated[str, Field(max_length=64), AfterValidator(printable_id)]  # "" allowed, as it was


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1  # LOOP_SCHEMA_VERSION; a new version adds a Literal here
    message_id: LoopId = Field(description="idempotency key (see message_id())")
    finding_id: LoopId
    actor_id: Annotated[str, AfterValidator(printable_id)] = Field(
        min_length=1, max_length=128, description="the authenticated user who sent it"
    )
    # Within the working-day calendar's years: a message dated 9999 would move the event clock past every deadline.
    at: Moment = Field(description="when it was made (the API's clock)")


class Response(_Message):
    """A department's answer to a finding: an explanation, a rectification or an appeal."""

    type: Literal["response"] = "response"
    kind: ResponseKind
    department_id: LoopId
    text: str = Field(min_length=1, max_length=20_000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)


class Decision(_Message):
    """A supervisor's decision on a finding; every decision says why (`reason`)."""

    type: Literal["decision"] = "decision"
    outcome: Outcome
    reason: str = Field(min_length=1, max_length=5_000)
    dismissal_reason: DismissalReason | None = None
    recommendation: str | None = Field(default=None, max_length=20_000)
    report_within_wd: int | None = Field(default=None, ge=1, le=60, description="working days to report it done")
    measure: _OptionalId | None = Field(default=None, description="an accountability measure (config)")
    target_kind: TargetKind | None = None
    target_id: _OptionalId | None = None

    @model_validator(mode="after")
    def _fields_of_outcome(self) -> Decision:
        if self.outcome == Outcome.dismissed and self.dismissal_reason is None:
            raise ValueError("a dismissal needs dismissal_reason")
        if self.outcome == Outcome.recommendation and not self.recommendation:
            raise ValueError("a recommendation decision needs the recommendation text")
        if self.outcome == Outcome.accountability and not (self.measure and self.target_kind and self.target_id):
            raise ValueError("an accountability decision needs measure, target_kind and target_id")
        return self


class RecommendationReport(_Message):
    """The department's report that a supervision recommendation was carried out (回告)."""

    type: Literal["recommendation_report"] = "recommendation_report"
    department_id: LoopId
    text: str = Field(min_length=1, max_length=20_000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)


LoopMessage = Annotated[Response | Decision | RecommendationReport, Field(discriminator="type")]
LOOP_ADAPTER: TypeAdapter[Response | Decision | RecommendationReport] = TypeAdapter(LoopMessage)
MESSAGE_TYPES = ("response", "decision", "recommendation_report")


class LoopMessageError(ValueError):
    """A message that does not meet the contract; ``reason`` names the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_union(
    raw: bytes | str | dict[str, Any],
    adapter: TypeAdapter[Any],
    types: tuple[str, ...],
    max_bytes: int,
    error: type[LoopMessageError],
) -> Any:
    """Validate one message of a ``type``-discriminated union from wire bytes, a JSON string or a dict; raises
    ``error`` with a reason naming the field (``<message>`` for the whole), never echoing the input."""
    if isinstance(raw, bytes | bytearray | str):
        if isinstance(raw, str) and len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
            raise error(f"<message>: exceeds the {max_bytes}-byte limit")
        try:  # bounded size, depth and numbers: a 5,000-digit integer or 50,000 brackets are refused, not raised
            raw = load_json(raw, max_bytes=max_bytes)
        except WireError as exc:
            raise error(exc.reason) from None
    if not isinstance(raw, dict):
        raise error(f"<message>: expected a JSON object, got {type(raw).__name__}")
    if raw.get("type") not in types:
        got = raw.get("type")
        shown = repr(got)[:80] if isinstance(got, str | int | float | bool | None) else type(got).__name__
        raise error(f"type: expected one of {', '.join(types)}, got {shown}")
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        parts = [
            f"{'.'.join(str(p) for p in e['loc'][1:]) or '<message>'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise error("; ".join(parts)) from None


_MOMENT: TypeAdapter[datetime] = TypeAdapter(Moment)


def tick_now(data: dict[str, Any], error: type[LoopMessageError] = LoopMessageError) -> datetime:
    """The ``now`` of a clock tick (``{"type": "tick", "now": …}``): timezone-aware and within the calendar's
    years, or ``error`` naming ``now`` (a tick dated 9999 would fire every deadline, then fail the calendar)."""
    try:
        return _MOMENT.validate_python(data.get("now"))
    except ValidationError as exc:
        raise error(f"now: {exc.errors(include_url=False, include_input=False)[0]['msg']}") from None


def parse_message(raw: bytes | str | dict[str, Any]) -> Response | Decision | RecommendationReport:
    """Validate one loop message from wire bytes, a JSON string or a dict; raises LoopMessageError."""
    msg: Response | Decision | RecommendationReport = parse_union(
        raw, LOOP_ADAPTER, MESSAGE_TYPES, MAX_MESSAGE_BYTES, LoopMessageError
    )
    return msg


def loop_json_schema() -> dict[str, Any]:
    """JSON Schema of the union, for department systems and the console."""
    schema = LOOP_ADAPTER.json_schema()
    schema["title"] = f"LoopMessage v{LOOP_SCHEMA_VERSION}"
    return schema
