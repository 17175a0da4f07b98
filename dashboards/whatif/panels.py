"""What-if panels: the scenario's department ranking beside the live one, its rank moves, its findings by rule."""

from __future__ import annotations

from dashboards.panels import PanelSpec
from dashboards.sql import CURRENT_PERIOD, SELECTED_REGION, TZ, in_region

# Every stored scenario, newest first (the variable's values).
SCENARIOS = "SELECT scenario FROM whatif_runs GROUP BY scenario ORDER BY max(stored_at) DESC, scenario"
# The selected scenario's latest run: a name stored again is replaced in the panels by its new run.
_RUN = "run_id = (SELECT argMax(run_id, stored_at) FROM whatif_runs WHERE scenario = '$scenario')"


def ranking_beside_live() -> PanelSpec:
    """Each department's rank and score under the scenario beside the live scoreboard's, for the month that holds
    the end of the time range (a scenario is scored by month: pick the period `month` to compare like with like)."""
    return PanelSpec(
        title="情景与现行排名 Scenario beside the live ranking",
        kind="table",
        description="Department ranks in the selected region for the month holding the end of the time range: "
        "the live scoreboard's (live_rank, for the selected period: choose month), the scenario's baseline "
        "(rank_before, which should equal it) and the scenario's (rank_after). A scenario ranks in the region it "
        "was stored for (default: the province).",
        sql=f"""SELECT period_start, department_id, live_rank, live_score, rank_before, rank_after, score_before,
    score_after, toInt64(rank_before) - toInt64(rank_after) AS rank_move
FROM
(
    SELECT period_start, entity_id AS department_id, rank_before, rank_after, score_before, score_after
    FROM whatif_scores
    WHERE scenario = '$scenario' AND {_RUN} AND kind = 'department' AND region = '$region'
        AND period_start = toStartOfMonth(toDate($__toTime, '{TZ}'))
) AS w
ANY LEFT JOIN
(
    SELECT department_id, rank AS live_rank, score AS live_score
    FROM scoreboard_department
    WHERE {SELECTED_REGION} AND {CURRENT_PERIOD}
) AS l USING department_id
ORDER BY rank_after, department_id""",
        columns=(
            "period_start",
            "department_id",
            "live_rank",
            "live_score",
            "rank_before",
            "rank_after",
            "score_before",
            "score_after",
            "rank_move",
        ),
        width=24,
        height=10,
    )


def findings_by_rule() -> PanelSpec:
    """What the scenario adds, removes and changes, per rule, in the selected region."""
    return PanelSpec(
        title="情景问题增减 Findings the scenario adds and removes",
        kind="table",
        description="Findings of the window's cases that the scenario adds, removes or changes (same id, other "
        "time, severity or staff), per rule.",
        sql=f"""SELECT rule, countIf(side = 'added') AS added, countIf(side = 'removed') AS removed,
    countIf(side = 'changed') AS changed
FROM whatif_findings
WHERE scenario = '$scenario' AND {_RUN} AND {in_region("region_code")}
GROUP BY rule
ORDER BY added + removed + changed DESC, rule""",
        columns=("rule", "added", "removed", "changed"),
        width=12,
        height=8,
    )


def scenario_runs() -> PanelSpec:
    """The selected scenario's stored runs: window, what changed, whether its baseline equalled the live findings."""
    return PanelSpec(
        title="情景记录 Scenario runs",
        kind="table",
        description="Each time the scenario was stored: its window, the configuration parts it changes, and whether "
        "its baseline replay equalled the live findings id for id (baseline_ok).",
        sql="""SELECT stored_at, run_id, window_from, window_to, region, changed, baseline_ok, findings_added,
    findings_removed, findings_changed
FROM whatif_runs
WHERE scenario = '$scenario'
ORDER BY stored_at DESC, run_id""",
        columns=(
            "stored_at",
            "run_id",
            "window_from",
            "window_to",
            "region",
            "changed",
            "baseline_ok",
            "findings_added",
            "findings_removed",
            "findings_changed",
        ),
        width=12,
        height=8,
    )


def specs() -> list[PanelSpec]:
    """The what-if dashboard's panels, in layout order."""
    return [ranking_beside_live(), findings_by_rule(), scenario_runs()]
