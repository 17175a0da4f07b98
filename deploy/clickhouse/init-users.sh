#!/bin/bash
# Creates the platform's users from deploy/clickhouse/users.sql on the ClickHouse container's first start
# (mounted into /docker-entrypoint-initdb.d). Passwords come from the compose secrets; only their SHA-256
# reaches ClickHouse. DRY_RUN=1 prints the SQL instead of running it (tests/integration/test_clickhouse_users.py).
set -euo pipefail
SECRETS="${SECRETS:-/run/secrets}"
USERS_SQL="${USERS_SQL:-/etc/esup/users.sql}"

sha256() { tr -d '\r\n' < "$SECRETS/$1.password" | sha256sum | cut -d' ' -f1; }

sql="$(sed -e "s/{{SINK_SHA256}}/$(sha256 esup_sink)/" \
           -e "s/{{SERVICE_SHA256}}/$(sha256 esup_service)/" \
           -e "s/{{READER_SHA256}}/$(sha256 esup_reader)/" \
           -e "s/{{SCORER_SHA256}}/$(sha256 esup_scorer)/" "$USERS_SQL")"
if [ -n "${DRY_RUN:-}" ]; then
    printf '%s\n' "$sql"
else
    printf '%s\n' "$sql" | clickhouse-client --user esup_admin \
        --password "$(tr -d '\r\n' < "$SECRETS/esup_admin.password")" --multiquery
fi
