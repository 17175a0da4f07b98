"""create_console(): the console's FastAPI app — log-in, sessions, CSRF, audit, error pages; pages in console.pages."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.app import Services, create_app
from api.auth import Principal, Role
from console import labels
from console.session import (
    CsrfRejected,
    Forbidden,
    LoginRequired,
    SessionConfig,
    check_csrf,
    csrf_token,
    current,
    session_middleware,
    start,
)
from schemas.catalog import Catalog
from streams.rules.calendar import WorkCalendar

HERE = Path(__file__).parent
# Polled fragments and static files are not actions: auditing each poll would bury the actions in noise.
_NOT_AUDITED = ("/static/", "/live/", "/healthz")


@dataclass
class Console:
    """What the console runs on: the loop API's services, the calendar, the catalog, the session settings."""

    api: Services  # the loop API's own services: users, findings reader, publisher, auditor, loop config, clock
    calendar: WorkCalendar
    catalog: Catalog
    session: SessionConfig
    bulletins: Path | None = None  # the folder `esup bulletin --out` writes to
    poll_s: float = 5.0  # how often the inbox and the ranking refresh themselves
    api_app: Any = field(default=None, init=False)
    templates: Jinja2Templates = field(init=False)

    def __post_init__(self) -> None:
        self.api_app = create_app(self.api)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(labels=labels)

    def who(self, request: Request) -> Principal:
        """The logged-in principal of ``request``; LoginRequired when the session has none or has been idle too long."""
        return current(request, self.api.auth, self.api.now, self.session.idle_s)

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """A template rendered with the principal, the CSRF token and the poll interval beside ``context``."""
        who = getattr(request.state, "principal", None)
        return self.templates.TemplateResponse(
            request,
            template,
            {"who": who, "csrf": csrf_token(request), "poll_ms": int(self.poll_s * 1000), "Role": Role, **context},
            status_code=status,
        )

    async def call_api(self, request: Request, method: str, path: str, **kw: Any) -> httpx.Response:
        """The loop API's own endpoint, in process: the same validation, publishing and audit as over HTTP."""
        token = request.session.get("token")
        headers = dict(kw.pop("headers", {}))
        if isinstance(token, str):
            headers["Authorization"] = f"Bearer {token}"
        transport = httpx.ASGITransport(app=self.api_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.internal") as client:
            return await client.request(method, path, headers=headers, **kw)


def create_console(c: Console) -> FastAPI:
    """The console's app: sessions, CSRF, security headers and audit on every request, log-in, error pages, pages."""
    app = FastAPI(
        title="esup console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        middleware=[session_middleware(c.session)],
        dependencies=[Depends(check_csrf)],
    )
    app.state.console = c
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def audit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.update(
            {
                "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin",
                "Cache-Control": "no-store",
            }
        )
        path = request.url.path
        if not path.startswith(_NOT_AUDITED):
            who: Principal | None = getattr(request.state, "principal", None)
            actor = getattr(request.state, "actor", None) or (who.username if who else "")
            # Like the API: written before the answer leaves; an action that cannot be audited fails.
            await run_in_threadpool(
                c.api.auditor.record,
                at=c.api.now(),
                actor=actor,
                role=who.role.value if who else "",
                action="console:" + (getattr(request.state, "action", "") or path),
                method=request.method,
                path=path,
                finding_id=str(request.scope.get("path_params", {}).get("finding_id", "")),
                status=response.status_code,
                detail=getattr(request.state, "audit_detail", {}),
            )
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return c.page(request, "error.html", 403, title="无权访问", message=str(exc) or "该页面属于其他部门或地区。")

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
        request.state.action = "csrf_rejected"
        return c.page(
            request,
            "error.html",
            403,
            title="请求被拒绝",
            message="表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。",
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        title = {404: "未找到", 405: "不允许的操作"}.get(exc.status_code, "出错了")
        return c.page(request, "error.html", exc.status_code, title=title, message=str(exc.detail))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> HTMLResponse:
        return c.page(request, "login.html", next=next, error=None)

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await request.form()
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        target = str(form.get("next", "/"))
        request.state.action, request.state.actor = "login", username[:64]
        answer = await c.call_api(request, "POST", "/auth/token", json={"username": username, "password": password})
        if answer.status_code != 200:
            request.state.audit_detail = {"result": "refused"}
            return c.page(request, "login.html", 401, next=target, error="用户名或密码错误")
        start(request, answer.json()["access_token"], c.api.now().timestamp())
        c.who(request)
        # Only a path of this site: an open redirect would hand the fresh session's user to anyone's page.
        safe = target if target.startswith("/") and not target.startswith("//") else "/"
        return RedirectResponse(safe, status_code=303)

    @app.post("/logout")
    def logout(request: Request) -> Response:
        request.state.action = "logout"
        with contextlib.suppress(LoginRequired):
            c.who(request)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    from console import complaints, pages

    pages.register(app, c)
    complaints.register(app, c)
    return app
