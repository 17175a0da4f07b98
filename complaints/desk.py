"""The supervisors' complaint desk over the API: list and read complaints, register, dispatch (转办), close.

Only the supervisor role sees a complainant in clear (opened from the seal per request, audited); a department
sees the complaints dispatched to it, with the complainant hidden and no contact hash (which would link a
person's complaints).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, Role
from api.directory import Directory
from complaints.contract import _ID, MAX_TEXT, Category, Closed, ComplaintMessage, Dispatched, Registered, message_id
from complaints.intake import ACK_TIMEOUT_S
from complaints.pii import Keyring, PiiError, mask_id, mask_name, mask_phone
from complaints.view import Complaint, ComplaintsView

HIDDEN = "（已隐藏：仅监察机关可见）"


@dataclass
class Desk:
    """The desk's parts: the complaints view, the keyring that opens seals, the producer and topic for actions."""

    view: ComplaintsView
    keyring: Keyring
    producer: Any  # the API's (esup-api writes esup.complaints)
    topic: str
    directory: Directory | None = None

    def publish(self, msg: ComplaintMessage) -> tuple[int, int]:
        """Publish a desk action (acks awaited) and show it in the view at once; returns (partition, offset)."""
        meta = self.producer.send(self.topic, key=msg.complaint_id.encode(), value=msg.model_dump_json().encode()).get(
            ACK_TIMEOUT_S
        )
        self.view.add(msg)  # the desk shows its own action at once; the tail skips it by message id
        return meta.partition, meta.offset

    def status_of(self, complaint_id: str) -> str | None:
        """The status code only (nothing of the content): what a citizen with the receipt number may know."""
        c = self.view.get(complaint_id)
        return c.status if c else None

    def region_of(self, department_id: str | None) -> str | None:
        """The department's region code in the directory; None when unknown, without a directory or a department."""
        d = self.directory.department(department_id) if self.directory and department_id else None
        return d.region_code if d else None

    def may_see(self, who: Principal, c: Complaint) -> bool:
        """Whether ``who`` may see ``c``: a department those sent to it, a supervisor its region's (or unplaced)."""
        if who.role == Role.department:
            return c.dispatched_to is not None and c.dispatched_to == who.department_id
        region = c.region_code or self.region_of(c.department_id)
        # Not yet placed in a region: every supervisor's desk shows it, so that one registers it.
        return region is None or region.startswith(who.region_prefix())

    def contact(self, who: Principal, c: Complaint, clear: bool) -> dict[str, str | None] | None:
        """The complainant as ``who`` may see it: hidden from departments, masked, or in clear (``clear``)."""
        sealed = c.received.complainant if c.received else None
        if sealed is None:
            return None
        if who.role != Role.supervisor:
            return {"name": HIDDEN, "phone": HIDDEN, "id_number": None}
        try:
            p = self.keyring.open(sealed.contact_hash, sealed.sealed, sealed.key_id)
        except PiiError as exc:
            return {"name": f"（无法解密：{exc}）", "phone": "", "id_number": None}
        if clear:
            return {"name": p.name, "phone": p.phone, "id_number": p.id_number}
        return {"name": mask_name(p.name), "phone": mask_phone(p.phone), "id_number": mask_id(p.id_number)}


class ComplaintOut(BaseModel):
    """One complaint as the desk's API answers it (messages only in the answer for one complaint)."""

    complaint_id: str
    status: str
    channel: str | None
    category: str | None
    department_id: str | None
    region_code: str | None
    at: datetime | None
    text: str | None
    complainant: dict[str, str | None] | None = Field(
        description="clear on a supervisor's GET of one complaint, masked in lists, hidden from departments"
    )
    messages: list[dict[str, Any]] = []


class RegisterIn(BaseModel):
    """The body of 登记 (register): the subject the supervisor's bureau settles (department, staff, case, category)."""

    model_config = ConfigDict(extra="forbid")
    department_id: str | None = Field(default=None, pattern=_ID)
    staff_id: str | None = Field(default=None, pattern=_ID)
    case_id: str | None = Field(default=None, pattern=_ID)
    category: Category | None = None


class DispatchIn(BaseModel):
    """The body of 转办 (dispatch): the responsible department and an optional note."""

    model_config = ConfigDict(extra="forbid")
    department_id: str = Field(pattern=_ID)
    note: str | None = Field(default=None, max_length=MAX_TEXT)


class CloseIn(BaseModel):
    """The body of 办结 (close): whether the complaint is substantiated (属实) and the finding."""

    model_config = ConfigDict(extra="forbid")
    substantiated: bool
    finding: str = Field(min_length=1, max_length=MAX_TEXT)


def out(desk: Desk, who: Principal, c: Complaint, detail: bool) -> ComplaintOut:
    """``c`` as ``who`` may see it; ``detail`` adds its messages and opens the complainant for a supervisor."""
    r = c.received
    messages = []
    if detail:
        for m in c.messages:
            d = m.model_dump(mode="json", exclude={"complainant"})
            messages.append(d)
    return ComplaintOut(
        complaint_id=c.complaint_id,
        status=c.status,
        channel=r.channel if r else None,
        category=r.category if r else None,
        department_id=c.department_id,
        region_code=c.region_code,
        at=c.at,
        text=r.text if r else None,
        complainant=desk.contact(who, c, clear=detail),
        messages=messages,
    )


def desk_router(desk: Desk, who_dep: Any, now: Callable[[], datetime]) -> APIRouter:
    """The desk's routes: list and read complaints, register (登记), dispatch (转办), close (办结)."""
    r = APIRouter(tags=["complaints desk"])
    Who = Annotated[Principal, who_dep]

    def visible(complaint_id: str, who: Principal) -> Complaint:
        c = desk.view.get(complaint_id)
        if c is None:
            raise HTTPException(404, "no such complaint")
        if not desk.may_see(who, c):
            raise HTTPException(403, "this complaint belongs to another region or department")
        return c

    def supervisor(who: Principal) -> None:
        if who.role != Role.supervisor:
            raise HTTPException(403, "only a supervisor may do this")

    @r.get("/complaints", summary="Complaints this user may see, newest first (complainants masked)")
    def list_complaints(who: Who, request: Request, limit: int = 200) -> list[ComplaintOut]:
        request.state.action = "list_complaints"
        shown = [c for c in desk.view.all() if desk.may_see(who, c)][: max(1, min(limit, 1000))]
        return [out(desk, who, c, detail=False) for c in shown]

    @r.get(
        "/complaints/{complaint_id}",
        summary="One complaint with its messages; its complainant in clear to a supervisor only (audited)",
    )
    def get_complaint(complaint_id: str, who: Who, request: Request) -> ComplaintOut:
        request.state.action = "view_complaint"
        c = visible(complaint_id, who)
        request.state.audit_detail = {
            "complaint_id": complaint_id,
            "complainant_shown": who.role == Role.supervisor
            and c.received is not None
            and c.received.complainant is not None,
        }
        return out(desk, who, c, detail=True)

    async def act(
        request: Request,
        action: str,
        who: Principal,
        complaint_id: str,
        key: str | None,
        make: Callable[[str], ComplaintMessage],
    ) -> dict[str, Any]:
        request.state.action = action
        supervisor(who)
        visible(complaint_id, who)
        msg = make(message_id(complaint_id, action, key or uuid.uuid4().hex))
        partition, offset = await run_in_threadpool(desk.publish, msg)
        request.state.audit_detail = {
            "complaint_id": complaint_id,
            "message_id": msg.message_id,
            "partition": partition,
            "offset": offset,
        }
        return {"complaint_id": complaint_id, "message_id": msg.message_id, "type": msg.type}

    Key = Annotated[str | None, Header(max_length=128)]

    @r.post("/complaints/{complaint_id}/register", status_code=202, summary="登记: the supervisor's bureau takes it")
    async def register(
        complaint_id: str, body: RegisterIn, who: Who, request: Request, idempotency_key: Key = None
    ) -> dict[str, Any]:
        return await act(
            request,
            "registered",
            who,
            complaint_id,
            idempotency_key,
            lambda mid: Registered(
                message_id=mid,
                complaint_id=complaint_id,
                actor_id=who.username,
                at=now(),
                region_code=who.region_code or "",
                **body.model_dump(),
            ),
        )

    @r.post("/complaints/{complaint_id}/dispatch", status_code=202, summary="转办: to the responsible department")
    async def dispatch(
        complaint_id: str, body: DispatchIn, who: Who, request: Request, idempotency_key: Key = None
    ) -> dict[str, Any]:
        if desk.directory is not None and desk.directory.department(body.department_id) is None:
            raise HTTPException(422, "department_id: not a department of the directory")
        return await act(
            request,
            "dispatched",
            who,
            complaint_id,
            idempotency_key,
            lambda mid: Dispatched(
                message_id=mid, complaint_id=complaint_id, actor_id=who.username, at=now(), **body.model_dump()
            ),
        )

    @r.post("/complaints/{complaint_id}/close", status_code=202, summary="办结: closed, substantiated (属实) or not")
    async def close(
        complaint_id: str, body: CloseIn, who: Who, request: Request, idempotency_key: Key = None
    ) -> dict[str, Any]:
        return await act(
            request,
            "closed",
            who,
            complaint_id,
            idempotency_key,
            lambda mid: Closed(
                message_id=mid, complaint_id=complaint_id, actor_id=who.username, at=now(), **body.model_dump()
            ),
        )

    return r
