"""docker-compose.yml and the Grafana provisioning, checked as files (the CI machines have no Docker engine)."""

from __future__ import annotations

import re
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
            expected = "service_completed_successfully" if dep == "setup" else "service_healthy"
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
    for name in ("setup", "worker"):
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
    assert set(doc["secrets"]) == {f"esup_{r}.password" for r in ("admin", "sink", "service", "reader", "scorer")}
    assert services["setup"]["secrets"] == ["esup_admin.password"]  # migrations and views
    assert services["sink"]["secrets"] == ["esup_sink.password"]  # INSERT only (deploy/clickhouse/users.sql)
    assert services["grafana"]["secrets"] == ["esup_reader.password"]
    assert services["scorer"]["secrets"] == ["esup_scorer.password"]  # the scoreboard's tables only
    assert env_of(services["grafana"])["CLICKHOUSE_USER"] == "esup_reader"
    assert "secrets" not in services["worker"]  # the workers never touch ClickHouse
    for name, svc in services.items():
        assert not {"ESUP_CLICKHOUSE_USER", "ESUP_CLICKHOUSE_PASSWORD"} & set(env_of(svc)), name
    ch = services["clickhouse"]
    assert env_of(ch)["CLICKHOUSE_USER"] == "esup_admin" and "esup_admin.password" in " ".join(ch["entrypoint"])
    mounts = {v.split(":")[1]: ROOT / v.split(":")[0] for v in ch["volumes"] if v.startswith("./")}
    assert mounts["/docker-entrypoint-initdb.d/init-users.sh"].is_file()
    assert mounts["/etc/esup/users.sql"].is_file()  # where init-users.sh reads it (USERS_SQL)
    assert mounts["/etc/clickhouse-server/users.d/no-default-user.xml"].is_file()
