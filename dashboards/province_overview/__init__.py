"""Province overview (省级总览): who ranks where now, which cards are standing, how each city keeps time."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import panels as p
from dashboards import sql
from dashboards.province_overview.panels import specs as specs  # re-exported for dashboards.build

UID = "esup-province-overview"


def build() -> Dashboard:
    """The province overview (省级总览) dashboard: region-level, region and period variables."""
    board = p.new_dashboard(
        UID,
        "电子监察 · 省级总览 Province overview",
        "Live department ranking, red and yellow cards, on-time rate by city, findings.",
    )
    board = (
        board.with_variable(p.region_level_variable())
        .with_variable(p.query_variable("region", "区划 Region", sql.REGIONS, current="510000"))
        .with_variable(p.period_variable())
    )
    return p.with_panels(board, specs())
