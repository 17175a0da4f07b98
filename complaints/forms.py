"""The intake's input (the public form, the hotline's JSON) into one Submission; problems name the field."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from complaints.contract import _ID, MAX_TEXT, Category, Channel, Received, SealedContact, message_id
from complaints.pii import Contact, Keyring, PiiError, normalise_id_number, normalise_phone, redact
from schemas.wire import WireError, describe, load_json

FORM_FIELDS = (
    "form_token",
    "website",
    "name",
    "phone",
    "id_number",
    "category",
    "department_id",
    "staff_id",
    "case_id",
    "text",
)
MAX_NAME = 50
MIN_FORM_TEXT, MAX_FORM_TEXT = 10, 2000
_IDENT = re.compile(_ID)


@dataclass(frozen=True)
class Problem:
    """One invalid field and why."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class Invalid(ValueError):
    """The input breaks a rule; ``problems`` name each field (``<body>`` for the whole)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class Submission:
    """A complaint as the form or the hotline sent it, checked, the contact still in clear."""

    channel: Channel
    category: Category
    text: str
    contact: Contact | None = None
    department_id: str | None = None
    staff_id: str | None = None
    case_id: str | None = None

    def received(self, *, complaint_id: str, request_key: str, actor: str, at: datetime, keyring: Keyring) -> Received:
        """The contract's message: the contact sealed, and phones, ID numbers and the name cut from the text."""
        text = redact(self.text)
        if self.contact is not None and len(self.contact.name) >= 2:
            text = text.replace(self.contact.name, "[投诉人]")
        sealed = SealedContact(**keyring.seal(self.contact)) if self.contact else None
        return Received(
            message_id=message_id(complaint_id, "received", request_key),
            complaint_id=complaint_id,
            actor_id=actor,
            at=at,
            channel=self.channel,
            category=self.category,
            text=text,
            department_id=self.department_id,
            staff_id=self.staff_id,
            case_id=self.case_id,
            complainant=sealed,
        )


def _clean(value: str) -> str | None:
    """None when a control character (other than line breaks and tabs) is in the value."""
    ok = all(c in "\n\r\t" or unicodedata.category(c) not in ("Cc", "Cs", "Co", "Cn") for c in value)
    return value.strip() if ok else None


def _contact(name: str, phone: str, id_number: str, prefix: str = "") -> tuple[Contact | None, list[Problem]]:
    problems: list[Problem] = []
    if not (name or phone or id_number):
        return None, []  # anonymous
    if not name:
        problems.append(Problem(prefix + "name", "请填写姓名（留下电话或身份证号时需要）"))
    elif len(name) > MAX_NAME:
        problems.append(Problem(prefix + "name", f"最多 {MAX_NAME} 个字"))
    norm_phone = norm_id = None
    if not phone:
        problems.append(Problem(prefix + "phone", "请填写联系电话（留下姓名时需要，以便回访）"))
    else:
        try:
            norm_phone = normalise_phone(phone)
        except PiiError:
            problems.append(Problem(prefix + "phone", "请填写大陆手机号（11 位）或带区号的固定电话"))
    if id_number:
        try:
            norm_id = normalise_id_number(id_number)
        except PiiError:
            problems.append(Problem(prefix + "id_number", "不是有效的 18 位居民身份证号码"))
    if problems or norm_phone is None:
        return None, problems
    return Contact(name, norm_phone, norm_id), []


def _ident(fields: dict[str, str], key: str, problems: list[Problem], prefix: str = "") -> str | None:
    value = fields.get(key, "")
    if value and not _IDENT.match(value):
        problems.append(Problem(prefix + key, "只能由字母、数字和 _ . : - 组成，最多 64 个字符"))
    return value or None


def parse_form(raw: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body: each known field once, UTF-8; else Invalid naming the field."""
    try:
        pairs = parse_qsl(
            raw.decode("ascii"),
            keep_blank_values=True,
            max_num_fields=2 * len(FORM_FIELDS),
            encoding="utf-8",
            errors="strict",
        )
    except UnicodeDecodeError:
        raise Invalid([Problem("<body>", "不是 UTF-8 编码的表单")]) from None
    except ValueError:
        raise Invalid([Problem("<body>", "字段过多")]) from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        shown = key if key.isascii() and key.isprintable() and len(key) <= 40 else "<field>"
        if key not in FORM_FIELDS:
            raise Invalid([Problem(shown, "不是本表单的字段")])
        if key in fields:
            raise Invalid([Problem(key, "重复出现")])
        fields[key] = value
    return fields


def form_submission(fields: dict[str, str]) -> Submission:
    """The public form's fields into a Submission, or Invalid with a Chinese reason per field."""
    problems: list[Problem] = []
    clean: dict[str, str] = {}
    for key in FORM_FIELDS:
        value = _clean(fields.get(key, ""))
        if value is None:
            problems.append(Problem(key, "含有不可见的控制字符"))
        clean[key] = value or ""
    if clean["website"]:  # a field people never see: only robots fill it
        problems.append(Problem("website", "请留空"))
    try:
        category = Category(clean["category"])
    except ValueError:
        problems.append(Problem("category", "请选择投诉类别"))
        category = Category.other
    text = clean["text"]
    if len(text) < MIN_FORM_TEXT:
        problems.append(Problem("text", f"请具体描述投诉事项（至少 {MIN_FORM_TEXT} 个字）"))
    elif len(text) > MAX_FORM_TEXT:
        problems.append(Problem("text", f"最多 {MAX_FORM_TEXT} 个字（现有 {len(text)} 个）"))
    ids = {k: _ident(clean, k, problems) for k in ("department_id", "staff_id", "case_id")}
    contact, bad = _contact(clean["name"], clean["phone"], clean["id_number"])
    problems += bad
    if problems:
        raise Invalid(problems)
    return Submission(Channel.web, category, text, contact, **ids)


class Caller(BaseModel):
    """The caller of a 12345 work order: name, phone and (optionally) ID number."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    phone: str = Field(min_length=1, max_length=40)
    id_number: str | None = Field(default=None, max_length=40)


class HotlineIn(BaseModel):
    """A 12345 work order: its own ticket id (resending it is harmless), the subject where known, the caller."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    ticket_id: str = Field(pattern=_ID, description="the hotline system's work-order number")
    category: Category
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    department_id: str | None = Field(default=None, pattern=_ID)
    staff_id: str | None = Field(default=None, pattern=_ID)
    case_id: str | None = Field(default=None, pattern=_ID)
    caller: Caller | None = Field(default=None, description="None: the caller stayed anonymous")


def hotline_submission(raw: bytes, max_bytes: int) -> tuple[str, Submission]:
    """(ticket id, Submission) from a hotline's JSON body, or Invalid naming each field (English reasons)."""
    try:
        data = load_json(raw, what="<body>", max_bytes=max_bytes)
    except WireError as exc:
        raise Invalid([Problem(exc.fields[0] if exc.fields else "<body>", exc.reason.split(": ", 1)[-1])]) from None
    if not isinstance(data, dict):
        raise Invalid([Problem("<body>", f"expected a JSON object, got {type(data).__name__}")])
    try:
        body = HotlineIn.model_validate(data)
    except ValidationError as exc:
        err = describe(exc, what="<body>")
        raise Invalid(
            [Problem(f, r.split(": ", 1)[-1]) for f, r in zip(err.fields, err.reason.split("; "), strict=False)]
        ) from None
    if any(_clean(v) is None for v in (body.text, body.caller.name if body.caller else "")):
        raise Invalid([Problem("text" if _clean(body.text) is None else "caller.name", "control characters")])
    contact: Contact | None = None
    if body.caller is not None:
        c = body.caller
        contact, bad = _contact(c.name, c.phone, c.id_number or "", prefix="caller.")
        if bad:
            raise Invalid(
                [
                    Problem(
                        p.field,
                        {
                            "caller.phone": "expected a mainland mobile or a landline with its area code",
                            "caller.id_number": "not a valid 18-character resident ID number",
                        }.get(p.field, p.reason),
                    )
                    for p in bad
                ]
            )
    return body.ticket_id, Submission(
        Channel.hotline, body.category, body.text, contact, body.department_id, body.staff_id, body.case_id
    )
