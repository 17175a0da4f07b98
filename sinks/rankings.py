"""The live ranking for the terminal (`esup rankings`): read the scoreboard, print a fixed-width table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta
from typing import Any

from sinks.departments import names_sql
from sinks.scoreboard import board_table
from sinks.scoring import Kind, entity_column, level_of

PERIOD_NAMES = ("day", "week", "month")


def period_start(period: str, on: date) -> date:
    """The first day of the day, week (Monday) or month that contains `on`."""
    if period == "day":
        return on
    if period == "week":
        return on - timedelta(days=on.weekday())
    if period == "month":
        return on.replace(day=1)
    raise ValueError(f"period must be one of {', '.join(PERIOD_NAMES)}, not {period!r}")


@dataclass(frozen=True)
class RankRow:
    """One ranked department or staff member of a period and region, as the scoreboard holds it."""

    region: str
    rank: int
    id: str
    department_id: str
    score: float
    on_time_rate: float | None
    notices: int
    yellows: int
    reds: int
    deemed_approvals: int
    cases_finished: int
    department_name: str = ""
    name: str = ""  # the department's or the staff member's own name, from the organisation directory

    def as_json(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return asdict(self)


def fetch(client: Any, kind: Kind, period: str, start: date, region: str | None = None) -> list[RankRow]:
    """Ranked rows of one period; within `region` (its level read from the code) or every province.

    From the scoreboard (sinks/scoreboard.py): the rankings views' rows as of its last refresh.
    """
    level = level_of(region) if region else "province"
    who = entity_column(kind)
    where = "period = %(period)s AND period_start = %(start)s AND level = %(level)s"
    if region:
        where += " AND region = %(region)s"
    columns = (
        "region, rank, entity, department_id, score, on_time_rate, notices, yellows, reds, "
        "deemed_approvals, cases_finished"
    )
    # The department's name from the `departments` dimension ('' where none is known yet). Current
    # releases want an alias on each joined subquery; 18.16 accepts them.
    rows = client.execute(
        f"SELECT {columns}, department_name FROM (SELECT {who} AS entity, * FROM {board_table(kind)} "
        f"WHERE {where}) AS r ANY LEFT JOIN ({names_sql()}) AS d USING department_id ORDER BY region, rank",
        {"period": period, "start": start, "level": level, "region": region or ""},
    )
    return [
        RankRow(
            str(r[0]),
            int(r[1]),
            str(r[2]),
            str(r[3]),
            float(r[4]),
            None if r[5] is None else float(r[5]),
            int(r[6]),
            int(r[7]),
            int(r[8]),
            int(r[9]),
            int(r[10]),
            str(r[11]),
        )
        for r in rows
    ]


def with_names(rows: list[RankRow], departments: dict[str, str], staff: dict[str, str], kind: Kind) -> list[RankRow]:
    """The rows with the directory's names (the directory wins over the simulator's department names)."""
    names = departments if kind == "department" else staff
    return [
        replace(r, name=names.get(r.id, ""), department_name=departments.get(r.department_id, r.department_name))
        for r in rows
    ]


_HEADER = ("rank", "id", "department", "region", "score", "on-time", "notice", "yellow", "red", "deemed")


def format_table(rows: list[RankRow], kind: Kind) -> str:
    """A fixed-width table, one line per ranked department or staff member."""
    header = list(_HEADER)
    header[1] = "department" if kind == "department" else "staff"
    lines = []
    for r in rows:
        rate = "-" if r.on_time_rate is None else f"{100 * r.on_time_rate:.0f}%"
        cells = [
            str(r.rank),
            r.id,
            r.department_id if kind == "staff" else "",
            r.region,
            f"{r.score:.2f}",
            rate,
            str(r.notices),
            str(r.yellows),
            str(r.reds),
            str(r.deemed_approvals),
        ]
        lines.append(cells)
    if kind == "department":
        header.pop(2)
        lines = [c[:2] + c[3:] for c in lines]
    numeric = {0} | set(range(len(header) - 6, len(header)))  # rank, score and the counts
    if any(r.name or r.department_name for r in rows):
        # Names last, so that wide (CJK) characters cannot push the numbers out of line; '-' where unknown.
        if kind == "department":
            header.append("name")
            lines = [[*c, r.name or r.department_name or "-"] for c, r in zip(lines, rows, strict=True)]
        else:
            header += ["name", "department name"]
            lines = [[*c, r.name or "-", r.department_name or "-"] for c, r in zip(lines, rows, strict=True)]
    widths = [max(len(h), *(len(c[i]) for c in lines)) if lines else len(h) for i, h in enumerate(header)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [fmt(header), "  ".join("-" * w for w in widths)]
    out += [fmt(c) for c in lines]
    return "\n".join(line.rstrip() for line in out)
