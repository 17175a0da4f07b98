"""The case-event contract that department systems publish: one JSON object per licensing-case stage.

Every event shares an envelope (ids, who, where, when) and carries a payload whose shape depends on
its ``kind``. Events are validated with pydantic v2 as a discriminated union on ``kind``; an invalid
event raises :class:`EventError`, whose message names the field and the reason.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from schemas.wire import WireError, describe, load_json

SCHEMA_VERSION = 1

# Largest event accepted on the wire; anything bigger is a dead letter, not a case event.
MAX_EVENT_BYTES = 64 * 1024


def printable_id(value: str) -> str:
    """``value`` if every character is printable, else a ValueError naming the first that is not."""
    # Ids end up in finding ids, logs, SQL rows and dashboards: control and format characters (NUL, the
    # unit separator, bidi overrides, zero-width spaces) could forge or hide one id behind another.
    if value.isprintable():  # one C call on the whole string; the character search only names the culprit
        return value
    bad = next(c for c in value if not c.isprintable())
    raise ValueError(f"unprintable character U+{ord(bad):04X} in an id")


Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s]+$"), AfterValidator(printable_id)]
RegionCode = Annotated[str, Field(pattern=r"^[1-8][0-9]{5}$", description="GB/T 2260 six-digit code")]
ShortText = Annotated[str, Field(max_length=2000)]


class SpecialProcedure(StrEnum):
    """Procedures whose time is not counted (行政许可法 第45条)."""

    hearing = "hearing"  # 听证
    tender = "tender"  # 招标
    auction = "auction"  # 拍卖
    inspection = "inspection"  # 检验
    testing = "testing"  # 检测
    quarantine = "quarantine"  # 检疫
    appraisal = "appraisal"  # 鉴定
    expert_review = "expert_review"  # 专家评审


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# ---- payloads -------------------------------------------------------------------------------------


class EmptyPayload(_Strict):
    """The payload of a kind that carries nothing beyond the envelope (accept, resume)."""

    pass


class ApplyPayload(_Strict):
    """What an application (申请) brings: the applicant and the codes of the materials received."""

    applicant_id: Id | None = None
    materials: list[Id] = Field(default_factory=list, max_length=200, description="material codes received")


class InquiryPayload(_Strict):
    """What an inquiry (咨询) is about."""

    subject: ShortText = ""


class SupplementNoticePayload(_Strict):
    """The one-time notice (一次性告知) of every material still missing, with a note (art. 32(4))."""

    missing_materials: list[Id] = Field(default_factory=list, max_length=200)
    note: ShortText = ""


class SupplementReceivedPayload(_Strict):
    """The codes of the materials the applicant handed in (补交)."""

    materials: list[Id] = Field(default_factory=list, max_length=200)


class ReasonPayload(_Strict):
    """A free-text reason, e.g. for a withdrawal (撤回)."""

    reason: ShortText = ""


class RefusalPayload(_Strict):
    """A refusal's reasons and whether the applicant was told of the right to review or litigation (art. 38 ¶2)."""

    # Art. 38 ¶2: a refusal states its reasons and tells the applicant of the right to administrative review
    # or litigation. Both optional on purpose: a refusal without them is a violation to flag, not a bad message.
    # Omitted is "not stated" (None), never "told": the law asks the department to show it told the applicant.
    reason: ShortText = ""
    remedy_notified: bool | None = Field(
        default=None,
        description="the applicant was told of the right to administrative review or litigation; omitted: not "
        "stated, flagged like false (PROC_REFUSAL_NO_REMEDY)",
    )


class ReviewPayload(_Strict):
    """The review's (审核) opinion and the licensing conditions it verified."""

    conditions_met: list[Id] = Field(
        default_factory=list, max_length=200, description="licensing conditions verified by this review"
    )
    opinion: ShortText = ""


class ApprovePayload(_Strict):
    """The number of the licence granted (批准)."""

    licence_no: Id | None = None


class ConcludePayload(_Strict):
    """How the case ended (办结): granted, refused, not accepted or withdrawn."""

    outcome: Literal["granted", "refused", "not_accepted", "withdrawn"] | None = None


class SuspendPayload(_Strict):
    """The special procedure that stops the clock, its reason and whether the applicant was told (art. 45)."""

    # Optional on purpose: a suspension without its reason is a procedure violation to flag,
    # not a malformed message to drop (art. 45 requires the reason and a written notice).
    procedure: SpecialProcedure | None = None
    reason: ShortText = ""
    applicant_notified: bool = True


class ExtendPayload(_Strict):
    """An extension (延期): days asked, the approving superior, the reason and notice to the applicant (art. 42)."""

    days: int = Field(ge=1, le=365, description="working days of extension requested")
    approver_id: Id | None = None
    reason: ShortText = ""
    applicant_notified: bool = True


class FeePayload(_Strict):
    """A fee charged (收费): its code in the item's list and the amount in fen (arts. 58-59)."""

    fee_code: Id
    amount_fen: int = Field(ge=0, le=10**12, description="amount in fen (0.01 yuan)")


class DeliveryPayload(_Strict):
    """How the certificate was delivered (送达): in person, by post or electronically."""

    method: Literal["in_person", "post", "electronic"] = "in_person"


class ReferPayload(_Strict):
    """Where a matter is referred (转办): the receiving department, optionally a staff member there, and why."""

    to_department_id: Id
    to_staff_id: Id | None = None
    reason: ShortText = ""


class OutOfScopePayload(_Strict):
    """The department an out-of-remit inquiry was referred to, if any, and a note (首问负责制)."""

    referred_to_department_id: Id | None = None
    note: ShortText = ""


# ---- envelope -------------------------------------------------------------------------------------


FIRST_YEAR, LAST_YEAR = 2004, 2039  # the working-day calendar covers 2004-2040: room for any deadline
BEIJING = ZoneInfo("Asia/Shanghai")


def in_calendar_range(value: datetime) -> datetime:
    """``value`` if its Beijing year lies in FIRST_YEAR-LAST_YEAR (the working-day calendar), else a ValueError."""
    # The calendar counts Beijing days: 2004-01-01T00:00+14:00 is still 2003 there. The first test keeps
    # astimezone from overflowing near year 1 or 9999.
    year = value.astimezone(BEIJING).year if FIRST_YEAR - 1 <= value.year <= LAST_YEAR + 1 else value.year
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"year {year} is outside the supported range {FIRST_YEAR}-{LAST_YEAR} (in Beijing time)")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(in_calendar_range)]


class _Envelope(_Strict):
    schema_version: Literal[1] = 1  # SCHEMA_VERSION
    event_id: Id = Field(description="globally unique; the idempotency key")
    case_id: Id
    item_code: Id
    department_id: Id
    region_code: RegionCode
    staff_id: Id
    occurred_at: Moment = Field(description="when it happened in the department (timezone-aware)")
    recorded_at: Moment = Field(description="when the department system recorded it")


class Inquiry(_Envelope):
    """A first contact (咨询); its handler is the first-inquiry responsible person (首问负责制)."""

    kind: Literal["inquiry"]
    payload: InquiryPayload = InquiryPayload()


class Apply(_Envelope):
    """申请: the application and its materials are received; the acceptance clock starts."""

    kind: Literal["apply"]
    payload: ApplyPayload = ApplyPayload()


class SupplementNotice(_Envelope):
    """一次性告知: materials incomplete, everything to correct told once (art. 32(4))."""

    kind: Literal["supplement_notice"]
    payload: SupplementNoticePayload = SupplementNoticePayload()


class SupplementReceived(_Envelope):
    """补交: the applicant hands in the requested materials."""

    kind: Literal["supplement_received"]
    payload: SupplementReceivedPayload = SupplementReceivedPayload()


class Accept(_Envelope):
    """受理 (art. 32)."""

    kind: Literal["accept"]
    payload: EmptyPayload = EmptyPayload()


class RefuseAccept(_Envelope):
    """不予受理 (art. 32)."""

    kind: Literal["refuse_accept"]
    payload: RefusalPayload = RefusalPayload()


class Review(_Envelope):
    """审核 (art. 34)."""

    kind: Literal["review"]
    payload: ReviewPayload = ReviewPayload()


class Approve(_Envelope):
    """批准: decision to grant the licence (art. 38)."""

    kind: Literal["approve"]
    payload: ApprovePayload = ApprovePayload()


class RefuseLicense(_Envelope):
    """不予许可: decision to refuse, with reasons (art. 38 ¶2)."""

    kind: Literal["refuse_license"]
    payload: RefusalPayload = RefusalPayload()


class Conclude(_Envelope):
    """办结: the case is closed."""

    kind: Literal["conclude"]
    payload: ConcludePayload = ConcludePayload()


class Suspend(_Envelope):
    """特别程序开始: hearing, inspection, expert review… — time not counted (art. 45)."""

    kind: Literal["suspend"]
    payload: SuspendPayload = SuspendPayload()


class Resume(_Envelope):
    """特别程序结束."""

    kind: Literal["resume"]
    payload: EmptyPayload = EmptyPayload()


class Extend(_Envelope):
    """延期: extension of the decision period with a superior's approval (art. 42)."""

    kind: Literal["extend"]
    payload: ExtendPayload


class FeeCharged(_Envelope):
    """收费 (arts. 58-59)."""

    kind: Literal["fee_charged"]
    payload: FeePayload


class CertificateDelivered(_Envelope):
    """颁发、送达 the licence certificate (art. 44)."""

    kind: Literal["certificate_delivered"]
    payload: DeliveryPayload = DeliveryPayload()


class Withdraw(_Envelope):
    """撤回: the applicant withdraws the application."""

    kind: Literal["withdraw"]
    payload: ReasonPayload = ReasonPayload()


class Refer(_Envelope):
    """转办: the matter is referred to another department or person (首问负责制)."""

    kind: Literal["refer"]
    payload: ReferPayload


class InquiryOutOfScope(_Envelope):
    """An inquiry closed as outside the department's remit; must come with a referral."""

    kind: Literal["inquiry_out_of_scope"]
    payload: OutOfScopePayload = OutOfScopePayload()


CaseEvent = Annotated[
    Inquiry
    | Apply
    | SupplementNotice
    | SupplementReceived
    | Accept
    | RefuseAccept
    | Review
    | Approve
    | RefuseLicense
    | Conclude
    | Suspend
    | Resume
    | Extend
    | FeeCharged
    | CertificateDelivered
    | Withdraw
    | Refer
    | InquiryOutOfScope,
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[CaseEvent] = TypeAdapter(CaseEvent)
EVENT_KINDS: tuple[str, ...] = (
    "inquiry",
    "apply",
    "supplement_notice",
    "supplement_received",
    "accept",
    "refuse_accept",
    "review",
    "approve",
    "refuse_license",
    "conclude",
    "suspend",
    "resume",
    "extend",
    "fee_charged",
    "certificate_delivered",
    "withdraw",
    "refer",
    "inquiry_out_of_scope",
)


class EventError(WireError):
    """An event that does not meet the contract; ``reason`` names each bad field and why."""


def _describe(err: ValidationError) -> EventError:
    # The union's tag is dropped from each path: the reader knows the kind.
    found = describe(err, what="<event>", drop=EVENT_KINDS)
    return EventError(found.reason, fields=found.fields)


def parse_event(raw: bytes | str | dict[str, Any]) -> CaseEvent:
    """Validate one event from wire bytes, a JSON string or a decoded dict.

    Raises :class:`EventError` with a reason naming the field(s) at fault, and nothing else for any input.
    """
    if isinstance(raw, bytes | bytearray | str):
        try:
            data = load_json(raw, what="<event>", max_bytes=MAX_EVENT_BYTES)
        except WireError as exc:
            raise EventError(exc.reason, fields=exc.fields) from None
    else:
        data = raw
    if not isinstance(data, dict):
        raise EventError(f"<event>: expected a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind is not None and kind not in EVENT_KINDS:
        shown = repr(kind)[:60]
        raise EventError(f"kind: unknown kind {shown}; expected one of {', '.join(EVENT_KINDS)}", fields=("kind",))
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise _describe(exc) from None
    except Exception as exc:  # a validator bug must still not stop a partition: refuse the event, say why
        raise EventError(f"<event>: could not be validated ({type(exc).__name__}: {str(exc)[:200]})") from None


def event_to_json(event: CaseEvent) -> str:
    """The canonical wire form of an event (UTF-8 JSON, no whitespace)."""
    return event.model_dump_json(exclude_defaults=False)


def event_json_schema() -> dict[str, Any]:
    """JSON Schema of the whole union, for department systems."""
    schema = EVENT_ADAPTER.json_schema()
    schema["title"] = f"CaseEvent v{SCHEMA_VERSION}"
    return schema


# Ties in event time (on-the-spot acceptance gives apply and accept the same minute) follow the lifecycle.
_LIFECYCLE_RANK = {
    "inquiry": 0,
    "refer": 1,
    "apply": 2,
    "supplement_notice": 3,
    "supplement_received": 4,
    "accept": 5,
    "refuse_accept": 5,
    "fee_charged": 6,
    "suspend": 7,
    "resume": 8,
    "extend": 9,
    "review": 10,
    "approve": 11,
    "refuse_license": 11,
    "certificate_delivered": 12,
    "withdraw": 13,
    "inquiry_out_of_scope": 13,
    "conclude": 14,
}


def occurred_sort_key(event: CaseEvent) -> tuple[datetime, int, datetime, str]:
    """Sort key in event time; ties follow the lifecycle (apply before accept…), then recorded time and event id."""
    return (event.occurred_at, _LIFECYCLE_RANK[event.kind], event.recorded_at, event.event_id)
