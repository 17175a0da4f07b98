"""Department (部门): one department's staff ranking, its open cases by deadline, its fee and procedure findings."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import panels as p
from dashboards import sql
from dashboards.department.panels import specs as specs  # re-exported for dashboards.build

UID = "esup-department"


def build() -> Dashboard:
    """The department (部门) dashboard: region, period and department variables."""
    board = p.new_dashboard(
        UID,
        "电子监察 · 部门 Department",
        "Staff ranking, open cases nearest their deadline, fee and procedure findings.",
    )
    board = (
        board.with_variable(p.region_level_variable())
        .with_variable(p.query_variable("region", "区划 Region", sql.REGIONS, current="510000"))
        .with_variable(p.period_variable())
        .with_variable(p.query_variable("department", "部门 Department", sql.DEPARTMENTS))
    )
    return p.with_panels(board, specs())
