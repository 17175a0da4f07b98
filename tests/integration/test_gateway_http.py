"""The HTTP gateway on real Kafka through real HTTP: tokens, department binding, limits, schemathesis, restarts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn

from esup.kafka_auth import GATEWAY
from esup.ratelimit import RateLimiter
from esup.tokens import TokenStore
from gateway.audit import GatewayAuditor
from gateway.http import GatewayServices, create_app
from tests.integration.ingest import event, event_ids, ingest_pipeline, line
from tests.integration.pipeline import Pipeline, wait_until
from tests.ports import free_port
from tests.support import admin_auth

pytestmark = pytest.mark.integration
MAX_BODY = 256 * 1024


@pytest.fixture
def pipe(kafka_bootstrap: str, kafka_admin: Any, tmp_path: Path) -> Iterator[Pipeline]:
    p = ingest_pipeline(kafka_bootstrap, tmp_path, kafka_admin, [])
    yield p
    p.close(kafka_admin)


@pytest.fixture
def tokens(pipe: Pipeline) -> dict[str, str]:
    store = TokenStore(Path(pipe.env["ESUP_HOME"]) / "credentials" / "gateway" / "tokens.json")
    return {d: store.add(d)[1] for d in ("DA", "DB")}


@pytest.fixture(autouse=True)
def _schemathesis_urllib3(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in test_loop_api: schemathesis 4.32 counts pooled connections through urllib3 internals that changed.
    import schemathesis.transport.requests as st

    monkeypatch.setattr(st, "_count_opened_connections", lambda session: 0)


@pytest.fixture
def server(pipe: Pipeline, tokens: dict[str, str]) -> Iterator[tuple[str, GatewayServices]]:
    from esup.producer import kafka_producer

    producer = kafka_producer(pipe.bootstrap, "test-gateway", auth=admin_auth())
    services = GatewayServices(
        tokens=TokenStore(Path(pipe.env["ESUP_HOME"]) / "credentials/gateway/tokens.json"),
        producer=producer,
        topic=pipe.topics["case_events"],
        auditor=GatewayAuditor(producer, pipe.audit_topic(GATEWAY)),  # its own audit topic, as `esup gateway serve`
        limiter=RateLimiter(1000, 1000),
        max_body_bytes=MAX_BODY,
    )
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_until(lambda: srv.started, timeout=10, every=0.05, what="uvicorn")
    yield f"http://127.0.0.1:{port}", services
    srv.should_exit = True
    thread.join(10)
    producer.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_departments_contract_and_size(
    server: tuple[str, GatewayServices], tokens: dict[str, str], pipe: Pipeline
) -> None:
    base, _ = server
    url = f"{base}/v1/events"
    batch = [event(f"g{i}", "DA") for i in range(5)]
    # 401: no token, a wrong one, one of the right shape with a wrong secret.
    assert httpx.post(url, json=batch).status_code == 401
    assert httpx.post(url, json=batch, headers=auth("nope")).status_code == 401
    assert httpx.post(url, json=batch, headers=auth(tokens["DA"][:-2] + "xx")).status_code == 401
    # 403: another department's event, naming both; nothing of the batch published.
    r = httpx.post(url, json=[*batch, event("g-foreign", "DB")], headers=auth(tokens["DA"]))
    assert r.status_code == 403 and "DB" in r.text and "DA" in r.text, r.text
    assert r.json()["errors"] == [
        {
            "line": 6,
            "field": "department_id",
            "reason": f"department_id: 'DB' claimed with department DA's token {tokens['DA'].split('.')[1]}",
        }
    ]
    # 400: line, field and reason, as `esup publish` reports them.
    bad = b"\n".join([line("g1", "DA"), json.dumps({**event("g2", "DA"), "staff_id": 7}).encode(), b"{nope"])
    r = httpx.post(url, content=bad, headers=auth(tokens["DA"]) | {"Content-Type": "application/x-ndjson"})
    assert r.status_code == 400 and r.json()["error_count"] == 2
    assert [(e["line"], e["field"]) for e in r.json()["errors"]] == [(2, "staff_id"), (3, None)]
    for hostile in (
        b"[" * 200_000,
        b'["' + b"x" * 200_000 + b'"]',
        b"\xff\xfe\x00",
        b"[1e99999]",
        b"{}",
        json.dumps([{"a": [[[[[[[[]]]]]]]]}]).encode(),
    ):
        r = httpx.post(url, content=hostile, headers=auth(tokens["DA"]))
        assert r.status_code == 400 and r.json()["errors"][0]["reason"], (hostile[:20], r.text)
    # 413: a declared length over the bound, and a chunked body (no length) that runs past it.
    big = b"[" + b",".join([line(f"big{i}", "DA") for i in range(2000)]) + b"]"
    assert len(big) > MAX_BODY and httpx.post(url, content=big, headers=auth(tokens["DA"])).status_code == 413
    r = httpx.post(url, content=iter([big[i : i + 8192] for i in range(0, len(big), 8192)]), headers=auth(tokens["DA"]))
    assert r.status_code == 413
    # 202 with the ids, and again for the same events (idempotent by event id: the workers drop repeats).
    for _ in range(2):
        r = httpx.post(url, json=batch, headers=auth(tokens["DA"]))
        assert r.status_code == 202 and r.json() == {"accepted": [f"g{i}" for i in range(5)], "count": 5}
    got = event_ids(pipe, idle_s=1)
    assert got == {f"g{i}": 2 for i in range(5)}  # only the accepted batches reached Kafka
    # Every request with a token (and those without) is audited: department and token id, never the token.
    # (the gateway's own topic holds nothing else: `esup access bootstrap` audits on the admin's)
    audit = [json.loads(r.value) for r in pipe.read(pipe.audit_topic(GATEWAY), idle_s=1)]
    assert {a["action"] for a in audit} == {"gateway.ingest"}
    assert sorted(a["status"] for a in audit) == sorted([401] * 3 + [403, 400] + [400] * 6 + [413] * 2 + [202] * 2)
    assert all(tokens["DA"] not in json.dumps(a) for a in audit)
    mine = [a for a in audit if a["status"] == 202]
    assert {a["actor_id"] for a in mine} == {f"gateway-token:{tokens['DA'].split('.')[1]}"}
    assert json.loads(mine[0]["detail"])["department_id"] == "DA"
    links = {a["prev_hash"]: a["hash"] for a in audit}  # one hash chain, in the API's record format
    link, n = "", 0
    while link in links:
        link, n = links[link], n + 1
    assert n == len(audit)


def test_a_burst_past_the_departments_rate_is_429_with_retry_after(
    server: tuple[str, GatewayServices], tokens: dict[str, str]
) -> None:
    base, services = server
    services.limiter = RateLimiter(rate_per_s=0.2, burst=5)  # one more every 5 s
    codes = [httpx.post(f"{base}/v1/events", json=[event(f"r{i}", "DA")], headers=auth(tokens["DA"])) for i in range(8)]
    assert [c.status_code for c in codes[:5]] == [202] * 5 and {c.status_code for c in codes[5:]} == {429}
    assert 1 <= int(codes[-1].headers["Retry-After"]) <= 5
    # Another department has its own bucket.
    assert httpx.post(f"{base}/v1/events", json=[event("rb", "DB")], headers=auth(tokens["DB"])).status_code == 202


def test_openapi_with_schemathesis(server: tuple[str, GatewayServices], tokens: dict[str, str]) -> None:
    base, _ = server
    assert httpx.get(f"{base}/docs").status_code == 200
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [op.ok() for op in schema.get_all_operations()]
    assert [o.path for o in operations] == ["/v1/events"]
    for operation in operations:
        for token in (tokens["DA"], None):
            conforms(operation, token)


def conforms(operation: Any, token: str | None) -> None:
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import positive_data_acceptance

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        response = case.call(headers=auth(token) if token else {})
        # Never a 500, and every answer as the OpenAPI says. Not "schema-valid data is accepted": the contract
        # checks what JSON Schema cannot say (printable ids, times in range, the token's department).
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        assert response.status_code in ((202, 400, 403) if token else (401,)), response.text

    check()


def test_nothing_answered_202_is_lost_across_a_gateway_restart(pipe: Pipeline, tokens: dict[str, str]) -> None:
    port = free_port()
    env = {"ESUP_GATEWAY_RATE_PER_S": "1000", "ESUP_GATEWAY_BURST": "1000"}
    url = f"http://127.0.0.1:{port}/v1/events"
    accepted: list[str] = []
    answered_other: list[int | str] = []
    stop = threading.Event()

    def client() -> None:
        n = 0
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                batch = [event(f"k{n}-{i}", "DA") for i in range(50)]
                n += 1
                try:
                    r = http.post(url, json=batch, headers=auth(tokens["DA"]))
                except httpx.HTTPError as exc:  # the gateway is down or was killed mid-request
                    answered_other.append(type(exc).__name__)
                    time.sleep(0.05)
                    continue
                if r.status_code == 202:
                    accepted.extend(r.json()["accepted"])
                else:
                    answered_other.append(r.status_code)

    pipe.start("gateway", "gateway", "serve", "--port", str(port), env=env)
    thread = threading.Thread(target=client)
    thread.start()
    try:
        for _ in range(2):
            before = len(accepted)
            wait_until(
                lambda b=before: len(accepted) > b + 500,
                timeout=60,
                every=0.1,  # type: ignore[misc]
                what="202s from the gateway",
            )
            pipe.stop("gateway", kill=True)  # kill -9 while requests are in flight
            pipe.start("gateway", "gateway", "serve", "--port", str(port), env=env)
        wait_until(lambda: len(accepted) > before + 1000, timeout=60, every=0.1, what="202s after the restart")
    finally:
        stop.set()
        thread.join(30)
        pipe.stop("gateway")
    got = event_ids(pipe, idle_s=2)
    missing = set(accepted) - set(got)
    assert not missing, f"{len(missing)} of {len(accepted)} events answered 202 are not in Kafka"
    assert any(not isinstance(x, int) for x in answered_other), "no request was cut off by a kill"
