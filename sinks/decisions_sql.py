"""SQL over the loop's decisions: the latest decision per finding, findings that still count, measures taken."""

from __future__ import annotations

DECISIONS_VIEW = "finding_decisions"
MEASURES_VIEW = "accountability_measures"


def latest_decisions_sql() -> str:
    """One row per decided finding: its latest decision, who made it, when and why."""

    # The later decision wins; the id breaks a tie within one second. The key is a string (10-digit epoch
    # seconds, then the id) because 18.16's argMax takes no tuples.
    def last(col: str) -> str:
        return f"argMax({col}, concat(toString(toUInt32(at)), message_id))"

    return f"""SELECT finding_id, {last("outcome")} AS decision, {last("reason")} AS decision_reason,
    {last("dismissal_reason")} AS dismissal_reason, {last("actor_id")} AS decided_by, max(at) AS decided_at,
    count() AS decisions
FROM loop_messages FINAL
WHERE type = 'decision'
GROUP BY finding_id"""


def counted_findings_sql(pending_counts: bool = True) -> str:
    """The findings that cost points: a dismissed one never does; an undecided one does when pending_counts."""
    keep = "decision != 'dismissed'" + ("" if pending_counts else " AND decision != ''")
    return f"""(
    SELECT *
    FROM findings FINAL
    ANY LEFT JOIN ({latest_decisions_sql()}) AS d USING finding_id
    WHERE {keep}
)"""


def decisions_view_sql() -> str:
    """Every finding with its latest decision (empty when pending), for the console and the rankings' drill-down."""
    return f"""SELECT finding_id, case_id, rule, category, severity, staff_id, department_id, region_code,
    detected_at, if(decision = '', 'pending', decision) AS status, decision_reason, dismissal_reason,
    decided_by, decided_at
FROM findings FINAL
ANY LEFT JOIN ({latest_decisions_sql()}) AS d USING finding_id"""


def measures_view_sql() -> str:
    """Accountability measures decided, with the finding's department, staff and region, who, when and why."""
    return """SELECT message_id AS decision_id, finding_id, measure, target_kind, target_id, actor_id AS decided_by,
    at AS decided_at, reason, department_id, staff_id, region_code, case_id, rule
FROM
(
    SELECT message_id, finding_id, measure, target_kind, target_id, actor_id, at, reason
    FROM loop_messages FINAL
    WHERE type = 'decision' AND outcome = 'accountability'
) AS m
ANY LEFT JOIN
(
    SELECT finding_id, department_id, staff_id, region_code, case_id, rule FROM findings FINAL
) AS f USING finding_id"""
