"""The console's pages: inbox, finding, case, queue, department, staff, ranking, bulletins (and their actions)."""

from __future__ import annotations

import logging
import re
import tempfile
import uuid
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.auth import Principal, Role
from api.store import READONLY
from bulletin.data import months_back
from console import queries
from console.app import Console
from console.charts import trend_svg
from console.deadlines import countdown
from console.session import Forbidden
from loop import dossier
from loop.basis import of_files
from schemas.scoring import load_scoring
from sinks import case_view
from sinks.fair_reader import fair_entries
from sinks.fair_table import EXPLAIN_ZH
from sinks.rankings import fetch, with_names
from streams.rules.calendar import local_date

log = logging.getLogger("esup.console")
_BULLETIN = re.compile(r"^bulletin-\d{4}-\d{2}(-\d{6})?\.(html|pdf)$")


def register(app: FastAPI, c: Console) -> None:
    """Add the console's pages and their actions (inbox, finding, case, queue, ranking, bulletins...) to ``app``."""
    reader = c.api.findings
    # The console's dossiers recompute with the catalog and calendar it was started with (esup console --catalog).
    basis = of_files(c.catalog, c.calendar, "the console's --catalog")
    pending = load_scoring().pending_findings_count  # the default model's: what the score views count

    def today() -> date:
        return local_date(c.api.now())

    def month() -> date:
        return today().replace(day=1)

    def department_region(department_id: str) -> str | None:
        d = c.api.directory.department(department_id) if c.api.directory else None
        if d is not None:
            return d.region_code
        rows = reader.client.execute(
            "SELECT region_code FROM directory_departments FINAL WHERE id = %(d)s AND deleted = 0",
            {"d": department_id},
            settings=READONLY,
        )
        return str(rows[0][0]) if rows else None

    def staff_department(staff_id: str) -> str | None:
        s = c.api.directory.staff(staff_id) if c.api.directory else None
        if s is not None:
            return s.department_id
        rows = reader.client.execute(
            "SELECT department FROM directory_staff FINAL WHERE id = %(s)s AND deleted = 0",
            {"s": staff_id},
            settings=READONLY,
        )
        return str(rows[0][0]) if rows else None

    def may_see_department(who: Principal, department_id: str) -> bool:
        if who.role == Role.department:
            return who.department_id == department_id
        region = department_region(department_id)
        return region is not None and region.startswith(who.region_prefix())

    def ranking_region(who: Principal) -> str | None:
        if who.role == Role.supervisor:
            return who.region_code
        return department_region(who.department_id or "")

    def finding_or_403(finding_id: str, who: Principal) -> Any:
        f = reader.get(finding_id)
        if f is None:
            raise HTTPException(404, "没有这条预警")
        if not who.may_see(f):
            raise Forbidden("这条预警属于其他部门或地区。")
        return f

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        who = c.who(request)
        return RedirectResponse("/inbox" if who.role == Role.department else "/queue", status_code=303)

    def inbox_rows(who: Principal) -> list[dict[str, Any]]:
        severities = [s.value for s in c.api.loop.response_wd]
        out = []
        for f in queries.inbox(reader, who.department_id or "", severities):
            out.append({"f": f, "due": countdown(f.detected_at, f.severity.value, today(), c.api.loop, c.calendar)})
        return sorted(out, key=lambda r: (r["due"].last_day if r["due"] else date.max, r["f"].detected_at))

    @app.get("/inbox", response_class=HTMLResponse)
    def inbox(request: Request) -> Response:
        who = c.who(request)
        request.state.action = "view_inbox"
        if who.role != Role.department:
            return RedirectResponse("/queue", status_code=303)
        return c.page(request, "inbox.html", rows=inbox_rows(who), today=today())

    @app.get("/live/inbox", response_class=HTMLResponse)
    def live_inbox(request: Request) -> Response:
        who = c.who(request)
        if who.role != Role.department:
            raise Forbidden("只有部门用户有待办。")
        return c.page(request, "_inbox_rows.html", rows=inbox_rows(who))

    def finding_page(
        request: Request, who: Principal, finding_id: str, status: int = 200, error: str | None = None
    ) -> HTMLResponse:
        f = finding_or_403(finding_id, who)
        doc = dossier.build(reader.client, finding_id, basis, c.api.loop)
        evidence = set(f.evidence_event_ids)
        return c.page(
            request,
            "finding.html",
            status,
            f=f,
            doc=doc,
            evidence=evidence,
            error=error,
            due=countdown(f.detected_at, f.severity.value, today(), c.api.loop, c.calendar),
            state=queries.status(reader, finding_id),
            key=uuid.uuid4().hex,
            sent=request.query_params.get("sent"),
            measures=c.api.loop.measures,
        )

    @app.get("/findings/{finding_id}", response_class=HTMLResponse)
    def finding(finding_id: str, request: Request) -> HTMLResponse:
        who = c.who(request)
        request.state.action = "view_finding"
        return finding_page(request, who, finding_id)

    @app.get("/findings/{finding_id}/dossier.{fmt}")
    def download(finding_id: str, fmt: str, request: Request) -> Response:
        who = c.who(request)
        request.state.action = "download_dossier"
        if fmt not in ("pdf", "json"):
            raise HTTPException(404, "只有 PDF 和 JSON")
        finding_or_403(finding_id, who)
        doc = dossier.build(reader.client, finding_id, basis, c.api.loop)
        with tempfile.TemporaryDirectory() as tmp:
            dossier.write(doc, Path(tmp))
            body = (Path(tmp) / f"dossier.{fmt}").read_bytes()
        return Response(
            body,
            media_type="application/pdf" if fmt == "pdf" else "application/json",
            headers={"Content-Disposition": f'attachment; filename="dossier-{finding_id}.{fmt}"'},
        )

    def api_error(answer: Any) -> str:
        try:
            detail = answer.json().get("detail")
        except ValueError:
            detail = answer.text
        if isinstance(detail, list):
            detail = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)
        return f"提交失败（{answer.status_code}）：{detail}"

    async def post_to_api(request: Request, finding_id: str, path: str, body: dict[str, Any], action: str) -> Response:
        who = c.who(request)
        request.state.action = action
        form = await request.form()
        answer = await c.call_api(
            request,
            "POST",
            # Quoted: the id is the visitor's path segment, and a control character in it made an invalid URL (500).
            f"/findings/{quote(finding_id, safe='')}/{path}",
            json=body,
            headers={"Idempotency-Key": str(form.get("key", ""))[:128] or uuid.uuid4().hex},
        )
        request.state.audit_detail = {"api_status": answer.status_code}
        if answer.status_code == 202:
            request.state.audit_detail |= {"message_id": answer.json()["message_id"]}
            return RedirectResponse(f"/findings/{finding_id}?sent={path}", status_code=303)
        if answer.status_code == 403:
            raise Forbidden(api_error(answer))
        return finding_page(request, who, finding_id, answer.status_code, api_error(answer))

    @app.post("/findings/{finding_id}/respond")
    async def respond(finding_id: str, request: Request) -> Response:
        form = await request.form()
        body = {"kind": str(form.get("kind", "")), "text": str(form.get("text", "")).strip()}
        return await post_to_api(request, finding_id, "responses", body, "respond")

    @app.post("/findings/{finding_id}/decide")
    async def decide(finding_id: str, request: Request) -> Response:
        form = await request.form()
        outcome = str(form.get("outcome", ""))
        body: dict[str, Any] = {"outcome": outcome, "reason": str(form.get("reason", "")).strip()}
        extra = {
            "dismissed": ("dismissal_reason",),
            "recommendation": ("recommendation", "report_within_wd"),
            "accountability": ("measure", "target_kind", "target_id"),
        }.get(outcome, ())
        for name in extra:
            value = str(form.get(name, "")).strip()
            if value:
                body[name] = int(value) if name == "report_within_wd" and value.isdigit() else value
        return await post_to_api(request, finding_id, "decisions", body, "decide")

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    def case(case_id: str, request: Request) -> HTMLResponse:
        who = c.who(request)
        request.state.action = "view_case"
        found = case_view.load(reader.client, case_id)
        if found is None:
            raise HTTPException(404, "没有这个案件")
        dept, region = str(found.state.get("department_id", "")), str(found.state.get("region_code", ""))
        allowed = dept == who.department_id if who.role == Role.department else region.startswith(who.region_prefix())
        if not allowed:
            raise Forbidden("这个案件属于其他部门或地区。")
        return c.page(request, "case.html", case=found)

    @app.get("/queue", response_class=HTMLResponse)
    def queue(request: Request) -> HTMLResponse:
        who = c.who(request)
        request.state.action = "view_queue"
        if who.role != Role.supervisor:
            raise Forbidden("监察队列只对监察人员开放。")
        return c.page(request, "queue.html", rows=queries.queue(reader, who.region_prefix()))

    def as_of() -> str:
        # The scores pages read the scoreboard: say how fresh it is (sinks/scoreboard.py bounds the delay).
        return queries.as_of_text(queries.scores_as_of(reader.client), today())

    def ranking_rows(who: Principal) -> tuple[str | None, list[Any]]:
        region = ranking_region(who)
        depts, staff = queries.names(reader.client)
        return region, with_names(
            fetch(reader.client, "department", "month", month(), region), depts, staff, "department"
        )

    def fair_rows(region: str | None, rows: list[Any]) -> list[Any] | None:
        # Read from the tables on each visit of the page (not by the live rows' polling); None when it fails,
        # so the official ranking still shows.
        try:
            return fair_entries(reader.client, "department", "month", month(), region, rows, pending_counts=pending)
        except Exception as exc:  # ClickHouse busy or a table missing: the page says the comparison is unavailable
            log.warning("fair ranking unavailable: %s: %s", type(exc).__name__, exc)
            return None

    def staff_fair(department_id: str) -> list[Any] | None:
        # The department's staff compared fairly with each other: expected cards from the province's rates for
        # their case mix (each left out of its own), ranked among this department's staff. None when it fails.
        try:
            raw = [r for r in fetch(reader.client, "staff", "month", month()) if r.department_id == department_id]
            if not raw:
                return []
            return fair_entries(reader.client, "staff", "month", month(), raw[0].region, raw, pending_counts=pending)
        except Exception as exc:  # ClickHouse busy or a table missing: the page says the comparison is unavailable
            log.warning("fair staff comparison unavailable: %s: %s", type(exc).__name__, exc)
            return None

    @app.get("/ranking", response_class=HTMLResponse)
    def ranking(request: Request) -> HTMLResponse:
        who = c.who(request)
        request.state.action = "view_ranking"
        region, rows = ranking_rows(who)
        return c.page(
            request,
            "ranking.html",
            rows=rows,
            region=region,
            month=month(),
            as_of=as_of(),
            fair=fair_rows(region, rows),
            fair_explain=EXPLAIN_ZH,
            names={**queries.names(reader.client)[0], **{r.id: r.name or r.department_name for r in rows if r.name}},
        )

    @app.get("/live/ranking", response_class=HTMLResponse)
    def live_ranking(request: Request) -> HTMLResponse:
        who = c.who(request)
        _, rows = ranking_rows(who)
        page = c.page(request, "_ranking_rows.html", rows=rows)
        page.headers["X-Scores-As-Of"] = as_of()  # console.js puts it in the page's "截至"
        return page

    @app.get("/departments/{department_id}", response_class=HTMLResponse)
    def department(department_id: str, request: Request) -> HTMLResponse:
        who = c.who(request)
        request.state.action = "view_department"
        if not may_see_department(who, department_id):
            raise Forbidden("这个部门不在您的范围内。")
        depts, people = queries.names(reader.client)
        points = queries.trend(reader.client, "department", department_id, month())
        chart = trend_svg(
            "部门得分趋势（近六个月）", [(m, s) for m, s, _, _ in points], months_back(month(), queries.TREND_MONTHS)
        )
        return c.page(
            request,
            "department.html",
            fair=staff_fair(department_id),
            fair_explain=EXPLAIN_ZH,
            department_id=department_id,
            name=depts.get(department_id, ""),
            points=points,
            chart=chart,
            staff=queries.staff_scores(reader.client, department_id, month()),
            people=people,
            findings=queries.open_findings(reader, "department_id", department_id),
            as_of=as_of(),
        )

    @app.get("/staff/{staff_id}", response_class=HTMLResponse)
    def staff(staff_id: str, request: Request) -> HTMLResponse:
        who = c.who(request)
        request.state.action = "view_staff"
        dept = staff_department(staff_id)
        if dept is None or not may_see_department(who, dept):
            raise Forbidden("这位工作人员不在您的范围内。")
        depts, people = queries.names(reader.client)
        points = queries.trend(reader.client, "staff", staff_id, month())
        chart = trend_svg(
            "个人得分趋势（近六个月）", [(m, s) for m, s, _, _ in points], months_back(month(), queries.TREND_MONTHS)
        )
        return c.page(
            request,
            "staff.html",
            staff_id=staff_id,
            name=people.get(staff_id, ""),
            department_id=dept,
            department_name=depts.get(dept, ""),
            points=points,
            chart=chart,
            findings=queries.open_findings(reader, "staff_id", staff_id),
            as_of=as_of(),
        )

    def bulletin_files() -> list[Path]:
        folder = c.bulletins
        if folder is None or not folder.is_dir():
            return []
        return sorted((p for p in folder.iterdir() if _BULLETIN.match(p.name)), reverse=True)

    @app.get("/bulletins", response_class=HTMLResponse)
    def bulletins(request: Request) -> HTMLResponse:
        c.who(request)
        request.state.action = "view_bulletins"
        months: dict[str, list[Path]] = {}
        for p in bulletin_files():
            months.setdefault(p.stem, []).append(p)
        return c.page(request, "bulletins.html", months=months, folder=c.bulletins)

    @app.get("/bulletins/{name}")
    def bulletin_file(name: str, request: Request) -> Response:
        c.who(request)
        request.state.action = "download_bulletin"
        # Only names `esup bulletin` writes, from its folder: nothing else on the disk can be asked for.
        match = next((p for p in bulletin_files() if p.name == name), None)
        if match is None:
            raise HTTPException(404, "没有这期通报")
        return FileResponse(match, media_type="application/pdf" if name.endswith(".pdf") else "text/html")
