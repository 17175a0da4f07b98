"""Shared panel helpers: a panel is a spec (title, SQL, the columns it expects) turned into an SDK builder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from grafana_foundation_sdk.builders import bargauge, dashboard, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model

from dashboards import clickhouse

Kind = Literal["table", "stat", "timeseries", "bargauge"]
TIMEZONE = "Asia/Shanghai"
REFRESH = "5s"


@dataclass(frozen=True)
class PanelSpec:
    """What a panel shows and what its query must return (the integration test checks the columns)."""

    title: str
    kind: Kind
    sql: str
    columns: tuple[str, ...]
    description: str = ""
    width: int = 12
    height: int = 8
    unit: str | None = None


def build_panel(spec: PanelSpec, panel_id: int) -> cogbuilder.Builder[model.Panel]:
    """The SDK panel for ``spec`` with id ``panel_id``: its kind, the ClickHouse query, size, description and unit."""
    query = clickhouse.Query(spec.sql).format("timeseries" if spec.kind == "timeseries" else "table")
    panel: table.Panel | stat.Panel | timeseries.Panel | bargauge.Panel
    if spec.kind == "table":
        panel = table.Panel()
    elif spec.kind == "stat":
        panel = stat.Panel()
    elif spec.kind == "timeseries":
        panel = timeseries.Panel()
    else:
        panel = bargauge.Panel()
    panel = (
        panel.id(panel_id)
        .title(spec.title)
        .datasource(clickhouse.datasource())
        .with_target(query)
        .span(spec.width)
        .height(spec.height)
    )
    if spec.description:
        panel = panel.description(spec.description)
    if spec.unit:
        panel = panel.unit(spec.unit)
    return panel


def region_level_variable() -> dashboard.CustomVariable:
    """The region-level (区划级别) variable: province, city or county, province by default."""
    return (
        dashboard.CustomVariable("region_level")
        .label("区划级别 Region level")
        .values("province,city,county")
        .current(model.VariableOption(selected=True, text="province", value="province"))
    )


def query_variable(name: str, label: str, sql: str, current: str | None = None) -> dashboard.QueryVariable:
    """A variable whose values come from ``sql`` on ClickHouse, refreshed on dashboard load."""
    var = (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(clickhouse.datasource())
        .query(sql)
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
    )
    if current is not None:
        var = var.current(model.VariableOption(selected=True, text=current, value=current))
    return var


def period_variable() -> dashboard.CustomVariable:
    """The period (周期) variable: day, week or month, month by default."""
    return (
        dashboard.CustomVariable("period")
        .label("周期 Period")
        .values("day,week,month")
        .current(model.VariableOption(selected=True, text="month", value="month"))
    )


def new_dashboard(uid: str, title: str, description: str, time_from: str = "now-30d") -> dashboard.Dashboard:
    """A dashboard with the platform's common settings: Beijing time, live refresh, read-only, tagged."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["esup", "电子监察"])
        .timezone(TIMEZONE)
        .refresh(REFRESH)
        .time(time_from, "now")
        .readonly()
        .timepicker(dashboard.TimePicker().refresh_intervals(["5s", "10s", "30s", "1m", "5m"]))
        .link(
            dashboard.DashboardLink("电子监察 dashboards")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(["esup"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def with_panels(board: dashboard.Dashboard, specs: Sequence[PanelSpec]) -> dashboard.Dashboard:
    """``board`` with one panel per spec, numbered from 1 in order."""
    for n, spec in enumerate(specs, start=1):
        board = board.with_panel(build_panel(spec, n))
    return board
