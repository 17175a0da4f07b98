"""The cluster form of the migrations: replicated <table>_local behind Distributed <table>, every DDL ON CLUSTER."""

from __future__ import annotations

import re

import pytest

from esup.settings import Settings
from esup.topics import platform_topics
from sinks.cluster_ddl import ClusterDDLError, cluster_form, order_by, qualified, sharding_key
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
        "ENGINE = Distributed(esup, esup, findings_local, cityHash64(id))"
    )


KEYS = {"findings_local": "finding_id"}


def test_an_engine_without_arguments_gets_only_the_path_and_replica() -> None:
    create = cluster_form("CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = MergeTree ORDER BY x", "d", "c")[0]
    assert "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/d/a', '{replica}') ORDER BY x" in create


def test_an_alter_changes_the_local_table_and_remakes_the_distributed_one() -> None:
    steps = cluster_form("ALTER TABLE findings ADD COLUMN h String DEFAULT ''", "esup", "esup", KEYS.__getitem__)
    assert steps[0] == "ALTER TABLE esup.findings_local ON CLUSTER esup ADD COLUMN h String DEFAULT ''"
    assert steps[1] == "DROP TABLE IF EXISTS esup.findings ON CLUSTER esup"
    assert steps[2].startswith("CREATE TABLE IF NOT EXISTS esup.findings ON CLUSTER esup AS esup.findings_local")


def test_a_rename_moves_the_local_tables_and_remakes_the_distributed_ones() -> None:
    keys = {"log_local": "at, audit_id", "log_v2_local": "audit_id"}.__getitem__
    steps = cluster_form("RENAME TABLE log TO log_old, log_v2 TO log", "db", "c", keys)
    assert steps[:2] == ["DROP TABLE IF EXISTS db.log ON CLUSTER c", "DROP TABLE IF EXISTS db.log_v2 ON CLUSTER c"]
    assert steps[2] == "RENAME TABLE db.log_local TO db.log_old_local, db.log_v2_local TO db.log_local ON CLUSTER c"
    # Each keeps the sharding key of the table it was: log (once log_v2) by audit_id, log_old by (at, audit_id).
    assert steps[3].endswith("AS db.log_old_local ENGINE = Distributed(c, db, log_old_local, cityHash64(at, audit_id))")
    assert steps[4].endswith("AS db.log_local ENGINE = Distributed(c, db, log_local, cityHash64(audit_id))")


def test_a_view_reads_its_tables_by_database() -> None:
    assert qualified(
        " SELECT a FROM t FINAL JOIN u USING a WHERE b IN (SELECT b FROM v) AND c IN (SELECT c FROM x.y)", "db"
    ) == (" SELECT a FROM db.t FINAL JOIN db.u USING a WHERE b IN (SELECT b FROM db.v) AND c IN (SELECT c FROM x.y)")
    assert cluster_form("CREATE VIEW v AS SELECT 1 FROM (SELECT 1)", "db", "c") == [
        "CREATE VIEW IF NOT EXISTS db.v ON CLUSTER c AS SELECT 1 FROM (SELECT 1)"
    ]


def test_every_migration_has_a_cluster_form_and_every_table_is_sharded_by_its_sorting_key() -> None:
    keys: dict[str, str] = {}  # local table -> its ORDER BY, as the migrations have made them so far
    for m in load_migrations():
        for statement in m.statements:
            steps = cluster_form(statement, "esup", "esup", keys.__getitem__)
            assert steps
            if create := re.match(r"CREATE TABLE IF NOT EXISTS (\w+)", statement.strip()):
                keys[f"{create[1]}_local"] = order_by(statement)
            if rename := re.match(r"RENAME TABLE (.*)", statement.strip(), re.S):
                pairs = [p.split(" TO ") for p in rename[1].split(",")]
                moved = {f"{b.strip()}_local": keys[f"{a.strip()}_local"] for a, b in pairs}
                keys.update(moved)
            for step in steps:
                if d := re.search(r"(\w+)_local, (.+)\)$", step):
                    assert d[2] == sharding_key(keys[f"{d[1]}_local"]) != "rand()", step
    assert keys["findings_local"] == "finding_id" and keys["case_events_local"] == "(case_id, event_id)"
    assert keys["audit_log_local"] == "(audit_id, writer)"  # 0080's rename: the new table's key, not the old one's


def test_the_sharding_key_hashes_the_sorting_key() -> None:
    assert sharding_key("finding_id") == "cityHash64(finding_id)"
    assert sharding_key("(case_id, event_id)") == sharding_key("case_id, event_id") == "cityHash64(case_id, event_id)"
    assert sharding_key("(toDate(at), id)") == "cityHash64(toDate(at), id)"
    assert sharding_key("(a), (b)") == "cityHash64((a), (b))"  # not one pair of outer parentheses
    assert sharding_key("tuple()") == sharding_key("") == "rand()"  # no key: nothing to collapse
    assert order_by(") ENGINE = MergeTree ORDER BY (a, f(b)) SETTINGS x = 1") == "(a, f(b))"
    assert order_by(" PARTITION BY toYYYYMM(t) ORDER BY id;") == "id"
    assert order_by(" ORDER BY id") == "id" and order_by(" PARTITION BY x") == ""


def test_an_alter_or_rename_without_the_sorting_key_is_refused() -> None:
    with pytest.raises(ClusterDDLError, match="sorting key"):
        cluster_form("ALTER TABLE findings ADD COLUMN h String DEFAULT ''", "esup", "esup")


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
