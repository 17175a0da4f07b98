"""Score trends as small hand-built SVG line charts (no script, no library: the page stays one request)."""

from __future__ import annotations

from datetime import date
from html import escape

from markupsafe import Markup

W, H, LEFT, RIGHT, TOP, BOTTOM = 520, 220, 44, 16, 28, 36


def trend_svg(title: str, points: list[tuple[date, float]], months: list[date]) -> Markup:
    """Score (0-100) per month; months without a score are gaps (a month without findings or finished cases)."""
    by_month = dict(points)
    low = min([v for _, v in points] + [80.0])
    floor = max(0.0, (low // 10) * 10 - 10)
    step = (W - LEFT - RIGHT) / max(len(months) - 1, 1)

    def x(i: int) -> float:
        return LEFT + i * step

    def y(v: float) -> float:
        return TOP + (100 - v) / (100 - floor) * (H - TOP - BOTTOM)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="16" font-size="13" fill="#333">{escape(title)}</text>',
    ]
    for g in range(int(floor), 101, 10):
        parts.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(g):.1f}" y2="{y(g):.1f}" stroke="#e5e5e5"/>'
            f'<text x="{LEFT - 6}" y="{y(g) + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#666">{g}</text>'
        )
    for i, m in enumerate(months):
        parts.append(
            f'<text x="{x(i):.1f}" y="{H - 14}" font-size="11" text-anchor="middle" fill="#666">{m.month}月</text>'
        )
    line: list[str] = []
    for i, m in enumerate(months):
        if m in by_month:
            line.append(f"{'M' if not line else 'L'}{x(i):.1f},{y(by_month[m]):.1f}")
    if line:
        parts.append(f'<path d="{" ".join(line)}" fill="none" stroke="#c0392b" stroke-width="2"/>')
    for i, m in enumerate(months):
        if m in by_month:
            v = by_month[m]
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="#c0392b"><title>{m:%Y-%m}: '
                f'{v:.2f}</title></circle><text x="{x(i):.1f}" y="{y(v) - 8:.1f}" font-size="10" '
                f'text-anchor="middle" fill="#333">{v:g}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and dates formatted here, no user text
