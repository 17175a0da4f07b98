"""Case panels: the case's current state, its timeline of events and findings, each finding's evidence."""

from __future__ import annotations

from dashboards.panels import PanelSpec
from sinks.departments import names_sql

CASE = "case_id = '$case_id'"


def case_state() -> PanelSpec:
    """The case's current state from its snapshot, with the department's name."""
    return PanelSpec(
        title="办件状态 Case",
        kind="table",
        sql=f"""SELECT case_id, item_code, department_id, if(department_name = '', department_id, department_name)
    AS department, region_code, responsible_staff, first_staff, stage, outcome, open, decision_deadline, next_due,
    last_event_at
FROM
(
    SELECT case_id, item_code, department_id, region_code, responsible_staff, first_staff, stage, outcome, open,
        decision_deadline, next_due, last_event_at
    FROM case_snapshots FINAL
    WHERE {CASE}
) AS c
ANY LEFT JOIN ({names_sql()}) AS d USING department_id""",
        columns=(
            "case_id",
            "item_code",
            "department_id",
            "department",
            "region_code",
            "responsible_staff",
            "first_staff",
            "stage",
            "outcome",
            "open",
            "decision_deadline",
            "next_due",
            "last_event_at",
        ),
        width=24,
        height=4,
    )


def timeline() -> PanelSpec:
    """Every event and every finding of the case in time order."""
    return PanelSpec(
        title="时间线 Timeline",
        kind="table",
        description="Every event of the case and every finding on it, in time order.",
        sql=f"""SELECT time, entry, what, severity, staff_id, detail
FROM
(
    SELECT occurred_at AS time, 'event' AS entry, kind AS what, '' AS severity, staff_id, payload AS detail
    FROM case_events FINAL
    WHERE {CASE}
    UNION ALL
    SELECT detected_at AS time, 'finding' AS entry, rule AS what, severity, staff_id, message AS detail
    FROM findings FINAL
    WHERE {CASE}
)
ORDER BY time, entry, what""",
        columns=("time", "entry", "what", "severity", "staff_id", "detail"),
        width=24,
        height=12,
    )


def findings_with_evidence() -> PanelSpec:
    """One row per finding and evidence event, with what the event recorded."""
    return PanelSpec(
        title="问题与证据 Findings and their evidence",
        kind="table",
        description="One row per finding and evidence event, with what the event recorded.",
        sql=f"""SELECT rule, severity, detected_at, law_article, evidence_event_id, kind, occurred_at, evidence_staff,
    payload
FROM
(
    SELECT rule, severity, detected_at, law_article, evidence_event_id
    FROM findings FINAL
    ARRAY JOIN evidence_event_ids AS evidence_event_id
    WHERE {CASE}
) AS f
ANY LEFT JOIN
(
    SELECT event_id AS evidence_event_id, kind, occurred_at, staff_id AS evidence_staff, payload
    FROM case_events FINAL
    WHERE {CASE}
) AS e USING evidence_event_id
ORDER BY detected_at, rule, evidence_event_id""",
        columns=(
            "rule",
            "severity",
            "detected_at",
            "law_article",
            "evidence_event_id",
            "kind",
            "occurred_at",
            "evidence_staff",
            "payload",
        ),
        width=24,
        height=10,
    )


def specs() -> list[PanelSpec]:
    """The case dashboard's panels, in order."""
    return [case_state(), timeline(), findings_with_evidence()]
