"""What-if (规则变更影响): a stored scenario (`esup whatif --store NAME`) beside the live ranking."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import panels as p
from dashboards import sql
from dashboards.whatif.panels import SCENARIOS
from dashboards.whatif.panels import specs as specs  # re-exported for dashboards.build

UID = "esup-whatif"


def build() -> Dashboard:
    """The what-if dashboard: region-level, region, period (the live ranking's) and scenario variables."""
    board = p.new_dashboard(
        UID,
        "电子监察 · 规则变更影响 What-if",
        "A stored what-if scenario beside the live ranking: ranks and scores before and after, findings it adds "
        "and removes. Scenarios are stored with `esup whatif --store NAME` (docs/whatif.md).",
    )
    board = (
        board.with_variable(p.region_level_variable())
        .with_variable(p.query_variable("region", "区划 Region", sql.REGIONS, current="510000"))
        .with_variable(p.period_variable())
        .with_variable(p.query_variable("scenario", "情景 Scenario", SCENARIOS))
    )
    return p.with_panels(board, specs())
