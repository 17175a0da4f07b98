"""Publish the ClickHouse data source and the dashboards to a running Grafana through its HTTP API.

Payload construction is pure (and unit-tested); :func:`push` is the only I/O, through grafana-client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dashboards import clickhouse
from dashboards.build import BOARDS, Board, as_dict

FOLDER_UID = "esup"
FOLDER_TITLE = "电子监察"


@dataclass(frozen=True)
class Target:
    """Where Grafana reaches ClickHouse (seen from Grafana's host, not from this one)."""

    host: str
    port: int
    database: str
    user: str
    password: str
    protocol: str = "native"


def datasource_payload(target: Target) -> dict[str, Any]:
    """The data source as provisioned in deploy/grafana/provisioning/datasources/clickhouse.yaml."""
    return {
        "name": clickhouse.NAME,
        "uid": clickhouse.UID,
        "type": clickhouse.PLUGIN,
        "access": "proxy",
        "isDefault": True,
        "jsonData": {
            "host": target.host,
            "port": target.port,
            "protocol": target.protocol,
            "secure": False,
            "username": target.user,
            "defaultDatabase": target.database,
        },
        "secureJsonData": {"password": target.password},
    }


def dashboard_payload(board: Board, folder_uid: str = FOLDER_UID) -> dict[str, Any]:
    """POST /api/dashboards/db body: overwrite by uid, into the platform's folder."""
    model = as_dict(board)
    model.pop("id", None)  # Grafana matches on uid; an id from elsewhere would point at another dashboard
    return {"dashboard": model, "folderUid": folder_uid, "overwrite": True, "message": "esup dashboards push"}


def push(api: Any, target: Target, report: Callable[[str], None] = print) -> None:
    """Create or update the folder, the data source and every dashboard (api: grafana_client.GrafanaApi)."""
    from grafana_client.client import GrafanaClientError

    try:
        api.folder.get_folder(FOLDER_UID)
        report(f"folder {FOLDER_TITLE} ({FOLDER_UID}) exists")
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
        report(f"folder {FOLDER_TITLE} ({FOLDER_UID}) created")

    payload = datasource_payload(target)
    try:
        api.datasource.get_datasource_by_uid(clickhouse.UID)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.datasource.create_datasource(payload)
        report(f"data source {clickhouse.UID} created")
    else:
        try:
            api.datasource.update_datasource_by_uid(clickhouse.UID, payload)
            report(f"data source {clickhouse.UID} updated")
        except GrafanaClientError as exc:
            # A provisioned data source (docker-compose) is read-only through the API: keep it.
            report(f"data source {clickhouse.UID} kept as it is ({exc.status_code}: provisioned?)")

    for board in BOARDS:
        result = api.dashboard.update_dashboard(dashboard_payload(board))
        report(f"dashboard {board.uid} {result.get('status', 'saved')} (version {result.get('version', '?')})")
