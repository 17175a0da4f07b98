"""Province overview panels: the live department ranking, cards standing now, on-time rate by city, findings."""

from __future__ import annotations

from dashboards.panels import PanelSpec
from dashboards.sql import CURRENT_PERIOD, OPEN_CASES, SELECTED_REGION, in_region
from sinks.departments import names_sql


def department_ranking() -> PanelSpec:
    return PanelSpec(
        title="部门排名 Department ranking",
        kind="table",
        description="Departments of the selected region ranked by score in the current period "
                    "(ties: on-time rate, then id); names from the organisation directory.",
        sql=f"""SELECT rank, department_id, if(department_name = '', department_id, department_name) AS department,
    score, on_time_rate, notices, yellows, reds, deemed_approvals, cases_finished
FROM
(
    SELECT rank, department_id, score, on_time_rate, notices, yellows, reds, deemed_approvals, cases_finished
    FROM scoreboard_department
    WHERE {SELECTED_REGION} AND {CURRENT_PERIOD}
) AS r
ANY LEFT JOIN ({names_sql()}) AS d USING department_id
ORDER BY rank""",
        columns=("rank", "department_id", "department", "score", "on_time_rate", "notices", "yellows", "reds",
                 "deemed_approvals", "cases_finished"),
        width=24, height=10,
    )


def _cards(severity: str, title: str) -> PanelSpec:
    return PanelSpec(
        title=title,
        kind="stat",
        description=f"{severity} cards on cases still open in the selected region.",
        sql=f"""SELECT count() AS {severity}_cards
FROM findings FINAL
WHERE severity = '{severity}' AND {in_region('region_code')} AND {OPEN_CASES}""",
        columns=(f"{severity}_cards",),
        width=4, height=6,
    )


def red_cards_now() -> PanelSpec:
    return _cards("red", "红牌 Red cards now")


def yellow_cards_now() -> PanelSpec:
    return _cards("yellow", "黄牌 Yellow cards now")


def on_time_rate_by_city() -> PanelSpec:
    return PanelSpec(
        title="按市办结及时率 On-time rate by city",
        kind="bargauge",
        description="Share of the cases finished in the current period with no late card, per city of the "
                    "selected province.",
        sql=f"""SELECT region AS city, sum(cases_on_time) / sum(cases_finished) AS on_time_rate
FROM scoreboard_department
WHERE level = 'city' AND substring(region, 1, 2) = substring('$region', 1, 2) AND {CURRENT_PERIOD}
GROUP BY region
HAVING sum(cases_finished) > 0
ORDER BY region""",
        columns=("city", "on_time_rate"),
        width=16, height=6, unit="percentunit",
    )


def findings_over_time() -> PanelSpec:
    return PanelSpec(
        title="预警与红黄牌趋势 Findings over time",
        kind="timeseries",
        description="Findings per day in the selected region, by severity.",
        sql=f"""SELECT toStartOfDay(detected_at) AS time, countIf(severity = 'notice') AS notices,
    countIf(severity = 'yellow') AS yellow_cards, countIf(severity = 'red') AS red_cards
FROM findings FINAL
WHERE $__timeFilter(detected_at) AND {in_region('region_code')}
GROUP BY time
ORDER BY time""",
        columns=("time", "notices", "yellow_cards", "red_cards"),
        width=24, height=9,
    )


def specs() -> list[PanelSpec]:
    return [department_ranking(), red_cards_now(), yellow_cards_now(), on_time_rate_by_city(),
            findings_over_time()]
