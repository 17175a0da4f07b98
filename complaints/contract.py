"""Complaints (投诉处理): versioned messages on esup.complaints, keyed by complaint id; no personal data in clear."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from loop.contract import LoopMessageError, parse_union
from schemas.events import Moment, printable_id

COMPLAINTS_SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024
MAX_TEXT = 10_000

# Fixed namespace: the same (complaint, type, request key) always gives the same message id, so the intake,
# a hotline system or the console retrying a request never registers a complaint or a reply twice.
_MESSAGE_NS = uuid.UUID("6b1d6a0e-3c57-5b0e-9a43-636f6d706c61")

# Ids appear in Kafka keys, ClickHouse rows and finding ids: a narrow alphabet keeps them inert everywhere.
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


def message_id(complaint_id: str, kind: str, request_key: str) -> str:
    """The idempotent id of a complaint message: resending the same request gives the same id."""
    return str(uuid.uuid5(_MESSAGE_NS, f"{complaint_id}\x1f{kind}\x1f{request_key}"))


class Channel(StrEnum):
    """How a complaint came in: the public form, the 12345 hotline, a letter (来信) or a visit (来访)."""

    web = "web"  # the public form
    hotline = "hotline"  # 12345
    letter = "letter"  # 来信
    in_person = "in_person"  # 来访


class Category(StrEnum):
    """What a complaint is about, as the complainant chose it: efficiency, attitude, fees, misconduct, other."""

    efficiency = "efficiency"  # 效率: slow, shuffled between windows
    attitude = "attitude"  # 态度: rude, refused to explain (门难进、脸难看、事难办)
    fees = "fees"  # 收费: charges without authority or off the published standards
    misconduct = "misconduct"  # 吃拿卡要: asking for favours, gifts, bribes
    other = "other"


class Rating(StrEnum):
    """The citizen's evaluation of a reply."""

    satisfied = "satisfied"
    unsatisfied = "unsatisfied"


class SealedContact(BaseModel):
    """The complainant, sealed: only a salted hash (to spot repeat complainants) and ciphertext, never clear text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_hash: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="HMAC-SHA256 of the normalised phone under the platform salt, lower-case hex",
    )
    sealed: str = Field(
        min_length=1,
        max_length=4096,
        pattern=r"^[A-Za-z0-9_-]+={0,2}$",
        description="base64url AES-GCM ciphertext of name, phone and ID number",
    )
    key_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="which sealing key; keys rotate, old ones stay to open old complaints",
    )


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1  # COMPLAINTS_SCHEMA_VERSION; a new version adds a Literal here
    message_id: Annotated[str, AfterValidator(printable_id)] = Field(
        min_length=1, max_length=64, description="idempotency key (see message_id())"
    )
    complaint_id: str = Field(pattern=_ID)
    actor_id: Annotated[str, AfterValidator(printable_id)] = Field(
        min_length=1, max_length=128, description="who sent it (intake, supervisor, department)"
    )
    # Within the working-day calendar's years: a message dated 9999 would move the event clock past every deadline.
    at: Moment = Field(description="when it happened (the sender's clock)")


class Received(_Message):
    """A complaint as it arrives, with what is known of its subject; the complainant sealed or anonymous."""

    type: Literal["received"] = "received"
    channel: Channel
    category: Category
    department_id: str | None = Field(default=None, pattern=_ID, description="the department complained about")
    staff_id: str | None = Field(default=None, pattern=_ID, description="the staff member, where known")
    case_id: str | None = Field(default=None, pattern=_ID, description="the licensing case, where known")
    region_code: str | None = Field(
        default=None, pattern=r"^[0-9]{2,12}$", description="the receiving bureau's GB/T 2260 code, where known"
    )
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    complainant: SealedContact | None = Field(default=None, description="None: anonymous")


class Registered(_Message):
    """The supervision bureau registered the complaint (登记); it may settle the subject known at receipt."""

    type: Literal["registered"] = "registered"
    region_code: str = Field(pattern=r"^[0-9]{2,12}$", description="the registering bureau's GB/T 2260 code")
    department_id: str | None = Field(default=None, pattern=_ID)
    staff_id: str | None = Field(default=None, pattern=_ID)
    case_id: str | None = Field(default=None, pattern=_ID)
    category: Category | None = None


class Dispatched(_Message):
    """转办: the bureau hands the complaint to the responsible department."""

    type: Literal["dispatched"] = "dispatched"
    department_id: str = Field(pattern=_ID)
    note: str | None = Field(default=None, max_length=MAX_TEXT)


class Accepted(_Message):
    """The responsible department accepted the complaint (签收)."""

    type: Literal["accepted"] = "accepted"
    department_id: str = Field(pattern=_ID)


class Extended(_Message):
    """The department asked for, and the bureau granted, more time (延期)."""

    type: Literal["extended"] = "extended"
    department_id: str = Field(pattern=_ID)
    extra_wd: int = Field(ge=1, le=30, description="working days added to the handling limit")
    reason: str = Field(min_length=1, max_length=MAX_TEXT)


class Replied(_Message):
    """The department's reply to the citizen with the result of its handling (办结答复)."""

    type: Literal["replied"] = "replied"
    department_id: str = Field(pattern=_ID)
    result: str = Field(min_length=1, max_length=MAX_TEXT)


class Evaluated(_Message):
    """The citizen's evaluation of the reply (回访评价)."""

    type: Literal["evaluated"] = "evaluated"
    rating: Rating
    comment: str | None = Field(default=None, max_length=MAX_TEXT)


class Reopened(_Message):
    """The bureau sends the complaint back to be handled again (e.g. after an unsatisfied evaluation)."""

    type: Literal["reopened"] = "reopened"
    reason: str = Field(min_length=1, max_length=MAX_TEXT)


class Closed(_Message):
    """The bureau closes the complaint (办结) with its finding on whether it was substantiated (属实)."""

    type: Literal["closed"] = "closed"
    substantiated: bool
    finding: str = Field(min_length=1, max_length=MAX_TEXT, description="what the bureau found")


ComplaintMessage = Received | Registered | Dispatched | Accepted | Extended | Replied | Evaluated | Reopened | Closed
COMPLAINT_ADAPTER: TypeAdapter[ComplaintMessage] = TypeAdapter(Annotated[ComplaintMessage, Field(discriminator="type")])
MESSAGE_TYPES = (
    "received",
    "registered",
    "dispatched",
    "accepted",
    "extended",
    "replied",
    "evaluated",
    "reopened",
    "closed",
)


class ComplaintMessageError(LoopMessageError):
    """A message that does not meet the contract; ``reason`` names the field."""


def parse_message(raw: bytes | str | dict[str, Any]) -> ComplaintMessage:
    """Validate one complaint message from wire bytes, a JSON string or a dict; raises ComplaintMessageError.
    The input is never echoed: a refused complaint's text may carry a name or a phone number."""
    msg: ComplaintMessage = parse_union(raw, COMPLAINT_ADAPTER, MESSAGE_TYPES, MAX_MESSAGE_BYTES, ComplaintMessageError)
    return msg


def to_wire(message: ComplaintMessage) -> bytes:
    """The message as Kafka value bytes."""
    return message.model_dump_json().encode("utf-8")


def complaints_json_schema() -> dict[str, Any]:
    """JSON Schema of the union, for the intake, hotline systems and the console."""
    schema = COMPLAINT_ADAPTER.json_schema()
    schema["title"] = f"ComplaintMessage v{COMPLAINTS_SCHEMA_VERSION}"
    return schema
