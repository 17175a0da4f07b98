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
