"""Province overview panels: the live department ranking, cards standing now, on-time rate by city, findings."""

from __future__ import annotations

from dashboards.panels import PanelSpec
from dashboards.sql import CURRENT_PERIOD, OPEN_CASES, SELECTED_REGION, in_region
from sinks.departments import names_sql


def department_ranking() -> PanelSpec:
    """The selected region's departments ranked by score this period, with their names."""
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
        columns=(
            "rank",
            "department_id",
            "department",
            "score",
            "on_time_rate",
            "notices",
            "yellows",
            "reds",
            "deemed_approvals",
            "cases_finished",
        ),
        width=24,
        height=10,
    )


def _cards(severity: str, title: str) -> PanelSpec:
    return PanelSpec(
        title=title,
        kind="stat",
        description=f"{severity} cards on cases still open in the selected region.",
        sql=f"""SELECT count() AS {severity}_cards
FROM findings FINAL
WHERE severity = '{severity}' AND {in_region("region_code")} AND {OPEN_CASES}""",
        columns=(f"{severity}_cards",),
        width=4,
        height=6,
    )


def red_cards_now() -> PanelSpec:
    """The count of red cards on cases still open in the selected region."""
    return _cards("red", "红牌 Red cards now")


def yellow_cards_now() -> PanelSpec:
    """The count of yellow cards on cases still open in the selected region."""
    return _cards("yellow", "黄牌 Yellow cards now")


def on_time_rate_by_city() -> PanelSpec:
    """Per city of the selected province, the share of this period's finished cases with no late card."""
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
        width=16,
        height=6,
        unit="percentunit",
    )


def findings_over_time() -> PanelSpec:
    """Findings per day in the selected region, by severity."""
    return PanelSpec(
        title="预警与红黄牌趋势 Findings over time",
        kind="timeseries",
        description="Findings per day in the selected region, by severity.",
        sql=f"""SELECT toStartOfDay(detected_at) AS time, countIf(severity = 'notice') AS notices,
    countIf(severity = 'yellow') AS yellow_cards, countIf(severity = 'red') AS red_cards
FROM findings FINAL
WHERE $__timeFilter(detected_at) AND {in_region("region_code")}
GROUP BY time
ORDER BY time""",
        columns=("time", "notices", "yellow_cards", "red_cards"),
        width=24,
        height=9,
    )


def complaints_by_department() -> PanelSpec:
    """Complaints received per department of the selected region, how many were substantiated, and their cards."""
    return PanelSpec(
        title="投诉与督办卡 Complaints and their cards by department",
        kind="table",
        description="Complaints from the public received in the time range per department of the selected region "
        "(the department it was last dispatched to, else the one complained about), how many were "
        "found substantiated, and the complaint cards (notices, yellow and red) raised on them.",
        sql=f"""SELECT department_id, if(department_name = '', department_id, department_name) AS department,
    complaints, substantiated, notices, yellow_cards, red_cards
FROM
(
    SELECT department_id, complaints, substantiated, notices, yellow_cards, red_cards
    FROM
    (
        SELECT department_id, count() AS complaints, sum(closed_substantiated) AS substantiated
        FROM
        (
            SELECT complaint_id, argMaxIf(department_id, at, department_id != '') AS department_id,
                anyIf(region_code, type = 'received') AS region_code, minIf(at, type = 'received') AS received_at,
                maxIf(substantiated, type = 'closed') AS closed_substantiated
            FROM complaint_messages FINAL
            GROUP BY complaint_id
        ) AS c
        WHERE $__timeFilter(received_at) AND {in_region("region_code")}
        GROUP BY department_id
    ) AS k
    ANY LEFT JOIN
    (
        SELECT department_id, countIf(severity = 'notice') AS notices, countIf(severity = 'yellow') AS yellow_cards,
            countIf(severity = 'red') AS red_cards
        FROM findings FINAL
        WHERE rule LIKE 'CMP_%' AND $__timeFilter(detected_at) AND {in_region("region_code")}
        GROUP BY department_id
    ) AS f USING department_id
) AS r
ANY LEFT JOIN ({names_sql()}) AS d USING department_id
ORDER BY complaints DESC, department_id""",
        columns=("department_id", "department", "complaints", "substantiated", "notices", "yellow_cards", "red_cards"),
        width=24,
        height=9,
    )


def specs() -> list[PanelSpec]:
    """The province overview dashboard's panels, in order."""
    return [
        department_ranking(),
        red_cards_now(),
        yellow_cards_now(),
        on_time_rate_by_city(),
        findings_over_time(),
        complaints_by_department(),
    ]
