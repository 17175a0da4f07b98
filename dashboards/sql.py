"""SQL fragments shared by the panels: the selected region, the current period, open cases.

Panels use the Grafana ClickHouse plugin's macros ($__timeFilter(col), $__toTime) and the dashboards'
variables ($region_level, $region, $period, $department, $case_id); tests/integration expands both and runs
every panel on the real ClickHouse 18.16.
"""

from __future__ import annotations

from sinks.departments import names_sql
from sinks.scoring import region_of

TZ = "Asia/Shanghai"
LEVEL = "'$region_level'"
REGION = "'$region'"


def in_region(code_column: str) -> str:
    """The row's 6-digit region code falls in the selected region at the selected level."""
    return f"{region_of(LEVEL, code_column)} = {REGION}"


# Rows of the ranking and score views for the selected region.
SELECTED_REGION = f"level = {LEVEL} AND region = {REGION}"

# The period of the selected kind that contains the end of the dashboard's time range, in Beijing time:
# "live" while the range ends now, and a past period when someone looks back.
_END_DAY = f"toDate($__toTime, '{TZ}')"
CURRENT_PERIOD = (
    f"period = '$period' AND period_start = multiIf('$period' = 'day', {_END_DAY}, "
    f"'$period' = 'week', toMonday({_END_DAY}), toStartOfMonth({_END_DAY}))"
)

OPEN_CASES = "case_id IN (SELECT case_id FROM case_snapshots FINAL WHERE open = 1)"

# Staff names from the organisation directory, for `ANY LEFT JOIN (…) USING staff_id`.
STAFF_NAMES = "SELECT id AS staff_id, name AS staff_name FROM directory_staff FINAL WHERE deleted = 0"

# Template-variable queries (one column: the values offered; or two: the value, then its label).
REGIONS = f"SELECT DISTINCT {region_of(LEVEL, 'region_code')} AS region FROM case_snapshots FINAL ORDER BY region"
# Two columns: the value substituted into the panels' SQL (the id), then the label shown in the drop-down (the
# directory's name with the id, or the id alone where the directory has no name yet).
DEPARTMENTS = (
    "SELECT department_id, if(department_name = '', department_id, concat(department_name, ' (', department_id, ')'))"
    " AS label FROM (SELECT DISTINCT department_id FROM case_snapshots FINAL"
    f" WHERE {in_region('region_code')}) AS d ANY LEFT JOIN ({names_sql()}) AS n USING department_id"
    " ORDER BY department_id"
)
CASES = (
    f"SELECT case_id FROM case_snapshots FINAL WHERE {in_region('region_code')} "
    "ORDER BY updated_at DESC, case_id LIMIT 1000"
)
