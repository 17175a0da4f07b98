"""create_app(): the FastAPI service for responses and decisions; OpenAPI at /openapi.json, docs at /docs."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, and `Who` is local.

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from api.audit import Auditor
from api.auth import Authenticator, Principal, Role, now
from api.directory import Accountable, Directory, accountable
from api.store import FindingsReader, Publisher
from complaints.desk import Desk, desk_router
from complaints.intake import Intake, intake_router
from loop.config import LoopConfig
from loop.contract import (
    Attachment,
    Decision,
    DismissalReason,
    Outcome,
    RecommendationReport,
    ResponseKind,
    TargetKind,
    message_id,
)
from loop.contract import Response as LoopResponse
from schemas.findings import Finding


@dataclass
class Services:
    """What the API works with: authentication, findings, publishing, audit, loop configuration, directory, clock."""

    auth: Authenticator
    findings: FindingsReader
    publisher: Publisher
    auditor: Auditor
    loop: LoopConfig
    directory: Directory | None = None
    now: Callable[[], datetime] = now  # Asia/Shanghai, aware
    intake: Intake | None = None  # the complaint intake (public form, 12345 hotline): complaints/intake.py
    desk: Desk | None = None  # the supervisors' complaint desk: complaints/desk.py


class Login(BaseModel):
    """POST /auth/token's body: a user name and password."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class Token(BaseModel):
    """A bearer token for the Authorization header."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret


class ResponseIn(BaseModel):
    """A department's response to a finding (说明理由, 整改情况 or 申诉), with its attachments."""

    model_config = ConfigDict(extra="forbid")
    kind: ResponseKind
    text: str = Field(min_length=1, max_length=20_000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)


class ReportIn(BaseModel):
    """A department's report on how it followed a supervisor's recommendation, with its attachments."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)


class DecisionIn(BaseModel):
    """A supervisor's decision on a finding; the fields beyond outcome and reason depend on the outcome."""

    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    reason: str = Field(min_length=1, max_length=5_000)
    dismissal_reason: DismissalReason | None = None
    recommendation: str | None = Field(default=None, max_length=20_000)
    report_within_wd: int | None = Field(default=None, ge=1, le=60)
    measure: str | None = Field(default=None, max_length=64)
    target_kind: TargetKind | None = None
    target_id: str | None = Field(default=None, max_length=64)


class Accepted(BaseModel):
    """A loop message accepted onto Kafka: its id, its finding, and where it was written."""

    message_id: str
    finding_id: str
    partition: int
    offset: int


class FindingView(BaseModel):
    """One finding with who answers for it (names from the directory) and its loop messages so far."""

    finding: Finding
    accountable: Accountable
    messages: list[dict[str, Any]]


class FindingItem(Finding):
    """A finding in a list, with who answers for it: the responsible staff, the department and its head, named."""

    accountable: Accountable


_bearer = HTTPBearer(auto_error=False, description="a token from POST /auth/token")
_NOT_AUDITED = ("/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")


def create_app(services: Services) -> FastAPI:
    """The loop API: login, findings by the caller's scope, responses, recommendation reports and decisions; audited."""
    app = FastAPI(
        title="esup loop API",
        version="1",
        description="Responses (说明理由/整改情况/申诉), decisions and recommendation reports on findings.",
    )
    app.state.services = services

    @app.middleware("http")
    async def audit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if request.url.path not in _NOT_AUDITED and not getattr(request.state, "unaudited", False):
            who: Principal | None = getattr(request.state, "principal", None)
            # Written before the answer leaves (in a thread: the driver blocks); an unauditable action fails.
            # Callers that are not users (the public form, a hotline system) name themselves in request.state.
            await run_in_threadpool(
                services.auditor.record,
                at=services.now(),
                actor=getattr(request.state, "actor", None) or (who.username if who else ""),
                role=getattr(request.state, "role", None) or (who.role.value if who else ""),
                action=getattr(request.state, "action", "") or request.url.path,
                method=request.method,
                path=request.url.path,
                finding_id=str(request.scope.get("path_params", {}).get("finding_id", "")),
                status=response.status_code,
                detail=getattr(request.state, "audit_detail", {}),
            )
        return response

    def principal(
        request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        who = services.auth.verify(creds.credentials, services.now()) if creds else None
        if who is None:
            raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
        request.state.principal = who
        return who

    Who = Annotated[Principal, Depends(principal)]

    def named(f: Finding) -> Accountable:
        return accountable(services.directory, f.staff_id, f.department_id)

    def visible_finding(finding_id: str, who: Principal) -> Finding:
        f = services.findings.get(finding_id)
        if f is None:
            raise HTTPException(404, "no such finding")
        if not who.may_see(f):
            raise HTTPException(403, "this finding belongs to another department or region")
        return f

    def need(who: Principal, role: Role) -> None:
        if who.role != role:
            raise HTTPException(403, f"only a {role.value} user may do this")

    def request_key(key: str | None) -> str:
        return key or uuid.uuid4().hex

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/auth/token", tags=["auth"], responses={401: {"description": "wrong user or password"}})
    def token(body: Login, request: Request) -> Token:
        request.state.action = "login"
        request.state.audit_detail = {"username": body.username}
        issued = services.auth.login(body.username, body.password, services.now())
        if issued is None:
            raise HTTPException(401, "wrong user or password", headers={"WWW-Authenticate": "Bearer"})
        return Token(access_token=issued)

    @app.get("/findings", tags=["findings"], responses={401: {"description": "no credentials"}})
    def list_findings(who: Who, request: Request, limit: int = 100) -> list[FindingItem]:
        request.state.action = "list_findings"
        limit = max(1, min(limit, 1000))
        if who.role == Role.department:
            found = services.findings.visible(who.department_id, None, limit)
        else:
            found = services.findings.visible(None, who.region_prefix(), limit)
        return [FindingItem(**dict(f), accountable=named(f)) for f in found]

    @app.get(
        "/findings/{finding_id}",
        tags=["findings"],
        responses={
            401: {"description": "no credentials"},
            403: {"description": "not yours"},
            404: {"description": "unknown"},
        },
    )
    def get_finding(finding_id: str, who: Who, request: Request) -> FindingView:
        request.state.action = "view_finding"
        f = visible_finding(finding_id, who)
        return FindingView(finding=f, accountable=named(f), messages=services.findings.messages(finding_id))

    def accepted(request: Request, msg: LoopResponse | Decision | RecommendationReport) -> Accepted:
        partition, offset = services.publisher.publish(msg)
        request.state.audit_detail = {"message_id": msg.message_id, "partition": partition, "offset": offset}
        return Accepted(message_id=msg.message_id, finding_id=msg.finding_id, partition=partition, offset=offset)

    errors: dict[int | str, dict[str, Any]] = {
        401: {"description": "no credentials"},
        403: {"description": "not yours, or not your role"},
        404: {"description": "unknown finding"},
    }

    @app.post("/findings/{finding_id}/responses", status_code=202, tags=["loop"], responses=errors)
    def respond(
        finding_id: str,
        body: ResponseIn,
        who: Who,
        request: Request,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> Accepted:
        request.state.action = "respond"
        need(who, Role.department)
        f = visible_finding(finding_id, who)
        msg = LoopResponse(
            message_id=message_id(finding_id, "response", request_key(idempotency_key)),
            finding_id=finding_id,
            actor_id=who.username,
            at=services.now(),
            kind=body.kind,
            department_id=f.department_id,
            text=body.text,
            attachments=body.attachments,
        )
        return accepted(request, msg)

    @app.post("/findings/{finding_id}/recommendation-reports", status_code=202, tags=["loop"], responses=errors)
    def report(
        finding_id: str,
        body: ReportIn,
        who: Who,
        request: Request,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> Accepted:
        request.state.action = "report_recommendation"
        need(who, Role.department)
        f = visible_finding(finding_id, who)
        msg = RecommendationReport(
            message_id=message_id(finding_id, "recommendation_report", request_key(idempotency_key)),
            finding_id=finding_id,
            actor_id=who.username,
            at=services.now(),
            department_id=f.department_id,
            text=body.text,
            attachments=body.attachments,
        )
        return accepted(request, msg)

    @app.post(
        "/findings/{finding_id}/decisions",
        status_code=202,
        tags=["loop"],
        responses={**errors, 422: {"description": "invalid decision"}},
    )
    def decide(
        finding_id: str,
        body: DecisionIn,
        who: Who,
        request: Request,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> Accepted:
        request.state.action = "decide"
        need(who, Role.supervisor)
        f = visible_finding(finding_id, who)
        if body.outcome == Outcome.accountability:
            check_target(services, f, body)
        try:
            msg = Decision(
                message_id=message_id(finding_id, "decision", request_key(idempotency_key)),
                finding_id=finding_id,
                actor_id=who.username,
                at=services.now(),
                **body.model_dump(),
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return accepted(request, msg)

    if services.intake is not None:  # before the desk: /complaints/form is not a complaint id
        app.include_router(intake_router(services.intake, services.now))
    if services.desk is not None:
        app.include_router(desk_router(services.desk, Depends(principal), services.now))
    return app


def check_target(services: Services, f: Finding, body: DecisionIn) -> None:
    """The measure is one of the configured list; the target belongs to the finding's department."""
    if body.measure is None or services.loop.measure_label(body.measure) is None:
        codes = ", ".join(m.code for m in services.loop.measures)
        raise HTTPException(422, f"measure: expected one of {codes}")
    d = services.directory
    if d is None or body.target_id is None:
        return
    if body.target_kind == TargetKind.department and body.target_id != f.department_id:
        raise HTTPException(422, "target_id: not the finding's department")
    if body.target_kind == TargetKind.staff:
        s = d.staff(body.target_id)
        if s is None or s.department_id != f.department_id:
            raise HTTPException(422, "target_id: not a staff member of the finding's department")
    if body.target_kind == TargetKind.head:
        dept = d.department(f.department_id)
        if dept is None or dept.head_staff_id != body.target_id:
            raise HTTPException(422, "target_id: not the head of the finding's department")
