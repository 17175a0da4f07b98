-- One source for department names: the organisation directory (0012). The simulator's own `departments`
-- table (0030) becomes a view over directory_departments, so the rankings, `esup case`, the dashboards and
-- the notifier read the same names. Rows written to the old table that the directory does not hold move
-- into it first (version: their time in microseconds, as `esup directory publish` numbers versions).
-- Same SQL subset as 0001 (ClickHouse 18.16 and current).
INSERT INTO directory_departments (id, name, region_code, parent, head, bureau, deleted, version)
SELECT department_id, name, region_code, '', '', '', 0, toUInt64(toUInt32(updated_at)) * 1000000
FROM departments FINAL
WHERE department_id NOT IN (SELECT id FROM directory_departments);

DROP TABLE IF EXISTS departments;

CREATE VIEW departments AS
SELECT id AS department_id, name, region_code, parent, head, bureau
FROM directory_departments FINAL
WHERE deleted = 0;
