"""Views that join findings to the directory: names, heads, and the heads' account (red cards, deemed approvals).

Created by `esup db views` with the score views; the same SQL subset (ClickHouse 18.16 and current: one
JOIN per SELECT, ANY LEFT JOIN, missing names fall back to ids).
"""

from __future__ import annotations

from typing import Any

ACCOUNTABILITY = "findings_accountability"
HEADS = "head_accountability"

# Red cards and every deemed acceptance or approval (TIME_*DEEMED*) are also the department head's.
HEAD_ACCOUNTABLE_SQL = "toUInt8(severity = 'red' OR match(rule, '^TIME_.*DEEMED'))"

ACCOUNTABILITY_SQL = f"""SELECT
    finding_id, case_id, rule, category, severity, detected_at, region_code, item_code,
    staff_id, if(staff_name = '', staff_id, staff_name) AS staff_name,
    department_id, if(department_name = '', department_id, department_name) AS department_name,
    head_id, if(head_name = '', head_id, head_name) AS head_name, bureau_id,
    {HEAD_ACCOUNTABLE_SQL} AS head_accountable
FROM
(
    SELECT finding_id, case_id, rule, category, severity, detected_at, region_code, item_code, staff_id,
        department_id, staff_name
    FROM
    (
        SELECT finding_id, case_id, rule, category, severity, detected_at, region_code, item_code, staff_id,
            department_id
        FROM findings FINAL
    ) AS f
    ANY LEFT JOIN
    (
        SELECT id AS staff_id, name AS staff_name FROM directory_staff FINAL WHERE deleted = 0
    ) AS s USING staff_id
) AS fs
ANY LEFT JOIN
(
    SELECT department_id, department_name, head_id, head_name, bureau_id
    FROM
    (
        SELECT id AS department_id, name AS department_name, head AS head_id, bureau AS bureau_id
        FROM directory_departments FINAL WHERE deleted = 0
    ) AS d
    ANY LEFT JOIN
    (
        SELECT id AS head_id, name AS head_name FROM directory_staff FINAL WHERE deleted = 0
    ) AS h USING head_id
) AS dh USING department_id"""

HEADS_SQL = f"""SELECT
    toStartOfMonth(detected_at) AS month, department_id, any(department_name) AS department_name,
    head_id, any(head_name) AS head_name,
    countIf(severity = 'red') AS reds,
    countIf(match(rule, '^TIME_.*DEEMED')) AS deemed,
    count() AS findings
FROM {ACCOUNTABILITY}
WHERE head_accountable = 1
GROUP BY month, department_id, head_id"""


def create_views(client: Any) -> list[str]:
    """(Re)create both views on the client's database (migrated to 0012 or later); returns their names."""
    for name in (HEADS, ACCOUNTABILITY):
        client.execute(f"DROP TABLE IF EXISTS {name}")
    client.execute(f"CREATE VIEW {ACCOUNTABILITY} AS\n{ACCOUNTABILITY_SQL}")
    client.execute(f"CREATE VIEW {HEADS} AS\n{HEADS_SQL}")
    return [ACCOUNTABILITY, HEADS]
