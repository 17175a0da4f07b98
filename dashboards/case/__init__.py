"""Case (办件): the timeline of one case with its findings and the events that are their evidence."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import panels as p
from dashboards import sql
from dashboards.case.panels import specs as specs  # re-exported for dashboards.build

UID = "esup-case"


def build() -> Dashboard:
    """The case (办件) dashboard: region and case variables (a case id may be typed in), over the last year."""
    board = p.new_dashboard(
        UID, "电子监察 · 办件 Case", "One case: its state, timeline, findings and evidence.", time_from="now-1y"
    )
    case = p.query_variable("case_id", "办件 Case", sql.CASES).allow_custom_value(True)
    board = (
        board.with_variable(p.region_level_variable())
        .with_variable(p.query_variable("region", "区划 Region", sql.REGIONS, current="510000"))
        .with_variable(case)
    )
    return p.with_panels(board, specs())
