"""The console's complaint desk: the list, one complaint with its messages, and the supervisor's actions.

Every read and action goes through the API's desk (complaints/desk.py) in process, so the same rules hold: the
complainant is opened only for a supervisor, a department sees only what was dispatched to it, all is audited.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import Role
from complaints.intake import CATEGORY_LABELS
from complaints.view import STATUS
from console.app import Console
from console.session import Forbidden

CHANNEL = {"web": "网上投诉", "hotline": "12345 热线", "letter": "来信", "in_person": "来访"}
ACTIONS = {"register": "登记", "dispatch": "转办", "close": "办结"}


def _error(answer: Any) -> str:
    try:
        detail = answer.json().get("detail")
    except ValueError:
        detail = answer.text
    if isinstance(detail, list):
        detail = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)
    return f"提交失败（{answer.status_code}）：{detail}"


def register(app: FastAPI, c: Console) -> None:
    """Add the complaint desk's pages and actions (投诉处理) to ``app``; 404 while the API has no desk."""

    def enabled() -> None:
        if c.api.desk is None:
            raise HTTPException(404, "投诉受理台未启用（esup console 需要 esup.complaints 的读权限）")

    def labels() -> dict[str, Any]:
        return {
            "status_label": STATUS,
            "channel_label": CHANNEL,
            "category_label": {k.value: v for k, v in CATEGORY_LABELS.items()},
        }

    async def one(request: Request, complaint_id: str) -> dict[str, Any]:
        enabled()
        answer = await c.call_api(request, "GET", f"/complaints/{quote(complaint_id, safe='')}")
        if answer.status_code == 404:
            raise HTTPException(404, "没有这件投诉")
        if answer.status_code == 403:
            raise Forbidden("这件投诉不在您的范围内。")
        answer.raise_for_status()
        return dict(answer.json())

    @app.get("/complaints", response_class=HTMLResponse)
    async def complaints(request: Request) -> HTMLResponse:
        who = c.who(request)
        request.state.action = "view_complaints"
        enabled()
        answer = await c.call_api(request, "GET", "/complaints")
        answer.raise_for_status()
        return c.page(request, "complaints.html", rows=answer.json(), mine=who.role == Role.department, **labels())

    async def complaint_page(
        request: Request, complaint_id: str, status: int = 200, error: str | None = None
    ) -> HTMLResponse:
        return c.page(
            request,
            "complaint.html",
            status,
            x=await one(request, complaint_id),
            error=error,
            sent=ACTIONS.get(request.query_params.get("sent", "")),
            key=uuid.uuid4().hex,
            categories=CATEGORY_LABELS,
            **labels(),
        )

    @app.get("/complaints/{complaint_id}", response_class=HTMLResponse)
    async def complaint(complaint_id: str, request: Request) -> HTMLResponse:
        c.who(request)
        request.state.action = "view_complaint"
        return await complaint_page(request, complaint_id)

    @app.post("/complaints/{complaint_id}/{action}")
    async def act(complaint_id: str, action: str, request: Request) -> Response:
        who = c.who(request)
        request.state.action = f"complaint_{action}"
        if action not in ACTIONS:
            raise HTTPException(404, "没有这个操作")
        if who.role != Role.supervisor:
            raise Forbidden("只有监察人员可以登记、转办和办结投诉。")
        form = await request.form()
        value = {k: str(v).strip() for k, v in form.items() if k not in ("csrf", "key") and str(v).strip()}
        body: dict[str, Any] = value
        if action == "close":
            body = {"substantiated": value.get("substantiated") == "yes", "finding": value.get("finding", "")}
        answer = await c.call_api(
            request,
            "POST",
            f"/complaints/{quote(complaint_id, safe='')}/{action}",  # the id is the visitor's: quoted
            json=body,
            headers={"Idempotency-Key": str(form.get("key", ""))[:128] or uuid.uuid4().hex},
        )
        request.state.audit_detail = {"api_status": answer.status_code, "complaint_id": complaint_id}
        if answer.status_code == 202:
            return RedirectResponse(f"/complaints/{complaint_id}?sent={action}", status_code=303)
        if answer.status_code == 403:
            raise Forbidden(_error(answer))
        return await complaint_page(
            request, complaint_id, 400 if answer.status_code == 422 else answer.status_code, _error(answer)
        )
