-- The platform's ClickHouse users on a current release (docker-compose's 25.3), one per role of
-- esup/clickhouse_auth.py. The admin (esup_admin: migrations and views) is the image's CLICKHOUSE_USER,
-- with access management; the image's `default` user is removed (no-default-user.xml).
-- init-users.sh puts each password's SHA-256 in place of {{…}} (read from the compose secrets) and runs
-- this as the admin on the container's first start; `sha256_hash` means no password reaches the server's
-- logs or query log. Re-running it replaces the users (OR REPLACE) and grants them again.
CREATE DATABASE IF NOT EXISTS esup;

-- The sink and the other append-only writers (loop messages, audit log, department names): INSERT and
-- nothing else, so none of them can read, ALTER … DELETE/UPDATE, TRUNCATE or DROP what was recorded.
CREATE USER OR REPLACE esup_sink IDENTIFIED WITH sha256_hash BY '{{SINK_SHA256}}' DEFAULT DATABASE esup;
GRANT INSERT ON esup.* TO esup_sink;

-- The notifier's delivery ledger and the directory sync read back what they append: SELECT and INSERT.
CREATE USER OR REPLACE esup_service IDENTIFIED WITH sha256_hash BY '{{SERVICE_SHA256}}' DEFAULT DATABASE esup;
GRANT SELECT, INSERT ON esup.* TO esup_service;

-- Grafana, rankings, the case view, dossiers, verify, the API's reads: SELECT on esup only, readonly = 1
-- and locked (CONST). Grafana's ClickHouse plugin sets max_execution_time on every query, which a
-- readonly user may not: that one setting stays changeable, within bounds.
CREATE USER OR REPLACE esup_reader IDENTIFIED WITH sha256_hash BY '{{READER_SHA256}}' DEFAULT DATABASE esup
    SETTINGS readonly = 1 CONST, max_execution_time = 60 MIN 1 MAX 600 CHANGEABLE_IN_READONLY;
GRANT SELECT ON esup.* TO esup_reader;

-- The scoreboard's refresher (`esup scores refresh`, sinks/scoreboard.py): it reads the score views and their
-- inputs, rebuilds each board as <board>_next, swaps it in with EXCHANGE TABLES (which wants SELECT, INSERT,
-- CREATE TABLE and DROP TABLE on both names) and drops the copy; it logs each refresh. No other table is
-- writable by it, and it can neither ALTER nor TRUNCATE anything.
CREATE USER OR REPLACE esup_scorer IDENTIFIED WITH sha256_hash BY '{{SCORER_SHA256}}' DEFAULT DATABASE esup;
GRANT SELECT ON esup.* TO esup_scorer;
GRANT INSERT, CREATE TABLE, DROP TABLE ON esup.scoreboard_department TO esup_scorer;
GRANT INSERT, CREATE TABLE, DROP TABLE ON esup.scoreboard_department_next TO esup_scorer;
GRANT INSERT, CREATE TABLE, DROP TABLE ON esup.scoreboard_staff TO esup_scorer;
GRANT INSERT, CREATE TABLE, DROP TABLE ON esup.scoreboard_staff_next TO esup_scorer;
GRANT INSERT ON esup.scoreboard_refreshes TO esup_scorer;
