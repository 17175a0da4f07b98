"""What `esup dashboards push` sends to Grafana (payload construction only; no Grafana server here)."""

from __future__ import annotations

from dashboards import clickhouse
from dashboards.build import BOARDS
from dashboards.push import FOLDER_UID, Target, dashboard_payload, datasource_payload


def test_datasource_payload_matches_the_provisioned_data_source() -> None:
    p = datasource_payload(Target(host="clickhouse", port=9000, database="esup", user="esup", password="s3cret"))
    assert (p["uid"], p["type"], p["name"]) == (clickhouse.UID, clickhouse.PLUGIN, clickhouse.NAME)
    assert p["jsonData"] == {
        "host": "clickhouse",
        "port": 9000,
        "protocol": "native",
        "secure": False,
        "username": "esup",
        "defaultDatabase": "esup",
    }
    assert p["secureJsonData"] == {"password": "s3cret"}


def test_dashboard_payload_overwrites_by_uid_in_the_platform_folder() -> None:
    for board in BOARDS:
        p = dashboard_payload(board)
        assert p["overwrite"] is True and p["folderUid"] == FOLDER_UID
        assert p["dashboard"]["uid"] == board.uid and "id" not in p["dashboard"]
        assert p["dashboard"]["panels"][0]["targets"][0]["rawSql"] == board.specs()[0].sql
        assert dashboard_payload(board, folder_uid="other")["folderUid"] == "other"
