"""The bulletin's charts as ReportLab drawings: drawn into the PDF as vectors, and into the HTML as SVG."""

from __future__ import annotations

from datetime import date

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors

from bulletin.data import Bulletin

FONT = "STSong-Light"  # ReportLab's built-in Simplified Chinese font: nothing to install
PALETTE = [colors.HexColor(c) for c in ("#c0392b", "#d35400", "#8e44ad", "#2c3e50", "#16a085", "#7f8c8d")]
TREND_LINES = 5


def register_font() -> None:
    """Register ReportLab's built-in Chinese font once, before anything is drawn with it."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _label(b: Bulletin, dept_id: str) -> str:
    row = next((r for r in b.departments if r.id == dept_id), None)
    return (row.name or row.department_name or dept_id) if row else dept_id


def trend_chart(b: Bulletin, width: int = 480, height: int = 220) -> Drawing:
    """Scores over the last months: the average of the ranked departments and the month's lowest few."""
    register_font()
    months = sorted(b.trend)
    lowest = [r.id for r in b.departments[::-1][:TREND_LINES]]
    series: list[tuple[str, list[tuple[int, float]]]] = []
    averages = [(i, sum(s.values()) / len(s)) for i, m in enumerate(months) if (s := b.trend[m])]
    if averages:
        series.append(("平均", averages))
    for dept in lowest:
        points = [(i, b.trend[m][dept]) for i, m in enumerate(months) if dept in b.trend[m]]
        if points:
            series.append((_label(b, dept), points))
    d = Drawing(width, height)
    d.add(String(10, height - 14, "得分趋势（近六个月）", fontName=FONT, fontSize=11))
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 40, 40, width - 170, height - 75
    plot.data = [pts for _, pts in series] or [[(0, 0.0)]]
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = -0.2, max(len(months) - 0.8, 0.2)
    plot.xValueAxis.valueSteps = list(range(len(months)))
    plot.xValueAxis.labelTextFormat = lambda v: _month_label(months, v)
    plot.xValueAxis.labels.fontName = FONT
    low = min((y for _, pts in series for _, y in pts), default=0.0)
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = max(0.0, (low // 10) * 10 - 10), 100.0
    for i in range(len(plot.data)):
        plot.lines[i].strokeColor = PALETTE[i % len(PALETTE)]
        plot.lines[i].strokeWidth = 2 if i == 0 else 1.2
    d.add(plot)
    legend = Legend()
    legend.x, legend.y, legend.fontName, legend.fontSize = width - 120, height - 40, FONT, 8
    legend.colorNamePairs = [(PALETTE[i % len(PALETTE)], name[:12]) for i, (name, _) in enumerate(series)]
    d.add(legend)
    return d


def _month_label(months: list[date], v: float) -> str:
    i = round(v)
    return f"{months[i].month}月" if 0 <= i < len(months) and abs(v - i) < 1e-6 else ""


def deductions_chart(b: Bulletin, width: int = 480, height: int = 200) -> Drawing:
    """Points deducted this month under each heading, summed over the ranked departments."""
    register_font()
    totals = [sum(d.get(name, 0.0) for d in b.deductions.values()) for name, _ in b.headings]
    d = Drawing(width, height)
    d.add(String(10, height - 14, "各考核项目扣分合计", fontName=FONT, fontSize=11))
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 35, width - 60, height - 65
    chart.data = [totals]
    chart.categoryAxis.categoryNames = [label for _, label in b.headings]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 8
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = PALETTE[0]
    chart.barLabelFormat = "%.0f"
    chart.barLabels.fontSize = 7
    d.add(chart)
    return d


def svg(drawing: Drawing) -> str:
    """The drawing as an inline SVG element (its XML prolog dropped)."""
    from reportlab.graphics import renderSVG

    text: str = renderSVG.drawToString(drawing)
    return text[text.index("<svg") :]
