"""docker-compose.yml and the Grafana provisioning, checked as files (the CI machines have no Docker engine)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRET = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)


def compose() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment as a mapping"
    return {str(k): str(v) for k, v in env.items()}


def test_every_server_has_a_healthcheck_and_dependants_wait_for_it() -> None:
    services = compose()["services"]
    assert {"kafka", "clickhouse", "grafana", "worker", "setup"} <= set(services)
    for name in ("kafka", "clickhouse", "grafana", "worker"):
        assert services[name]["healthcheck"]["test"], name
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            expected = "service_completed_successfully" if dep.startswith("setup") else "service_healthy"
            assert cond == {"condition": expected}, (name, dep)
    assert services["worker"]["depends_on"]["setup"] == {"condition": "service_completed_successfully"}


def test_no_secret_has_a_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for name, svc in compose()["services"].items():
        for key, value in env_of(svc).items():
            if SECRET.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{name}.{key} must be ${{VAR:?…}}"
    # Every variable that names a secret is required wherever it is used.
    for var in re.findall(r"\$\{([A-Z_]*(?:PASSWORD|SECRET|TOKEN)[A-Z_]*)([^}]*)\}", text):
        assert var[1].startswith(":?"), var


def test_workers_can_be_scaled_and_ports_stay_on_loopback() -> None:
    services = compose()["services"]
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]
    for name, svc in services.items():
        for port in svc.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_containers_use_the_same_settings_as_the_local_stack() -> None:
    from esup.settings import Settings

    fields = set(Settings.model_fields)
    services = compose()["services"]
    for name in ("setup", "worker", "setup-cluster", "worker-cluster", "sink-cluster"):
        for key in env_of(services[name]):
            assert key.startswith("ESUP_") and key.removeprefix("ESUP_").lower() in fields, (name, key)
    assert "esup topics create" in " ".join(services["setup"]["command"])
    assert "esup db migrate" in " ".join(services["setup"]["command"])


def test_grafana_is_provisioned_with_the_clickhouse_plugin() -> None:
    grafana = compose()["services"]["grafana"]
    assert "grafana-clickhouse-datasource" in env_of(grafana)["GF_INSTALL_PLUGINS"]
    mounts = {v.split(":")[1]: ROOT / v.split(":")[0] for v in grafana["volumes"] if v.startswith("./")}
    assert mounts["/etc/grafana/provisioning"].is_dir() and mounts["/var/lib/grafana/dashboards"].is_dir()
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/clickhouse.yaml").read_text("utf-8"))
    (source,) = ds["datasources"]
    assert source["type"] == "grafana-clickhouse-datasource"
    assert source["jsonData"]["defaultDatabase"] == "esup" and source["jsonData"]["host"] == "clickhouse"
    assert source["secureJsonData"]["password"] == "$CLICKHOUSE_PASSWORD"
    providers = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/esup.yaml").read_text("utf-8"))
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_each_service_gets_only_its_clickhouse_role() -> None:
    doc = compose()
    services = doc["services"]
    roles = {f"esup_{r}.password" for r in ("admin", "sink", "service", "reader", "scorer")}
    assert set(doc["secrets"]) == roles | {"esup_cluster.secret"}
    for suffix in ("", "-cluster"):
        assert services["setup" + suffix]["secrets"] == ["esup_admin.password"]  # migrations and views
        assert services["sink" + suffix]["secrets"] == ["esup_sink.password"]  # INSERT only (users.sql)
    assert services["grafana"]["secrets"] == ["esup_reader.password"]
    assert services["scorer"]["secrets"] == ["esup_scorer.password"]  # the scoreboard's tables only
    assert env_of(services["grafana"])["CLICKHOUSE_USER"] == "esup_reader"
    assert "secrets" not in services["worker"] and "secrets" not in services["worker-cluster"]  # no ClickHouse
    for name, svc in services.items():
        assert not {"ESUP_CLICKHOUSE_USER", "ESUP_CLICKHOUSE_PASSWORD"} & set(env_of(svc)), name
    ch = services["clickhouse"]
    assert env_of(ch)["CLICKHOUSE_USER"] == "esup_admin" and "esup_admin.password" in " ".join(ch["entrypoint"])
    mounts = {v.split(":")[1]: ROOT / v.split(":")[0] for v in ch["volumes"] if v.startswith("./")}
    assert mounts["/docker-entrypoint-initdb.d/init-users.sh"].is_file()
    assert mounts["/etc/esup/users.sql"].is_file()  # where init-users.sh reads it (USERS_SQL)
    assert mounts["/etc/clickhouse-server/users.d/no-default-user.xml"].is_file()


# The cluster profile (`docker compose --profile cluster`): three brokers, three Keeper nodes, two replicas.
BROKERS = ["kafka-1", "kafka-2", "kafka-3"]
KEEPERS = ["keeper-1", "keeper-2", "keeper-3"]
REPLICAS = ["clickhouse-1", "clickhouse-2"]
CLUSTER = [*BROKERS, *KEEPERS, *REPLICAS, "setup-cluster", "worker-cluster", "sink-cluster"]


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """A service's bind mounts of repository files: container path -> file."""
    return {v.split(":")[1]: ROOT / v.split(":")[0] for v in service.get("volumes", []) if v.startswith("./")}


def parse_xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 (the repository's own file)


def test_the_cluster_profile_is_a_profile_of_its_own() -> None:
    services = compose()["services"]
    for name, svc in services.items():
        assert svc.get("profiles") == (["cluster"] if name in CLUSTER else None), name
    for name in CLUSTER:
        # Starting only the profile's top services must not pull in the single-node stack.
        for dep in services[name].get("depends_on") or {}:
            assert dep in CLUSTER or services[dep].get("profiles") is None, (name, dep)
            assert dep not in ("kafka", "clickhouse", "setup"), (name, dep)
    # Every server keeps its data in a volume of its own.
    data = [v.split(":")[0] for n in BROKERS + KEEPERS + REPLICAS for v in services[n]["volumes"] if "-data:" in v]
    assert len(data) == len(set(data)) == 8 and set(data) <= set(compose()["volumes"])
    assert "container_name" not in services["worker-cluster"] and "ports" not in services["worker-cluster"]


def node_properties(node: str) -> dict[str, str]:
    """deploy/kafka/cluster.properties as broker ``node`` runs it (its start command puts in NODE_ID)."""
    svc = compose()["services"][node]
    node_id = env_of(svc)["NODE_ID"]
    assert "s/@NODE_ID@/$$NODE_ID/g" in svc["command"][-1]
    text = mounts(svc)["/deploy/cluster.properties"].read_text(encoding="utf-8").replace("@NODE_ID@", node_id)
    lines = [ln.split("=", 1) for ln in text.splitlines() if ln and not ln.startswith("#")]
    return {k: v for k, v in lines}


def test_three_brokers_in_one_kraft_quorum_with_scram_acls_and_replication() -> None:
    services = compose()["services"]
    single = [ln.split("=", 1)[0] for ln in (ROOT / "deploy/kafka/server.properties").read_text().splitlines()]
    voters = {f"{i}@kafka-{i}:9093" for i in (1, 2, 3)}
    external = set()
    for i, node in enumerate(BROKERS, 1):
        p = node_properties(node)
        assert p["node.id"] == str(i) and set(p["controller.quorum.voters"].split(",")) == voters
        assert f"INTERNAL://{node}:19092" in p["advertised.listeners"]
        external.add(p["advertised.listeners"].split("EXTERNAL://")[1])
        # The single broker's security, setting for setting.
        for key in (
            "sasl.enabled.mechanisms",
            "authorizer.class.name",
            "allow.everyone.if.no.acl.found",
            "listener.security.protocol.map",
            "super.users",
            "ssl.keystore.location",
        ):
            assert key in single and p[key] == node_properties_single()[key], (node, key)
        assert p["default.replication.factor"] == "3" and p["min.insync.replicas"] == "2"
        assert p["offsets.topic.replication.factor"] == "3" and p["transaction.state.log.min.isr"] == "2"
        assert p["unclean.leader.election.enable"] == "false"
        assert not any(SECRET.search(k) and "${env:" not in v for k, v in p.items() if "jaas" in k or "password" in k)
        cmd = services[node]["command"][-1]
        assert "--add-scram" in cmd and "name=broker" in cmd and "name=admin" in cmd
        published = services[node]["ports"][0].split(":")
        assert f"127.0.0.1:{published[1]}" in p["advertised.listeners"]  # what clients outside are told
    assert len(external) == 3
    # The one certificate names every broker.
    certs = " ".join(services["certs"]["command"])
    assert all(b in certs.split("/tls ")[1].split()[0].split(",") for b in ["kafka", *BROKERS])


def node_properties_single() -> dict[str, str]:
    text = (ROOT / "deploy/kafka/server.properties").read_text(encoding="utf-8")
    return dict(ln.split("=", 1) for ln in text.splitlines() if ln and not ln.startswith("#"))


def test_three_keeper_nodes_name_each_other_and_every_replica_names_them_all() -> None:
    services = compose()["services"]
    keeper = parse_xml(mounts(services["keeper-1"])["/etc/clickhouse-keeper/keeper.xml"])
    raft = {s.findtext("id"): (s.findtext("hostname"), s.findtext("port")) for s in keeper.iter("server")}
    assert {h for h, _ in raft.values()} == set(KEEPERS)
    assert keeper.find("keeper_server/server_id").get("from_env") == "KEEPER_SERVER_ID"
    for node in KEEPERS:
        svc = services[node]
        assert (
            mounts(svc)["/etc/clickhouse-keeper/keeper.xml"]
            == mounts(services["keeper-1"])["/etc/clickhouse-keeper/keeper.xml"]
        )
        assert raft[env_of(svc)["KEEPER_SERVER_ID"]][0] == node  # its number is its own entry
        assert svc["healthcheck"]["test"]
    client_port = keeper.findtext("keeper_server/tcp_port")
    for name in REPLICAS:
        svc = services[name]
        config = parse_xml(mounts(svc)["/etc/clickhouse-server/config.d/cluster.xml"])
        zk = {(n.findtext("host"), n.findtext("port")) for n in config.findall("zookeeper/node")}
        assert zk == {(k, client_port) for k in KEEPERS}
        (shard,) = config.findall("remote_servers/esup/shard")
        assert [r.findtext("host") for r in shard.findall("replica")] == REPLICAS
        assert shard.findtext("internal_replication") == "true"
        assert config.find("macros/replica").get("from_env") == "ESUP_REPLICA"
        assert env_of(svc)["ESUP_REPLICA"] == name  # each replica its own name in the shared table paths
        assert set(svc["depends_on"]) == set(KEEPERS)


def test_the_cluster_secrets_come_from_files() -> None:
    services = compose()["services"]
    for name in REPLICAS:
        svc = services[name]
        config = parse_xml(mounts(svc)["/etc/clickhouse-server/config.d/cluster.xml"])
        # The inter-server secret and the part-fetch password: from the environment the entrypoint fills
        # from the secret files, never written in the config or the compose file.
        assert config.find("remote_servers/esup/secret").get("from_env") == "ESUP_CLUSTER_SECRET"
        assert config.find("interserver_http_credentials/password").get("from_env") == "ESUP_CLUSTER_SECRET"
        entry = " ".join(svc["entrypoint"])
        assert 'ESUP_CLUSTER_SECRET="$$(cat /run/secrets/esup_cluster.secret)"' in entry
        assert 'CLICKHOUSE_PASSWORD="$$(cat /run/secrets/esup_admin.password)"' in entry
        assert "esup_cluster.secret" in svc["secrets"] and "esup_admin.password" in svc["secrets"]
        assert not any(SECRET.search(k) for k in env_of(svc)), name
        assert mounts(svc)["/docker-entrypoint-initdb.d/init-users.sh"] == ROOT / "deploy/clickhouse/init-users.sh"
    secret = compose()["secrets"]["esup_cluster.secret"]
    assert set(secret) == {"file"}


def test_the_cluster_services_point_at_every_broker_and_replica() -> None:
    services = compose()["services"]
    config = parse_xml(ROOT / "deploy/clickhouse/cluster.xml")
    (cluster,) = list(config.find("remote_servers"))
    for name in ("setup-cluster", "worker-cluster", "sink-cluster"):
        env = env_of(services[name])
        assert sorted(env["ESUP_KAFKA_BOOTSTRAP_SERVERS"].split(",")) == [f"{b}:19092" for b in BROKERS]
        assert env["ESUP_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["ESUP_CLICKHOUSE_CLUSTER"] == cluster.tag
        hosts = [env["ESUP_CLICKHOUSE_HOST"]] + [h.split(":")[0] for h in env["ESUP_CLICKHOUSE_ALT_HOSTS"].split(",")]
        assert hosts == REPLICAS
        assert env["ESUP_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert set(BROKERS + REPLICAS) <= set(services["sink-cluster"]["depends_on"])
    assert "esup db migrate" in services["setup-cluster"]["command"][-1]
