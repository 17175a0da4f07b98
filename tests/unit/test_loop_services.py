"""`esup services up` runs the loop, its API and the simulated departments; the API's users are made once,
their passwords owner-readable only, and they log in."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from api.auth import Authenticator, load_users
from directory.model import dump_directory
from esup.cli.api_users import ensure_users
from esup.cli.processes import Plan, planned
from esup.settings import Settings
from sim.directory import build_directory
from sim.province import build_province
from streams.rules.calendar import TZ


def test_the_plan_runs_the_loop_its_api_and_the_simulated_departments(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    names = [x.name for x in planned(Plan(), s, run_id="x")]
    assert "loop" in names and "responder" in names and "api" not in names  # no users yet: no API
    (tmp_path / "sim").mkdir()
    dump_directory(build_directory(build_province(1, 1, 1), 1), tmp_path / "sim" / "directory.yaml")
    ensure_users(tmp_path, tmp_path / "sim" / "directory.yaml")
    services = {x.name: x for x in planned(Plan(api_port=8099), s, run_id="x")}
    api = list(services["api"].args)
    assert api[:2] == ["api", "serve"] and api[api.index("--port") + 1] == "8099"
    assert api[api.index("--users") + 1] == str(tmp_path / "api" / "users.yaml")
    assert list(services["loop"].args) == ["loop", "run", "--clock", "event"]
    order = list(services)
    assert order.index("loop") < order.index("responder") < order.index("simulator")
    assert not {"loop", "api", "responder"} & {x.name for x in planned(Plan(loop=False), s, run_id="x")}
    # The complaint cards run with the loop on the event clock; the simulated public with the simulator.
    assert list(services["complaints"].args) == ["complaints", "run", "--clock", "event"]
    assert order.index("complaints") < order.index("complainants") < order.index("simulator")
    assert "complainants" not in {x.name for x in planned(Plan(simulate=False), s, run_id="x")}


def test_api_users_are_made_once_and_their_passwords_are_private(tmp_path: Path) -> None:
    d = build_directory(build_province(1, 1, 1), 1)
    path = dump_directory(d, tmp_path / "directory.yaml")
    users_file = ensure_users(tmp_path, path)
    secrets = users_file.with_name("passwords.json")
    assert secrets.stat().st_mode & 0o777 == 0o600 and users_file.stat().st_mode & 0o777 == 0o600
    passwords = json.loads(secrets.read_text())
    users = load_users(users_file)
    assert (
        set(users)
        == set(passwords)
        == {f"u-{x.id}" for x in d.departments} | {f"jc-{b.region_code}" for b in d.bureaus}
    )
    assert all(p not in users_file.read_text() for p in passwords.values())  # hashes only
    auth = Authenticator(users, b"k" * 32)
    now = datetime(2026, 3, 2, 10, tzinfo=TZ)
    some = next(iter(passwords))
    token = auth.login(some, passwords[some], now)
    assert token and auth.verify(token, now).username == some  # type: ignore[union-attr]
    assert auth.login(some, passwords[some] + "x", now) is None
    before = users_file.read_bytes()
    assert ensure_users(tmp_path, path) == users_file and users_file.read_bytes() == before
