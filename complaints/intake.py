"""The complaint intake over HTTP: the public form (Simplified Chinese, no log-in, abuse-guarded) and the 12345 hotline.

Mounted by the loop API (api/app.py, `esup api serve`) when it is given an :class:`Intake`. Each accepted complaint
is one `received` message on esup.complaints, the complainant sealed (complaints/pii.py); the API's audit
middleware records every POST (actor ``public`` or ``hotline-token:<id>``, never the complainant).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from complaints import formtoken
from complaints.contract import Category, ComplaintMessage, to_wire
from complaints.forms import Invalid, Problem, Submission, form_submission, hotline_submission, parse_form
from complaints.pii import Keyring
from complaints.view import STATUS
from esup.ratelimit import RateLimiter
from esup.tokens import TokenStore
from streams.rules.calendar import TZ

ACK_TIMEOUT_S = 30.0
FORM = "/complaints/form"
HOTLINE = "/complaints/hotline"
STATUS_PATH = "/complaints/status"
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
CATEGORY_LABELS = {
    Category.efficiency: "办事效率（拖延、推诿）",
    Category.attitude: "服务态度（门难进、脸难看、事难办）",
    Category.fees: "收费（无依据收费、超标准收费）",
    Category.misconduct: "吃拿卡要、索贿受贿",
    Category.other: "其他",
}
_TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
bearer = HTTPBearer(auto_error=False, description="a hotline token from `esup complaints hotline-token add SYSTEM`")


@dataclass
class Intake:
    """What the intake needs: keyring, producer and topic, form secret, hotline tokens, rate limits, size limit."""

    keyring: Keyring
    producer: Any  # kafka-python, acks=all, logged in as the API's principal (esup-api writes esup.complaints)
    topic: str
    form_secret: bytes  # signs the form tokens and derives the receipt numbers
    hotline_tokens: TokenStore
    form_limiter: RateLimiter  # per source address
    hotline_limiter: RateLimiter  # per hotline system
    max_body_bytes: int = 32 * 1024
    departments: Callable[[], list[tuple[str, str]]] = list  # (id, name) for the form's choice; [] → free text
    seen: formtoken.Seen = field(default_factory=formtoken.Seen)
    # complaint id → its status code (complaints.view.STATUS), for the citizen's look-up by receipt number
    status_of: Callable[[str], str | None] | None = None

    def publish(self, msg: ComplaintMessage) -> tuple[int, int]:
        """Keyed by complaint id; waits for every in-sync replica. (partition, offset)."""
        meta = self.producer.send(self.topic, key=msg.complaint_id.encode(), value=to_wire(msg)).get(ACK_TIMEOUT_S)
        return meta.partition, meta.offset


def _source(request: Request, secret: bytes) -> str:
    """The sender's address as a keyed hash: enough to follow abuse in the audit, not an IP address kept."""
    host = request.client.host if request.client else "unknown"
    return hmac.new(secret, host.encode(), hashlib.sha256).hexdigest()[:16]


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is (or claims to be) larger than the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    raw = bytearray()
    async for chunk in request.stream():  # a body without (or lying about) its length is cut off too
        raw += chunk
        if len(raw) > limit:
            return None
    return bytes(raw)


def intake_router(intake: Intake, now: Callable[[], datetime]) -> APIRouter:
    """The intake's routes: the public form (GET, POST), the status page by receipt number, the 12345 hotline."""
    r = APIRouter(tags=["complaints intake"])

    def page(
        request: Request, status: int, template: str, headers: dict[str, str] | None = None, **context: Any
    ) -> HTMLResponse:
        context.setdefault("values", {})
        context.setdefault("errors", {})
        return _TEMPLATES.TemplateResponse(
            request,
            template,
            {
                "categories": CATEGORY_LABELS,
                "departments": intake.departments(),
                "statuses": STATUS,
                "token": formtoken.issue(intake.form_secret, now().timestamp()),
                **context,
            },
            status_code=status,
            headers={**_HEADERS, **(headers or {})},
        )

    def refused(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
        request.state.audit_detail = {**getattr(request.state, "audit_detail", {}), "refused": message}
        return page(request, status, "complaint_refused.html", headers, message=message)

    @r.get(FORM, response_class=HTMLResponse, summary="The public complaint form (投诉表单)")
    def form(request: Request) -> HTMLResponse:
        request.state.unaudited = True  # a page view is not an action; the submissions are audited
        return page(request, 200, "complaint_form.html")

    @r.post(
        FORM,
        response_class=HTMLResponse,
        summary="Submit the public form; the answer shows the receipt number",
        responses={
            400: {"description": "a field is wrong (named on the page)"},
            413: {"description": "too big"},
            429: {"description": "too many from this source"},
        },
    )
    async def submit(request: Request) -> Response:
        request.state.action, request.state.actor, request.state.role = "complaint.submit", "public", "public"
        request.state.audit_detail = {"source": _source(request, intake.form_secret), "channel": "web"}
        origin = request.headers.get("origin")  # (Referrer-Policy same-origin: a browser sends ours, not "null")
        if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
            return refused(request, 403, "请从本站的投诉页面提交。")
        wait = intake.form_limiter.take(request.state.audit_detail["source"])
        if wait:
            minutes = max(1, round(wait / 60))
            return refused(
                request,
                429,
                f"提交过于频繁，请约 {minutes} 分钟后再试。",
                {"Retry-After": RateLimiter.retry_after(wait)},
            )
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return refused(request, 415, "请使用本页面的表单提交。")
        raw = await read_body(request, intake.max_body_bytes)
        if raw is None:
            return refused(request, 413, f"提交的内容过长（最多 {intake.max_body_bytes // 1024} KB）。")
        try:
            fields = parse_form(raw)
        except Invalid as exc:
            return invalid(request, exc.problems, {})
        token = formtoken.check(intake.form_secret, fields.get("form_token", ""), now().timestamp())
        if token is None:
            return invalid(request, [Problem("form_token", "页面已过期或不是从本站打开的，请核对后重新提交")], fields)
        nonce, issued = token
        done = intake.seen.get(nonce)
        if done is not None:  # the same page submitted again: the same receipt, nothing published twice
            return page(request, 200, "complaint_receipt.html", complaint_id=done)
        try:
            sub = form_submission(fields)
        except Invalid as exc:
            return invalid(request, exc.problems, fields)
        day = datetime.fromtimestamp(issued, TZ).strftime("%Y%m%d")
        complaint_id = formtoken.receipt_number(intake.form_secret, f"TS{day}-", nonce)
        sent = await accept(request, sub, complaint_id, nonce, "public-form")
        if sent is None:
            return refused(request, 503, "系统暂时无法受理，请稍后再试（您的投诉尚未提交）。", {"Retry-After": "5"})
        intake.seen.put(nonce, complaint_id)
        return page(request, 200, "complaint_receipt.html", complaint_id=complaint_id)

    def invalid(request: Request, problems: list[Problem], values: dict[str, str]) -> HTMLResponse:
        request.state.audit_detail = {**request.state.audit_detail, "invalid": [p.field for p in problems]}
        return page(
            request,
            400,
            "complaint_form.html",
            errors={p.field: p.reason for p in problems},
            values={k: v for k, v in values.items() if k != "form_token"},
        )

    async def accept(request: Request, sub: Submission, complaint_id: str, key: str, actor: str) -> str | None:
        msg = sub.received(complaint_id=complaint_id, request_key=key, actor=actor, at=now(), keyring=intake.keyring)
        try:
            partition, offset = await run_in_threadpool(intake.publish, msg)
        except Exception as exc:  # Kafka did not take it: the sender is told to retry
            request.state.audit_detail = {**request.state.audit_detail, "error": type(exc).__name__}
            return None
        request.state.audit_detail = {
            **request.state.audit_detail,
            "complaint_id": complaint_id,
            "message_id": msg.message_id,
            "partition": partition,
            "offset": offset,
        }
        return msg.message_id

    @r.get(STATUS_PATH, response_class=HTMLResponse, summary="A complaint's status by its receipt number (查询)")
    def status(request: Request, id: str = "") -> HTMLResponse:
        request.state.unaudited = True
        if intake.status_of is None or not id:
            return page(request, 200, "complaint_status.html", complaint_id=id[:64], state=None)
        # A look-up costs a quarter of a submission: receipt numbers are unguessable, this keeps them so.
        wait = intake.form_limiter.take(_source(request, intake.form_secret), cost=0.25)
        if wait:
            return refused(
                request,
                429,
                f"查询过于频繁，请约 {max(1, round(wait / 60))} 分钟后再试。",
                {"Retry-After": RateLimiter.retry_after(wait)},
            )
        return page(request, 200, "complaint_status.html", complaint_id=id[:64], state=intake.status_of(id[:64]))

    @r.post(
        HOTLINE,
        status_code=202,
        summary="A 12345 hotline work order (JSON; its own bearer token)",
        responses={
            400: {"description": "a field is wrong (each named)"},
            401: {"description": "no token"},
            413: {"description": "too big"},
            415: {"description": "not JSON"},
            429: {"description": "the system's rate is exceeded"},
            503: {"description": "retry"},
        },
    )
    async def hotline(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Any:  # noqa: B008
        request.state.action, request.state.role = "complaint.hotline", "hotline"
        record = await run_in_threadpool(intake.hotline_tokens.verify, creds.credentials) if creds else None
        if record is None:
            request.state.actor = "anonymous"
            return problem(401, "a hotline bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        request.state.actor = f"hotline-token:{record.token_id}"
        request.state.audit_detail = {"system": record.department_id, "channel": "hotline"}
        wait = intake.hotline_limiter.take(record.department_id)
        if wait:
            return problem(
                429,
                f"more than {intake.hotline_limiter.rate:g} requests/s",
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return problem(415, "send application/json")
        raw = await read_body(request, intake.max_body_bytes)
        if raw is None:
            return problem(413, f"body over {intake.max_body_bytes} bytes")
        try:
            ticket, sub = hotline_submission(raw, intake.max_body_bytes)
        except Invalid as exc:
            request.state.audit_detail["invalid"] = [p.field for p in exc.problems]
            return problem(400, "; ".join(map(str, exc.problems)), exc.problems)
        complaint_id = formtoken.receipt_number(intake.form_secret, "HL-", f"{record.department_id}\x1f{ticket}")
        sent = await accept(request, sub, complaint_id, ticket, request.state.actor)
        if sent is None:
            return problem(
                503,
                "Kafka did not acknowledge the complaint: resend it (same ticket_id, same complaint)",
                headers={"Retry-After": "1"},
            )
        return {"complaint_id": complaint_id, "message_id": sent, "ticket_id": ticket}

    return r


def problem(status: int, detail: str, problems: Sequence[Problem] = (), headers: dict[str, str] | None = None) -> Any:
    """A JSON error answer: the detail and, for each problem, its field and reason."""
    body = {"detail": detail, "errors": [{"field": p.field, "reason": p.reason} for p in problems]}
    return JSONResponse(body, status_code=status, headers=headers)
