"""The bulletin as one self-contained HTML page and as a PDF (ReportLab), with the same tables and charts."""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path

from bulletin.charts import FONT, deductions_chart, register_font, svg, trend_chart
from bulletin.data import Bulletin, staff_extremes
from sinks.fair_table import EXPLAIN_ZH
from sinks.rankings import RankRow

SEVERITY = {"red": "红牌", "yellow": "黄牌", "notice": "提醒"}
STATUS = {"pending": "待处理", "confirmed": "已确认", "dismissed": "已撤销", "accountability": "已问责"}


def _rate(r: RankRow) -> str:
    return "—" if r.on_time_rate is None else f"{100 * r.on_time_rate:.1f}%"


def department_table(b: Bulletin) -> list[list[str]]:
    """Header and rows of the department ranking, with each heading's deduction."""
    header = ["排名", "部门", "得分", "按时办结率", "提醒", "黄牌", "红牌", "默认许可", "办结件数"]
    header += [f"{label}扣分" for _, label in b.headings]
    rows = [header]
    for r in b.departments:
        cut = b.deductions.get(r.id, {})
        rows.append(
            [
                str(r.rank),
                r.name or r.department_name or r.id,
                f"{r.score:.2f}",
                _rate(r),
                str(r.notices),
                str(r.yellows),
                str(r.reds),
                str(r.deemed_approvals),
                str(r.cases_finished),
                *(f"{cut.get(name, 0.0):g}" for name, _ in b.headings),
            ]
        )
    return rows


def _range(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"{low:.2f}–{high:.2f}"


def fair_table(b: Bulletin) -> list[list[str]]:
    """The fair comparison of departments beside their official rank, header first (README "Fair rankings")."""
    header = "公平名次 名次范围 并列组 部门 正式名次 正式得分 案件 实际牌数 预期牌数 实际/预期 95%区间 收缩后 收缩区间"
    rows = [header.split()]
    names = {r.id: r.name or r.department_name for r in b.departments}
    for e in b.fair or []:
        f = e.fair
        head = [str(f.rank), f"{f.rank_low}–{f.rank_high}", f"={f.tie_group}"] if f else ["—", "—", "—"]
        raw = ["—" if e.raw_rank is None else str(e.raw_rank), "—" if e.raw_score is None else f"{e.raw_score:.2f}"]
        if f is None:
            tail = ["—"] * 7
        else:
            ratio = "—" if f.ratio is None else f"{f.ratio:.2f}"
            tail = [str(f.cases), str(f.observed), f"{f.expected:.1f}", ratio, _range(f.ratio_low, f.ratio_high)]
            tail += [f"{f.shrunk:.2f}", _range(f.shrunk_low, f.shrunk_high)]
        rows.append([*head, names.get(e.id) or e.id, *raw, *tail])
    return rows


def staff_table(b: Bulletin) -> list[list[str]]:
    """The staff ranking table's rows (the best and the lowest), header first."""
    rows = [["排名", "工作人员", "所在部门", "得分", "按时办结率", "黄牌", "红牌"]]
    for r in staff_extremes(b):
        rows.append(
            [
                str(r.rank),
                r.name or r.id,
                r.department_name or r.department_id,
                f"{r.score:.2f}",
                _rate(r),
                str(r.yellows),
                str(r.reds),
            ]
        )
    return rows


def worst_table(b: Bulletin) -> list[list[str]]:
    """The worst cases table's rows, header first."""
    rows = [["发现时间", "案件", "问题", "部门", "责任人", "状态"]]
    for w in b.worst:
        rows.append(
            [
                f"{w.detected_at:%m-%d %H:%M}",
                w.case_id,
                w.title or w.rule,
                w.department,
                w.staff,
                STATUS.get(w.status, w.status),
            ]
        )
    return rows


def measures_table(b: Bulletin) -> list[list[str]]:
    """The accountability measures table's rows, header first."""
    rows = [["决定时间", "措施", "对象", "案件", "规则", "理由"]]
    for m in b.measures:
        rows.append([f"{m.decided_at:%m-%d}", m.measure, m.target, m.case_id, m.rule, m.reason])
    return rows


def _html_table(rows: list[list[str]], cls: str) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    if not rows[1:]:
        body = f'<tr><td colspan="{len(rows[0])}">（无）</td></tr>'
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


CSS = """body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
h1{font-size:1.5em;border-bottom:3px solid #c0392b;padding-bottom:.3em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border:1px solid #999;padding:.25em .5em}
th{background:#f2f2f2}td{text-align:right}td:nth-child(2),td:nth-child(3){text-align:left}
.meta{color:#666;font-size:.85em}figure{margin:1em 0}"""


def html(b: Bulletin, generated_at: datetime) -> str:
    """The whole bulletin as one HTML page (CSS and SVG charts inline: it can be mailed or archived as is)."""
    parts = [
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{escape(b.title)}</title>"
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(b.title)}</h1>",
        f"<p class='meta'>考评模型 {escape(b.scoring_version)}，生成于 {generated_at:%Y-%m-%d %H:%M} (北京时间) · "
        f"参评部门 {len(b.departments)} 个、工作人员 {len(b.staff)} 名</p>",
        "<h2>一、部门排名</h2>",
        _html_table(department_table(b), "departments"),
        f"<figure>{svg(deductions_chart(b))}</figure>",
        f"<figure>{svg(trend_chart(b))}</figure>",
        "<h2>二、工作人员排名（前十名与后十名）</h2>",
        _html_table(staff_table(b), "staff"),
        "<h2>三、典型问题（红牌）</h2>",
        _html_table(worst_table(b), "worst"),
        "<h2>四、问责处理情况</h2>",
        _html_table(measures_table(b), "measures"),
        "<h2>五、公平比较（参考，不替代正式排名）</h2>",
        f"<p class='note'>{escape(EXPLAIN_ZH)}</p>",
        _html_table(fair_table(b), "fair") if b.fair is not None else "<p>公平比较暂不可用。</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def pdf(b: Bulletin, path: Path, generated_at: datetime) -> Path:
    """The bulletin as an A4 PDF with the same content as the HTML page."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    register_font()
    styles = getSampleStyleSheet()
    for s in styles.byName.values():
        s.fontName = FONT
    grid = TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), FONT, 7.5),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f2f2f2")),
            ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ]
    )

    def table(rows: list[list[str]]) -> Table:
        if not rows[1:]:
            rows = [*rows, ["（无）"] + [""] * (len(rows[0]) - 1)]
        t = Table([[c[:40] for c in r] for r in rows], repeatRows=1)
        t.setStyle(grid)
        return t

    story = [
        Paragraph(escape(b.title), styles["Title"]),
        Paragraph(
            f"考评模型 {escape(b.scoring_version)}，生成于 {generated_at:%Y-%m-%d %H:%M}（北京时间）", styles["Normal"]
        ),
        Spacer(1, 4 * mm),
        Paragraph("一、部门排名", styles["Heading2"]),
        table(department_table(b)),
        Spacer(1, 4 * mm),
        deductions_chart(b),
        trend_chart(b),
        Paragraph("二、工作人员排名（前十名与后十名）", styles["Heading2"]),
        table(staff_table(b)),
        Paragraph("三、典型问题（红牌）", styles["Heading2"]),
        table(worst_table(b)),
        Paragraph("四、问责处理情况", styles["Heading2"]),
        table(measures_table(b)),
        Paragraph("五、公平比较（参考，不替代正式排名）", styles["Heading2"]),
        Paragraph(escape(EXPLAIN_ZH), styles["Normal"]),
        table(fair_table(b)),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = SimpleDocTemplate(
        str(path),
        pagesize=landscape(A4),
        title=b.title,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
    )
    doc.build(story)
    return path
