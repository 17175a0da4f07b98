"""`esup dossier FINDING_ID`: the evidence file (证据材料) of one finding — JSON and a printable PDF."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from loop.basis import Basis
from loop.config import LoopConfig
from loop.period import computation
from loop.rules import ARTICLE, TITLES
from schemas.events import CaseEvent, parse_event
from schemas.findings import Finding
from streams.rules.calendar import local_date
from streams.rules.context import Context
from streams.rules.registry import RULES
from streams.rules.schedule import config_version

_EVENT_COLS = (
    "event_id",
    "case_id",
    "kind",
    "schema_version",
    "item_code",
    "department_id",
    "region_code",
    "staff_id",
    "occurred_at",
    "recorded_at",
    "payload",
    "source_partition",
    "source_offset",
)


def _finding(client: Any, finding_id: str) -> Finding:
    from api.store import FindingsReader

    f = FindingsReader(client).get(finding_id)
    if f is None:
        raise LookupError(f"no finding {finding_id}")
    return f


def _parsed(events: list[dict[str, Any]]) -> list[CaseEvent]:
    """The stored events as the engine read them (the storage's partition and offset left out)."""
    return [
        parse_event(
            {
                k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in e.items()
                if k not in ("source_partition", "source_offset")
            }
            | {"payload": json.loads(e["payload"])}
        )
        for e in events
    ]


def accountable(client: Any, f: Finding) -> dict[str, Any]:
    """The responsible staff, the department and its head (责任追究), named from the directory tables."""
    from api.directory import Accountable

    dept = client.execute(
        "SELECT name, head FROM directory_departments FINAL WHERE deleted = 0 AND id = %(d)s",
        {"d": f.department_id},
        settings={"readonly": 1},
    )
    head = str(dept[0][1]) if dept and dept[0][1] else None
    names = dict(
        client.execute(
            "SELECT id, name FROM directory_staff FINAL WHERE deleted = 0 AND id IN %(ids)s",
            {"ids": (f.staff_id, head or f.staff_id)},
            settings={"readonly": 1},
        )
    )
    return Accountable(
        staff_id=f.staff_id,
        staff_name=names.get(f.staff_id),
        department_id=f.department_id,
        department_name=str(dept[0][0]) if dept else None,
        head_staff_id=head,
        head_name=names.get(head) if head else None,
    ).model_dump()


def warnings(f: Finding, basis: Basis, comp: dict[str, Any]) -> list[str]:
    """Why this dossier's computation might not be the finding's: another calendar, the replay disagreeing."""
    out = list(basis.notes)
    if f.calendar_version != basis.calendar.version:
        out.append(
            f"calendar mismatch: the finding was computed with calendar {f.calendar_version}, this dossier uses "
            f"{basis.calendar.version} ({basis.calendar_source}); pass --calendar with the workers' file"
        )
    out += comp.get("warnings", [])
    if comp.get("period") and comp.get("agrees_with_finding") is False:
        out.append(f"the walk ends {comp.get('deadline_at')}, the finding's deadline is {f.deadline}")
    return out


def build(client: Any, finding_id: str, basis: Basis, cfg: LoopConfig) -> dict[str, Any]:
    """One finding's evidence file as a dict: finding, rule, deadline computation, events, notifications, messages."""
    f = _finding(client, finding_id)
    rows = client.execute(
        f"SELECT {', '.join(_EVENT_COLS)} FROM case_events FINAL WHERE case_id = %(c)s ORDER BY occurred_at, event_id",
        {"c": f.case_id},
        settings={"readonly": 1},
    )
    events = [dict(zip(_EVENT_COLS, r, strict=True)) for r in rows]
    messages = [
        json.loads(r[0])
        for r in client.execute(
            "SELECT body FROM loop_messages FINAL WHERE finding_id = %(id)s ORDER BY at, message_id",
            {"id": finding_id},
            settings={"readonly": 1},
        )
    ]
    spec = RULES.get(f.rule)
    rule = (
        {"code": f.rule, "title": spec.title, "basis": spec.basis}
        if spec
        else {"code": f.rule, "title": TITLES.get(f.rule, f.rule), "basis": ARTICLE}
    )
    timeline = sorted(
        [(e["occurred_at"].isoformat(), f"event {e['kind']} ({e['event_id']})") for e in events]
        + [(f.detected_at.isoformat(), f"finding {f.rule}")]
        + [(m["at"], f"{m['type']} by {m['actor_id']}") for m in messages]
    )
    comp = computation(f, _parsed(events), Context.build(basis.calendar, basis.catalog, basis.rules))
    return {
        "finding": json.loads(f.model_dump_json()),
        "accountable": accountable(client, f),
        "basis": basis.describe(),
        "warnings": warnings(f, basis, comp),
        "rule": rule,
        "law_article": f.law_article,
        "calendar_version": basis.calendar.version,
        "finding_calendar_version": f.calendar_version,
        # The configuration (calendar and thresholds) the finding was judged under, and this dossier's basis's
        # ("" for findings from before issue 18's adoption schedule; streams/rules/schedule.py).
        "config_version": config_version(basis.calendar, basis.rules),
        "finding_config_version": f.config_version,
        "deadline_computation": comp,
        "catalog_item": next(
            (json.loads(i.model_dump_json()) for i in basis.catalog.items if i.code == f.item_code), None
        ),
        "events": [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in e.items()} for e in events],
        "notifications": _notifications(client, finding_id),
        "responses_and_decisions": messages,
        "timeline": [{"at": a, "what": w} for a, w in timeline],
        "detected_local_day": local_date(f.detected_at).isoformat(),
    }


def _notifications(client: Any, finding_id: str) -> list[dict[str, Any]]:
    """Each delivery of the finding (预警推送: who, channel, why) in its latest state, from the notifier's ledger."""
    cols = ("delivery_id", "severity", "recipient", "channel", "reason", "address", "status", "attempts", "at")
    rows = client.execute(
        "SELECT delivery_id, any(severity), any(recipient), any(channel), any(reason), any(address), "
        "argMax(status, seq), max(attempt), max(recorded_at) FROM notification_deliveries "
        "WHERE finding_id = %(id)s GROUP BY delivery_id ORDER BY delivery_id",
        {"id": finding_id},
        settings={"readonly": 1},
    )
    return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in zip(cols, r, strict=True)} for r in rows]


def write(dossier: dict[str, Any], out: Path) -> list[Path]:
    """dossier.json and dossier.pdf (ReportLab, with its built-in CJK font: no system fonts needed)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    out.mkdir(parents=True, exist_ok=True)
    js = out / "dossier.json"
    js.write_text(json.dumps(dossier, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    styles = getSampleStyleSheet()
    for s in styles.byName.values():
        s.fontName = "STSong-Light"
    f = dossier["finding"]
    story: list[Any] = [Paragraph(f"证据材料 Evidence dossier — {f['finding_id']}", styles["Title"])]

    def para(text: str, style: str = "BodyText") -> None:
        story.append(Paragraph(text.replace("&", "&amp;").replace("<", "&lt;"), styles[style]))

    para(f"Rule {dossier['rule']['code']}: {dossier['rule']['title']} — {dossier['law_article'] or ''}", "Heading2")
    para(
        f"Case {f['case_id']}, department {f['department_id']}, staff {f['staff_id']}, region {f['region_code']}, "
        f"severity {f['severity']}, detected {f['detected_at']}, deadline {f['deadline']}"
    )
    who = dossier["accountable"]
    para(
        f"责任人 Responsible: {who['staff_name'] or '?'} ({who['staff_id']}); 部门 department: "
        f"{who['department_name'] or '?'} ({who['department_id']}); 负责人 head: {who['head_name'] or '?'} "
        f"({who['head_staff_id'] or 'none in the directory'})"
    )
    basis = dossier["basis"]
    para(
        f"Calendar {dossier['calendar_version']} ({basis['calendar']['source']}; the finding was computed with "
        f"{dossier['finding_calendar_version']}). Catalog: {basis['catalog']['source']}, version "
        f"{basis['catalog']['version']}. Rule thresholds: {basis['rules']['source']}. Configuration version "
        f"{dossier['config_version']} (the finding was judged under "
        f"{dossier['finding_config_version'] or 'not recorded'})."
    )
    for w in dossier["warnings"]:
        para(f"WARNING: {w}")
    comp = dossier["deadline_computation"]
    para("Deadline computation (期限计算)", "Heading2")
    if comp.get("why"):
        para(f"Period {comp['period']}: {comp['why']}. Last day {comp['last_day']} (deadline {comp['deadline_at']}).")
    skip = ("days", "why", "warnings")
    para(", ".join(f"{k}: {comp[k]}" for k in comp if k not in skip))
    for d in comp.get("days", []):
        para(f"{d['day']}  {'#' + str(d['counted']) if d['counted'] else '—'}  {d['note']}")
    para("Events (Kafka partition/offset)", "Heading2")
    for e in dossier["events"]:
        para(
            f"{e['occurred_at']} {e['kind']} {e['event_id']} by {e['staff_id']} "
            f"[p{e['source_partition']} @{e['source_offset']}]"
        )
    para("Notifications (预警推送)", "Heading2")
    for n in dossier["notifications"]:
        para(f"{n['at']} {n['channel']} to {n['recipient']} ({n['reason']}, {n['severity']}): {n['status']}")
    para("Responses and decisions", "Heading2")
    for m in dossier["responses_and_decisions"]:
        para(
            f"{m['at']} {m['type']} by {m['actor_id']}: {m.get('outcome') or m.get('kind') or ''} "
            f"{m.get('reason') or m.get('text') or ''}"
        )
    para("Timeline", "Heading2")
    for item in dossier["timeline"]:
        para(f"{item['at']}  {item['what']}")
    story.append(Spacer(1, 12))
    pdf = out / "dossier.pdf"
    SimpleDocTemplate(str(pdf), pagesize=A4, title=f"dossier {f['finding_id']}").build(story)
    return [js, pdf]
