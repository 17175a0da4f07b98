"""The console's log-in, sessions, CSRF, audit and scopes in process (Starlette's TestClient; no servers: the
findings reader, publisher and auditor are in-memory stand-ins — the browser test runs them for real)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import Services
from api.auth import Authenticator
from console.app import Console, create_console
from console.session import COOKIE, SessionConfig
from loop.config import LoopConfig
from schemas.catalog import load_catalog
from streams.rules.calendar import WorkCalendar
from tests.console_support import PASSWORD, users
from tests.loop_support import finding, t

MINE = finding(t(2026, 6, 3, 10), case="A", dept="DZ-1", region="511702")


class Reader:
    client = None

    def get(self, finding_id: str) -> Any:
        return MINE if finding_id == MINE.finding_id else None


class Publisher:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def publish(self, msg: Any) -> tuple[int, int]:
        self.sent.append(msg)
        return 0, len(self.sent)


class Auditor:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def record(self, **row: Any) -> None:
        self.rows.append(row)


@pytest.fixture
def env() -> dict[str, Any]:
    now = [t(2026, 6, 4, 10)]
    services = Services(
        auth=Authenticator(users(), b"0123456789abcdef-test"),
        findings=Reader(),  # type: ignore[arg-type]
        publisher=Publisher(),
        auditor=Auditor(),
        loop=LoopConfig(),  # type: ignore[arg-type]
        now=lambda: now[0],
    )
    app = create_console(
        Console(
            services,
            WorkCalendar(),
            load_catalog("examples/catalog.yaml"),
            SessionConfig("test-secret-0123456789abcdef", secure=True, idle_s=600),
        )
    )
    return {"client": TestClient(app, base_url="https://console.test"), "services": services, "now": now}


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def log_in(client: TestClient, user: str, password: str = PASSWORD) -> Any:
    token = csrf(client.get("/login").text)
    return client.post(
        "/login", data={"username": user, "password": password, "csrf": token, "next": "/inbox"}, follow_redirects=False
    )


def test_cookie_flags_login_logout_and_audit(env: dict[str, Any]) -> None:
    client, audit = env["client"], env["services"].auditor.rows
    assert client.get("/inbox", follow_redirects=False).headers["location"] == "/login?next=%2Finbox"
    assert log_in(client, "dz1", "wrong").status_code == 401
    ok = log_in(client, "dz1")
    assert ok.status_code == 303 and ok.headers["location"] == "/inbox"
    cookie = ok.headers["set-cookie"].lower()
    assert f"{COOKIE}=" in cookie and "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    token = csrf(client.get("/login").text)
    assert client.post("/logout", data={"csrf": token}, follow_redirects=False).headers["location"] == "/login"
    assert client.get("/inbox", follow_redirects=False).status_code == 303
    done = [(r["actor"], r["action"], r["status"]) for r in audit]
    assert ("dz1", "console:login", 401) in done and ("dz1", "console:login", 303) in done
    assert ("dz1", "console:logout", 303) in done
    assert ("", "login", 200) in done  # the API's own record of the same log-in (it names the user in detail)


def test_csrf_on_every_post_and_the_same_path_as_the_api(env: dict[str, Any]) -> None:
    client, sent = env["client"], env["services"].publisher.sent
    log_in(client, "dz1")
    url = f"/findings/{MINE.finding_id}/respond"
    form = {"kind": "explanation", "text": "说明"}
    for extra in ({}, {"csrf": "forged"}):
        refused = client.post(url, data=form | extra, follow_redirects=False)
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert sent == []
    token = csrf(client.get("/login").text)
    ok = client.post(url, data=form | {"csrf": token, "key": "k1"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == f"/findings/{MINE.finding_id}?sent=responses"
    assert [(m.type, m.actor_id, m.kind, m.text) for m in sent] == [("response", "dz1", "explanation", "说明")]
    # A supervisor's decision is refused for a department user by the API's own rule (403 page).
    bad = client.post(
        f"/findings/{MINE.finding_id}/decide",
        data={"outcome": "dismissed", "reason": "x", "csrf": token},
        follow_redirects=False,
    )
    assert bad.status_code == 403 and "无权访问" in bad.text and len(sent) == 1


def test_idle_session_expires(env: dict[str, Any]) -> None:
    client, now = env["client"], env["now"]
    log_in(client, "dz1")
    token = csrf(client.get("/login").text)
    now[0] += timedelta(minutes=9)
    assert client.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303  # still in
    log_in(client, "dz1")
    now[0] += timedelta(minutes=11)
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_login_redirects_only_within_the_site(env: dict[str, Any]) -> None:
    client = env["client"]
    token = csrf(client.get("/login").text)
    away = client.post(
        "/login",
        data={"username": "dz1", "password": PASSWORD, "csrf": token, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/"
    assert isinstance(env["now"][0], datetime)


@pytest.mark.parametrize("finding_id", ["%00", "a%1fb", "%0d%0aX-Injected:%201", "x" * 5000, "%C3%A9%E2%80%AE"])
def test_a_hostile_finding_id_in_the_path_is_a_4xx_never_a_500(env: dict[str, Any], finding_id: str) -> None:
    # The console builds the API's path from the id it was given: a control character made an invalid URL (500).
    client, sent = env["client"], env["services"].publisher.sent
    log_in(client, "dz1")
    token = csrf(client.get("/login").text)
    form = {"kind": "explanation", "text": "t", "csrf": token}
    answer = client.post(f"/findings/{finding_id}/respond", data=form, follow_redirects=False)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:200])
    assert sent == []
