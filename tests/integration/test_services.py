"""`esup services up|down|status`: workers, the sink and a live province in the background, and nothing after down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from esup.stack import process
from tests.integration.pipeline import Pipeline, wait_until
from tests.ports import free_ports

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, clickhouse_url: str, kafka_admin: Any, clickhouse_client: Any, tmp_path: Path
) -> Iterator[Pipeline]:
    p = Pipeline(kafka_bootstrap, clickhouse_url, tmp_path / "pipeline", partitions=4)
    p.workdir.mkdir(parents=True)
    try:
        yield p
    finally:
        p.esup("services", "down", check=False)  # whatever the test did, nothing stays running
        p.close(kafka_admin, clickhouse_client)


def pids(home: Path) -> dict[str, tuple[int, str]]:
    out = {}
    for f in (home / "services").glob("*.pid"):
        pid, marker = f.read_text().split("\n", 1)
        out[f.stem] = (int(pid), marker.strip())
    return out


def test_services_up_runs_a_live_province_and_down_leaves_nothing(pipeline: Pipeline, clickhouse_client: Any) -> None:
    p = pipeline
    p.esup("topics", "create")
    p.esup("db", "migrate")
    p.esup("db", "views")  # as `make up` does: services up waits until the month ranks
    port = free_ports(2)
    p.env["WEB_PORT"] = str(port)  # faust reads it before its own setting: each worker must still get its port
    up_args = [
        "services",
        "up",
        "--workers",
        "2",
        "--web-port",
        str(port),
        "--speed",
        "20000",
        "--cases-per-day",
        "600",
        "--history-days",
        "3",
        "--seed",
        "5",
        "--no-notify",
        "--no-loop",  # (the notifier's receivers use fixed ports: test_notifier; the
        # loop, its API and the simulated departments: test_services_up_runs_the_loop below; the console:
        # test_console_*)
        "--no-console",
        "--direct",
    ]  # (the gateway's port is fixed too; the bridge: test_gateway_sim)
    up = p.esup(*up_args, timeout=240)
    assert "published 18 items" in up.stdout and "Where to look" in up.stdout
    # It waited for the province to go live; the month ranks with the simulated departments' names (unless
    # it has only just begun: the first hours of a month may have nothing to rank yet).
    assert "135 departments of the simulated province" in up.stdout
    ranked = json.loads(p.esup("rankings", "--json").stdout)
    if "This month is ranked" in up.stdout:
        assert ranked and all(r["department_name"] for r in ranked)
    else:
        assert "nothing is ranked this month yet" in up.stdout and ranked == []
    assert up.stdout.index("live:") < up.stdout.index("Where to look")
    home = Path(p.env["ESUP_HOME"])
    started = pids(home)
    assert set(started) == {"worker-1", "worker-2", "sink", "scorer", "simulator"}
    assert all(process.alive(pid, marker) for pid, marker in started.values())
    assert process.port_answers("127.0.0.1", port) and process.port_answers("127.0.0.1", port + 1)

    # The province flows through: events, case snapshots and findings reach ClickHouse.
    def flowing() -> bool:
        counts = [
            clickhouse_client.execute(f"SELECT count() FROM {p.database}.{t}")[0][0]
            for t in ("case_events", "case_snapshots", "findings")
        ]
        return all(c > 0 for c in counts)

    wait_until(flowing, timeout=120, what="the live province in ClickHouse")
    # Up again starts nothing new.
    again = p.esup(*up_args, timeout=120)
    assert again.stdout.count("already running") == 5 and pids(home) == started
    assert p.esup("services", "status").returncode == 0

    down = p.esup("services", "down", timeout=180)
    assert down.stdout.count("(stopped)") == 5, down.stdout
    assert not any(process.alive(pid, marker) for pid, marker in started.values())
    assert not process.port_answers("127.0.0.1", port) and not process.port_answers("127.0.0.1", port + 1)
    assert pids(home) == {}
    assert p.esup("services", "status", check=False).returncode == 3
    # The simulator stopped cleanly and said how far it got.
    assert "(stopped)" in (home / "services" / "simulator.log").read_text()


def test_services_up_runs_the_loop_its_api_and_the_simulated_departments(
    pipeline: Pipeline, clickhouse_client: Any
) -> None:
    import httpx

    p = pipeline
    p.esup("topics", "create")
    p.esup("db", "migrate")
    p.esup("db", "views")
    port, api_port = free_ports(1), free_ports(1)
    up = p.esup(
        "services",
        "up",
        "--workers",
        "1",
        "--web-port",
        str(port),
        "--api-port",
        str(api_port),
        "--speed",
        "20000",
        "--cases-per-day",
        "600",
        "--history-days",
        "10",
        "--seed",
        "5",
        "--no-notify",
        "--no-wait",
        "--no-console",
        "--direct",  # their fixed ports: test_console_*, test_gateway_*
        timeout=240,
    )
    home = Path(p.env["ESUP_HOME"])
    assert set(pids(home)) == {
        "worker-1",
        "sink",
        "scorer",
        "loop",
        "api",
        "responder",
        "simulator",
        "complaints",
        "complainants",
    }, up.stdout
    passwords = json.loads((home / "api" / "passwords.json").read_text())
    assert (home / "api" / "passwords.json").stat().st_mode & 0o777 == 0o600
    user = next(u for u in passwords if u.startswith("jc-") and u.endswith("0000"))  # the province's supervisor
    token = httpx.post(
        f"http://127.0.0.1:{api_port}/auth/token", json={"username": user, "password": passwords[user]}, timeout=10
    ).json()["access_token"]
    # The simulated departments answer and the supervisors decide; the loop stores what they send and
    # escalates what is not answered in time (ten simulated days: some deadlines have passed).
    q = f"SELECT type, count() FROM {p.database}.loop_messages FINAL GROUP BY type"
    wait_until(
        lambda: {"response", "decision"} <= set(dict(clickhouse_client.execute(q))),
        timeout=240,
        what="responses and decisions in loop_messages",
    )
    sup = f"SELECT count() FROM {p.database}.findings FINAL WHERE category = 'supervision'"
    wait_until(lambda: clickhouse_client.execute(sup)[0][0] > 0, timeout=120, what="escalations")
    # The simulated public complains; the complaint service stores the messages and raises its cards.
    cmp = (
        f"SELECT (SELECT count() FROM {p.database}.complaint_messages), "
        f"(SELECT count() FROM {p.database}.findings WHERE rule LIKE 'CMP_%')"
    )
    wait_until(lambda: min(clickhouse_client.execute(cmp)[0]) > 0, timeout=180, what="complaints and their cards")
    seen = httpx.get(
        f"http://127.0.0.1:{api_port}/findings?limit=5", timeout=10, headers={"Authorization": f"Bearer {token}"}
    )
    assert seen.status_code == 200 and len(seen.json()) == 5
    down = p.esup("services", "down", timeout=180)
    assert down.stdout.count("(stopped)") == 9, down.stdout  # with the scorer, complaints and complainants
    assert pids(home) == {}
