"""create_app(): the HTTP ingestion gateway for department systems that cannot speak Kafka (OpenAPI at /docs)."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from esup.ratelimit import RateLimiter
from esup.tokens import TokenRecord, TokenStore
from gateway.audit import GatewayAuditor
from gateway.body import Problem, parse_body
from schemas.events import EVENT_ADAPTER, CaseEvent, event_to_json

ACK_TIMEOUT_S = 30.0


@dataclass
class GatewayServices:
    """What the gateway works with: tokens, the Kafka producer and topic, audit, rate limits, body size, clock."""

    tokens: TokenStore
    producer: Any  # kafka-python, acks=all, logged in as esup.kafka_auth.GATEWAY
    topic: str  # case events: the gateway has bound each event to its token's department already
    auditor: GatewayAuditor
    limiter: RateLimiter
    max_body_bytes: int
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


class ProblemOut(BaseModel):
    """One problem of a refused body: the line or element, the field, and why."""

    line: int | None = None
    field: str | None = None
    reason: str


class ErrorOut(BaseModel):
    """A refused request: what went wrong and, for a bad body, its problems."""

    detail: str
    errors: list[ProblemOut] = []
    error_count: int = 0


class AcceptedOut(BaseModel):
    """The accepted events' ids and how many."""

    accepted: list[str]
    count: int


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": why}
    for code, why in [
        (400, "a line or field breaks the contract (each named, with the reason); nothing was published"),
        (401, "no token, or not an active department token"),
        (403, "an event names another department than the token's; nothing was published"),
        (413, "the body is larger than the gateway accepts"),
        (429, "the department's rate is exceeded; retry after Retry-After seconds"),
        (503, "Kafka did not acknowledge every event; resend the batch (idempotent by event id)"),
    ]
}
_EVENT_LIST = {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/CaseEvent"}}
_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _EVENT_LIST},
        "application/x-ndjson": {"schema": {"type": "string", "description": "one event per line"}},
    },
}
bearer = HTTPBearer(auto_error=False, description="a department token from `esup gateway token add DEPT`")


def _error(
    status: int, detail: str, problems: Sequence[Problem] = (), total: int = 0, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorOut(detail=detail, errors=[ProblemOut(**asdict(p)) for p in problems], error_count=total)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def create_app(services: GatewayServices) -> FastAPI:
    """The gateway app: POST /v1/events with a department's token; each accepted or refused request is audited."""
    app = FastAPI(
        title="esup ingestion gateway",
        version="1",
        description="Case events from department systems that cannot speak Kafka. Each token belongs "
        "to one department; every event must name it (docs/gateway.md).",
    )
    app.state.services = services
    s = services
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    async def audited(status: int, record: TokenRecord | None, detail: dict[str, Any]) -> None:
        future = s.auditor.record(
            at=s.now(),
            department_id=record.department_id if record else None,
            token_id=record.token_id if record else None,
            status=status,
            detail=detail,
        )
        try:
            await run_in_threadpool(future.get, ACK_TIMEOUT_S)
        except Exception as exc:  # credential use that cannot be audited is refused
            raise HTTPException(
                503, f"the audit log is unavailable ({type(exc).__name__})", headers={"Retry-After": "5"}
            ) from None

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=AcceptedOut,
        responses=_ERRORS,
        openapi_extra={"requestBody": _BODY},
        summary="Publish a batch of case events",
    )
    async def post_events(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Any:  # noqa: B008
        """A JSON array or JSON Lines of case events of the token's department. 202 only once Kafka has
        every event (acks=all); a batch is published whole or not at all; re-sending is harmless."""
        record = await run_in_threadpool(s.tokens.verify, creds.credentials) if creds else None
        if record is None:
            await audited(401, None, {"reason": "no token" if creds is None else "unknown or revoked token"})
            return _error(401, "a department's bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        dept = record.department_id
        wait = s.limiter.take(dept)
        if wait:
            await audited(429, record, {"retry_after_s": round(wait, 3)})
            return _error(
                429,
                f"department {dept}: more than {s.limiter.rate:g} requests/s",
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > s.max_body_bytes:
            await audited(413, record, {"bytes": int(declared)})
            return _error(413, f"body of {declared} bytes; at most {s.max_body_bytes}")
        raw = bytearray()
        async for chunk in request.stream():  # a body without (or lying about) its length is cut off too
            raw += chunk
            if len(raw) > s.max_body_bytes:
                await audited(413, record, {"bytes": len(raw)})
                return _error(413, f"body over {s.max_body_bytes} bytes")
        events, problems, total = await run_in_threadpool(parse_body, bytes(raw), s.max_body_bytes)
        if problems:
            await audited(400, record, {"events": len(events) + total, "rejected": total})
            return _error(400, f"{total} event(s) break the contract; nothing was published", problems, total)
        foreign = [(n, e) for n, e in enumerate(events, start=1) if e.department_id != dept]
        if foreign:
            shown = [
                Problem(
                    n,
                    "department_id",
                    f"department_id: {e.department_id!r} claimed with department {dept}'s token {record.token_id}",
                )
                for n, e in foreign[:100]
            ]
            await audited(403, record, {"events": len(events), "foreign": len(foreign)})
            return _error(
                403, f"{len(foreign)} event(s) name another department than the token's ({dept})", shown, len(foreign)
            )
        failed = await run_in_threadpool(_publish, s.producer, s.topic, events)
        if failed:
            await audited(503, record, {"events": len(events), "not_acknowledged": len(failed)})
            return _error(
                503,
                f"Kafka did not acknowledge {len(failed)} event(s): resend the batch",
                [Problem(None, "event_id", f"{i}: {why}") for i, why in failed[:100]],
                len(failed),
                headers={"Retry-After": "1"},
            )
        await audited(202, record, {"events": len(events), "accepted": len(events), "bytes": len(raw)})
        return AcceptedOut(accepted=[e.event_id for e in events], count=len(events))

    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the case-event contract (schemas.events) as the body's item schema."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        event = EVENT_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(event.pop("$defs", {}))
        schemas["CaseEvent"] = event
        app.openapi_schema = doc
    return app.openapi_schema


def _publish(producer: Any, topic: str, events: list[CaseEvent]) -> list[tuple[str, str]]:
    """Send every event keyed by its case id and wait for each acknowledgement; (event id, why) of failures."""
    futures = [
        (e.event_id, producer.send(topic, key=e.case_id.encode(), value=event_to_json(e).encode())) for e in events
    ]
    producer.flush(timeout=ACK_TIMEOUT_S)
    failed = []
    for event_id, future in futures:
        try:
            future.get(timeout=ACK_TIMEOUT_S)
        except Exception as exc:  # the future re-raises the broker's or the client's error
            failed.append((event_id, f"{type(exc).__name__}: {str(exc)[:200]}"))
    return failed
