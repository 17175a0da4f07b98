"""Department panels: its staff ranking, open cases nearest their deadline, fee and procedure findings."""

from __future__ import annotations

from dashboards.panels import PanelSpec
from dashboards.sql import CURRENT_PERIOD, SELECTED_REGION, STAFF_NAMES, in_region


def staff_ranking() -> PanelSpec:
    """The department's staff ranked among all staff of the selected region this period, with their names."""
    return PanelSpec(
        title="人员排名 Staff ranking",
        kind="table",
        description="The department's staff with their rank among all staff of the selected region this period; "
        "names from the organisation directory.",
        sql=f"""SELECT rank, staff_id, if(staff_name = '', staff_id, staff_name) AS staff, score, on_time_rate, notices,
    yellows, reds, deemed_approvals, avg_wd_accept, avg_wd_decision, avg_wd_delivery
FROM
(
    SELECT rank, staff_id, score, on_time_rate, notices, yellows, reds, deemed_approvals,
        avg_wd_accept, avg_wd_decision, avg_wd_delivery
    FROM scoreboard_staff
    WHERE {SELECTED_REGION} AND {CURRENT_PERIOD} AND department_id = '$department'
) AS r
ANY LEFT JOIN ({STAFF_NAMES}) AS s USING staff_id
ORDER BY rank""",
        columns=(
            "rank",
            "staff_id",
            "staff",
            "score",
            "on_time_rate",
            "notices",
            "yellows",
            "reds",
            "deemed_approvals",
            "avg_wd_accept",
            "avg_wd_decision",
            "avg_wd_delivery",
        ),
        width=24,
        height=9,
    )


def open_cases_nearest_deadline() -> PanelSpec:
    """The department's 50 open cases whose next timer (notice, deadline or follow-up) comes first."""
    return PanelSpec(
        title="临近时限的在办件 Open cases nearest their deadline",
        kind="table",
        description="Open cases of the department by their next timer (notice, deadline or follow-up); "
        "days_left is negative once it has passed.",
        sql=f"""SELECT case_id, item_code, responsible_staff, stage, next_due, decision_deadline,
    round((toInt64(toUInt32(assumeNotNull(next_due))) - toInt64(toUInt32($__toTime))) / 86400, 1) AS days_left
FROM case_snapshots FINAL
WHERE open = 1 AND isNotNull(next_due) AND department_id = '$department' AND {in_region("region_code")}
ORDER BY next_due, case_id
LIMIT 50""",
        columns=("case_id", "item_code", "responsible_staff", "stage", "next_due", "decision_deadline", "days_left"),
        width=24,
        height=9,
    )


def fee_and_procedure_findings() -> PanelSpec:
    """The department's fee (arts. 58-59) and procedure findings in the time range, newest first."""
    return PanelSpec(
        title="收费与程序问题 Fee and procedure findings",
        kind="table",
        description="Fee (arts. 58-59) and procedure findings of the department in the time range.",
        sql=f"""SELECT detected_at, case_id, rule, severity, staff_id, title, law_article
FROM findings FINAL
WHERE department_id = '$department' AND category IN ('fee', 'procedure') AND $__timeFilter(detected_at)
    AND {in_region("region_code")}
ORDER BY detected_at DESC, finding_id
LIMIT 200""",
        columns=("detected_at", "case_id", "rule", "severity", "staff_id", "title", "law_article"),
        width=24,
        height=10,
    )


def specs() -> list[PanelSpec]:
    """The department dashboard's panels, in order."""
    return [staff_ranking(), open_cases_nearest_deadline(), fee_and_procedure_findings()]
