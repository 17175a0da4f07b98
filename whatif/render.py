"""The what-if report on the terminal (rich tables) and as one self-contained HTML page (no scripts, no links)."""

from __future__ import annotations

from html import escape
from typing import Any

TOP = 15  # rows per table on the terminal and in the page


def _rows(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every table of the report as (title, header, rows) of text: one source for the terminal and the page."""
    w, f, c = report["window"], report["findings"], report["check"]
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    conf = report["configuration"]
    tables.append(
        (
            "What-if",
            ["", "value"],
            [
                ["window", f"{w['from']} – {w['to']}" + (f" (region {w['region']})" if w["region"] else "")],
                ["cases (started in the window) / events", f"{w['cases']} / {w['events']}"],
                ["timers run to", w["timers_run_to"]],
                ["changed", ", ".join(conf["changed"]) or "nothing (baseline check only)"],
                *[[f"scenario {k}", v] for k, v in conf["scenario"].items() if k in conf["changed"]],
                [
                    "baseline = live findings",
                    "yes, id for id"
                    if c["ok"]
                    else f"NO: {c['only_live']} only live, {c['only_replay']} only replayed, "
                    f"{c['content_differs']} differ, {c['finished_cases_differ']} finished cases differ",
                ],
                ["findings before → after", f"{f['baseline']} → {f['scenario']}"],
                ["added / removed / changed", f"{f['added']} / {f['removed']} / {f['changed']}"],
            ],
        )
    )
    tables += _schedule_rows(report.get("schedule"))
    for name in ("rule", "department", "staff"):
        groups = f[f"by_{name}"][:TOP]
        rows = []
        for g in groups:
            ex = g["examples"]
            sample = [e["finding_id"] for side in ("added", "removed", "changed") for e in ex.get(side, [])][:2]
            rows.append(
                [g["key"], str(g["added"]), str(g["removed"]), str(g["changed"]), f"{g['net']:+d}", " ".join(sample)]
            )
        tables.append((f"Findings by {name}", [name, "added", "removed", "changed", "net", "examples"], rows))
    for kind, s in report["scores"].items():
        rows = [
            [
                r["month"][:7],
                r["region"],
                r["entity"],
                _num(r["score_before"]),
                _num(r["score_after"]),
                _rank(r["rank_before"]),
                _rank(r["rank_after"]),
            ]
            for r in s["rank_changes"][:TOP]
        ]
        tables.append(
            (
                f"Score and rank changes: {kind} ({s['moved']} of {s['entities']} moved)",
                ["month", "region", kind, "score before", "after", "rank before", "after"],
                rows,
            )
        )
        d = s["distribution"]
        bins = list(d["before"]["bins"])
        rows = [[b, str(d["before"]["bins"][b]), str(d["after"]["bins"][b])] for b in bins]
        rows += [[k, _num(d["before"][k]), _num(d["after"][k])] for k in ("n", "min", "median", "mean", "max")]
        tables.append((f"Score distribution: {kind} (monthly scores)", ["score", "before", "after"], rows))
    return tables


def _schedule_rows(schedule: dict[str, Any] | None) -> list[tuple[str, list[str], list[list[str]]]]:
    """Which schedule each side was judged under: its source and start version, then each adoption (kind, moment,
    content hash, the configuration version in effect from then), and the records refused."""
    if not schedule:
        return []
    rows: list[list[str]] = []
    for side in ("baseline", "scenario"):
        s = schedule[side]
        rows.append([side, "start", s["source"], "", s["start_config_version"]])
        rows += [[side, a["from"], a["kind"], a["version"][:19] + "…", a["config_version"]] for a in s["adoptions"]]
        rows += [[side, "refused", r["record"], r["reason"], ""] for r in s["refused"]]
    return [
        (
            "Adopted configurations (each step judged under the one in effect at its moment)",
            ["side", "from", "kind or source", "version", "config_version"],
            rows,
        )
    ]


def _num(v: Any) -> str:
    return "—" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def _rank(v: int | None) -> str:
    return "—" if v is None else str(v)


def terminal(report: dict[str, Any], console: Any) -> None:
    """Print the report as rich tables on ``console`` (a rich Console)."""
    from rich.table import Table

    for title, header, rows in _rows(report):
        t = Table(title=title, title_justify="left")
        for h in header:
            t.add_column(h)
        for r in rows:
            t.add_row(*(escape_markup(x) for x in r))
        console.print(t)


def escape_markup(text: str) -> str:
    """Text shown as is by rich (ids may hold square brackets)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


_STYLE = """body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0 2em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:90%}th{background:#f3f3f3}
.bar{display:inline-block;height:.8em;background:#4a7}.bar.after{background:#c63}"""


def html(report: dict[str, Any]) -> str:
    """The report as one HTML page (inline style, bars drawn with plain elements): deterministic like the JSON."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8"><title>What-if 规则变更影响评估</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>What-if 规则变更影响评估</h1>",
    ]
    for title, header, rows in _rows(report):
        parts.append(f"<h2>{escape(title)}</h2><table><tr>")
        parts += [f"<th>{escape(h)}</th>" for h in header]
        parts.append("</tr>")
        bars = title.startswith("Score distribution")
        top = max([int(x) for r in rows[:11] for x in r[1:3] if x.isdigit()] + [1]) if bars else 1
        for i, r in enumerate(rows):
            cells = []
            for j, x in enumerate(r):
                bar = ""
                if bars and i < 11 and j in (1, 2):
                    bar = (
                        f' <span class="bar{" after" if j == 2 else ""}" style="width:{int(x) * 200 // top}px"></span>'
                    )
                cells.append(f"<td>{escape(x)}{bar}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
