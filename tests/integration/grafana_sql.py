"""Grafana's side of a panel query, done by hand: template variables and the ClickHouse plugin's macros.

The plugin (grafana-clickhouse-datasource, pkg/macros) expands $__fromTime/$__toTime to toDateTime(<unix
seconds>) and $__timeFilter(col) to `col >= toDateTime(from) AND col <= toDateTime(to)`; Grafana replaces
$name and ${name} with the variable's value (our SQL puts the quotes around it).
"""

from __future__ import annotations

import re
from datetime import datetime

_TIME_FILTER = re.compile(r"\$__timeFilter\(\s*([^)]+?)\s*\)")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def expand(sql: str, variables: dict[str, str], start: datetime, end: datetime) -> str:
    frm, to = f"toDateTime({int(start.timestamp())})", f"toDateTime({int(end.timestamp())})"
    sql = _TIME_FILTER.sub(lambda m: f"{m.group(1)} >= {frm} AND {m.group(1)} <= {to}", sql)
    sql = sql.replace("$__fromTime", frm).replace("$__toTime", to)

    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name.startswith("__"):
            raise KeyError(f"macro ${name} is not expanded by this test helper")
        return variables[name]

    out = _VARIABLE.sub(value, sql)
    assert "$" not in out, out
    return out
