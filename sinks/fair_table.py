"""The fair ranking as text: the terminal table and the plain-words explanation the console and bulletin show."""

from __future__ import annotations

from sinks.fair_reader import FairEntry
from sinks.scoring import Kind

# The same words in the console's ranking page and the monthly bulletin (README "Fair rankings" in English).
EXPLAIN_ZH = (
    "公平比较（参考，不替代正式得分）：把每个部门的黄牌、红牌数与“同样的事项和程序在全省其他部门会得到多少张牌”相比。"
    "事项难易（如用地审批、听证、专家评审）已调整；案件少的部门结果向全省水平收缩，避免一张牌就大起大落。"
    "“实际/预期”为 1 表示与全省相当，大于 1 表示牌多于预期。名次给出可能的范围，区间重叠的部门视为并列。"
    "未调整的：办理是否及时本身、投诉牌（不涉及具体许可案件的）、提醒。"
    "正式排名仍按公布的考评细则计分：规则公开、人人可以核算，公平比较只用于解释和发现问题。"
)
EXPLAIN_EN = (
    "Fair comparison (for reference; the official ranking is the raw score): each entity's yellow and red cards "
    "against what the same items and procedures draw elsewhere in the province (the entity itself left out). "
    "Hard items (long limits, hearings, expert reviews) are adjusted for; small numbers are shrunk toward the "
    "province. O/E = 1 is as expected, above 1 more cards than expected. The rank is given as a range; "
    "entities whose intervals overlap share a tie group. Not adjusted: notices, complaint cards without a "
    "licensing case, and anything the case mix does not explain. The raw score stays official: its rule is "
    "published and anyone can recompute it."
)


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def rows(entries: list[FairEntry]) -> list[list[str]]:
    """Header and cells: the same columns in the terminal, the console and the bulletin."""
    out = [["fair", "range", "tie", "id", "raw rank", "raw score", "cases", "O", "E", "O/E", "O/E 95%", "shrunk"]]
    for e in entries:
        f = e.fair
        out.append(
            [
                str(f.rank) if f else "-",
                f"{f.rank_low}-{f.rank_high}" if f else "-",
                f"={f.tie_group}" if f else "-",
                e.id,
                _num(e.raw_rank, "{}"),
                _num(e.raw_score),
                str(f.cases) if f else "-",
                str(f.observed) if f else "-",
                _num(f.expected, "{:.1f}") if f else "-",
                _num(f.ratio if f else None),
                f"{_num(f.ratio_low)}-{_num(f.ratio_high)}" if f and f.ratio is not None else "-",
                f"{f.shrunk:.2f} ({f.shrunk_low:.2f}-{f.shrunk_high:.2f})" if f else "-",
            ]
        )
    return out


def format_table(entries: list[FairEntry], kind: Kind) -> str:
    """A fixed-width table, one line per entity, ordered by fair rank within each province."""
    table = rows(entries)
    table[0][3] = "department" if kind == "department" else "staff"
    if kind == "staff":
        table[0].insert(4, "department")
        for cells, e in zip(table[1:], entries, strict=True):
            cells.insert(4, e.department_id)
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    text = {3, 4} if kind == "staff" else {3}

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in text else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    lines = [fmt(table[0]), "  ".join("-" * w for w in widths), *(fmt(r) for r in table[1:])]
    return "\n".join(line.rstrip() for line in lines)
