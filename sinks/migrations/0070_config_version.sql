-- Issue 18: every finding carries the configuration version it was judged under (calendar and thresholds in
-- effect at its moment, streams/rules/schedule.py config_version). Findings from before keep '' (hash v2 does
-- not cover the field, so they still verify). Same SQL subset as 0001 (ClickHouse 18.16 and current).
ALTER TABLE findings ADD COLUMN config_version String DEFAULT '';
