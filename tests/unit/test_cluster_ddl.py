"""The cluster form of the migrations: replicated <table>_local behind Distributed <table>, every DDL ON CLUSTER."""

from __future__ import annotations

import pytest

from esup.settings import Settings
from esup.topics import platform_topics
from sinks.cluster_ddl import ClusterDDLError, cluster_form, qualified
from sinks.migrate import load_migrations


def test_a_table_becomes_a_replicated_local_table_behind_a_distributed_one() -> None:
    create, dist = cluster_form(
        "CREATE TABLE IF NOT EXISTS findings (id String, v UInt64) ENGINE = ReplacingMergeTree(v) ORDER BY id",
        "esup",
        "esup",
    )
    assert create == (
        "CREATE TABLE IF NOT EXISTS esup.findings_local ON CLUSTER esup (id String, v UInt64) ENGINE = "
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/esup/findings', '{replica}', v) "
        "ORDER BY id"
    )
    assert dist == (
        "CREATE TABLE IF NOT EXISTS esup.findings ON CLUSTER esup AS esup.findings_local "
        "ENGINE = Distributed(esup, esup, findings_local, rand())"
    )


def test_an_engine_without_arguments_gets_only_the_path_and_replica() -> None:
    create = cluster_form("CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = MergeTree ORDER BY x", "d", "c")[0]
    assert "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/d/a', '{replica}') ORDER BY x" in create


def test_an_alter_changes_the_local_table_and_remakes_the_distributed_one() -> None:
    steps = cluster_form("ALTER TABLE findings ADD COLUMN h String DEFAULT ''", "esup", "esup")
    assert steps[0] == "ALTER TABLE esup.findings_local ON CLUSTER esup ADD COLUMN h String DEFAULT ''"
    assert steps[1] == "DROP TABLE IF EXISTS esup.findings ON CLUSTER esup"
    assert steps[2].startswith("CREATE TABLE IF NOT EXISTS esup.findings ON CLUSTER esup AS esup.findings_local")


def test_a_rename_moves_the_local_tables_and_remakes_the_distributed_ones() -> None:
    steps = cluster_form("RENAME TABLE log TO log_old, log_v2 TO log", "db", "c")
    assert steps[:2] == ["DROP TABLE IF EXISTS db.log ON CLUSTER c", "DROP TABLE IF EXISTS db.log_v2 ON CLUSTER c"]
    assert steps[2] == "RENAME TABLE db.log_local TO db.log_old_local, db.log_v2_local TO db.log_local ON CLUSTER c"
    assert "AS db.log_local ENGINE = Distributed(c, db, log_local" in steps[4]


def test_a_view_reads_its_tables_by_database() -> None:
    assert qualified(
        " SELECT a FROM t FINAL JOIN u USING a WHERE b IN (SELECT b FROM v) AND c IN (SELECT c FROM x.y)", "db"
    ) == (" SELECT a FROM db.t FINAL JOIN db.u USING a WHERE b IN (SELECT b FROM db.v) AND c IN (SELECT c FROM x.y)")
    assert cluster_form("CREATE VIEW v AS SELECT 1 FROM (SELECT 1)", "db", "c") == [
        "CREATE VIEW IF NOT EXISTS db.v ON CLUSTER c AS SELECT 1 FROM (SELECT 1)"
    ]


def test_every_migration_has_a_cluster_form() -> None:
    for m in load_migrations():
        for statement in m.statements:
            assert cluster_form(statement, "esup", "esup")


def test_a_statement_without_a_cluster_form_is_refused() -> None:
    with pytest.raises(ClusterDDLError):
        cluster_form("OPTIMIZE TABLE findings FINAL", "esup", "esup")


def test_replicated_topics_need_two_in_sync_replicas_and_single_ones_are_unchanged() -> None:
    single = platform_topics(Settings(topic_replication_factor=1))
    assert all("min.insync.replicas" not in t.configs for t in single)
    cluster = platform_topics(Settings(topic_replication_factor=3))
    assert {t.configs["min.insync.replicas"] for t in cluster} == {"2"}
    assert {t.replication for t in cluster} == {3}


def test_views_go_to_every_replica_of_a_cluster_and_to_the_one_server_otherwise() -> None:
    from sinks.clickhouse import replica_settings

    single = Settings(clickhouse_alt_hosts="10.0.0.2:9000")
    assert replica_settings(single) == [single]
    cluster = Settings(
        clickhouse_host="h1", clickhouse_port=19000, clickhouse_alt_hosts="h2:19001", clickhouse_cluster="esup"
    )
    assert [(s.clickhouse_host, s.clickhouse_port, s.clickhouse_alt_hosts) for s in replica_settings(cluster)] == [
        ("h1", 19000, ""),
        ("h2", 19001, ""),
    ]
