"""The platform's own processes in the background: stream workers, the ClickHouse sink, a live province.

Design: docs/architecture.md#esup-services-up-the-background-processes.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from esup.settings import Settings
from esup.stack import process
from esup.stack.base import Status
from esup.stack.errors import StackError
from sim.run import PHASE_FILE

HOST = "127.0.0.1"
# `down` stops in this order
_ORDER = (
    "console",
    "simulator",
    "responder",
    "complainants",
    "gateway",
    "bridge",
    "api",
    "worker",
    "loop",
    "complaints",
    "scorer",
    "sink",
    "notifier",
    "receivers",
)


@dataclass(frozen=True)
class Plan:
    """What `esup services up` runs."""

    workers: int = 2
    web_port: int = 6066  # worker i serves its status page on web_port + i - 1
    simulate: bool = True
    speed: str = "max"  # with the catch-up: a backfill as fast as the machine allows, then real time
    cases_per_day: float = 200.0
    seed: int = 1
    tick_every_s: float = 2.0
    history_days: int = 30  # the province starts this long ago and catches up with the present at `speed`
    progress_every_s: float = 10.0
    rules: Path | None = None
    calendar: Path | None = None
    # The notifier (预警推送) and the local SMTP server and webhook/SMS endpoint it delivers to; the ports
    # are esup/config/notifier.yaml's.
    notify: bool = True
    smtp_port: int = 8025
    http_port: int = 8026
    # The supervisors' loop (docs/loop.md): `esup loop run` on the event clock, the API on 127.0.0.1:api_port
    # (users from <home>/api/users.yaml, passwords in the 0600 passwords.json beside it), and with the
    # simulator the simulated departments' responses and supervisors' decisions (`esup loop simulate`).
    loop: bool = True
    api_port: int = 8027
    # Ingestion bound to departments (docs/gateway.md): the simulated departments write their own topics
    # as their own principals, the bridge forwards them, and the HTTP gateway serves on settings.gateway_port.
    per_department: bool = True
    # The web console (esup console) on loopback, plain http there (--dev-http); bulletins from <home>/bulletins.
    console: bool = True
    console_port: int = 8090
    # The scoreboard the rankings, console and dashboards read (sinks/scoreboard.py): looked at this often.
    score_every_s: float = 5.0


@dataclass(frozen=True)
class Service:
    """One background service: its name, its `esup` arguments and its status-page port (workers only)."""

    name: str
    args: tuple[str, ...]  # after `esup`
    port: int | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment the service starts with (its WEB_PORT, for a worker)."""
        # Faust reads WEB_PORT from the environment before the app's own setting: a WEB_PORT exported by
        # the shell (or by `make up WEB_PORT=…`) would put every worker on one port.
        return {"WEB_PORT": str(self.port)} if self.port is not None else {}

    @property
    def argv(self) -> list[str]:
        """The service's command line: this Python running `esup.cli` with its arguments."""
        return [sys.executable, "-m", "esup.cli", *self.args]

    @property
    def marker(self) -> str:
        """What its command line contains: tells our process from another that reused the pid."""
        return " ".join(["esup.cli", *self.args])


def planned(plan: Plan, settings: Settings, *, run_id: str) -> list[Service]:
    """The services of a plan, in start order: workers, sink, scorer, receivers and notifier, then the simulator."""
    extra: list[str] = []
    if plan.rules:
        extra += ["--rules", str(plan.rules)]
    out = []
    for i in range(1, plan.workers + 1):
        port = plan.web_port + i - 1
        out.append(
            Service(
                f"worker-{i}",
                (
                    "worker",
                    "--clock",
                    "event",
                    "--web-port",
                    str(port),
                    "--loglevel",
                    "warning",
                    *extra,
                    *(["--calendar", str(plan.calendar)] if plan.calendar else []),
                ),
                port,
            )
        )
    out.append(Service("sink", ("sink", "--loglevel", "warning")))
    out.append(Service("scorer", ("scores", "refresh", "--every", str(plan.score_every_s))))
    if plan.notify:
        key = str(webhook_key(settings))
        out.append(
            Service(
                "receivers",
                (
                    "notifier",
                    "receivers",
                    "--out",
                    str(settings.home / "inbox"),
                    "--smtp-port",
                    str(plan.smtp_port),
                    "--http-port",
                    str(plan.http_port),
                    "--webhook-secret-file",
                    key,
                ),
            )
        )
        out.append(Service("notifier", ("notifier", "run", "--loglevel", "warning", "--webhook-secret-file", key)))
    if plan.loop:
        out += _loop_services(plan, settings)
    if plan.per_department:
        out.append(Service("bridge", ("gateway", "bridge")))
        out.append(Service("gateway", ("gateway", "serve")))
    if plan.console:
        # The API's users (the simulated departments' and bureaus', made by `services up`) when there are some.
        api_users = settings.home / "api" / "users.yaml"
        users = ("--users", str(api_users)) if api_users.exists() else ()
        out.append(
            Service(
                "console",
                (
                    "console",
                    "--port",
                    str(plan.console_port),
                    "--dev-http",
                    "--bulletins",
                    str(settings.home / "bulletins"),
                    *users,
                ),
                plan.console_port,
            )
        )
    if plan.simulate:
        # Workers run on the event clock: the events' own times drive the timers through the backfill (a
        # month as fast as the machine allows: about a minute), then the simulator ticks the clock in real
        # time, once the workers have applied the backfill.
        out.append(
            Service(
                "simulator",
                (
                    "simulate",
                    "--live",
                    "--to-kafka",
                    "--speed",
                    plan.speed,
                    "--catch-up",
                    *(["--per-department"] if plan.per_department else []),
                    "--start",
                    f"now-{plan.history_days}d",
                    "--tick-every",
                    str(plan.tick_every_s),
                    "--cases-per-day",
                    str(plan.cases_per_day),
                    "--seed",
                    str(plan.seed),
                    "--id-prefix",
                    f"L{run_id}-",
                    "--out",
                    str(settings.home / "sim"),
                    "--progress-every",
                    str(plan.progress_every_s),
                    *extra,
                ),
            )
        )
    return out


def _loop_services(plan: Plan, settings: Settings) -> list[Service]:
    """The loop on the event clock (like the workers); the API once it has users (`esup services up` makes them
    from the simulated directory; an operator may put their own there); the simulated departments and
    supervisors with the simulator."""
    # The complaint cards (docs/complaints.md) run with the loop they feed, on the event clock too.
    out = [
        Service("loop", ("loop", "run", "--clock", "event")),
        Service("complaints", ("complaints", "run", "--clock", "event")),
    ]
    users, directory = settings.home / "api" / "users.yaml", settings.home / "sim" / "directory.yaml"
    if users.exists():
        where = ("--directory", str(directory)) if directory.exists() else ()
        out.append(Service("api", ("api", "serve", "--users", str(users), *where, "--port", str(plan.api_port))))
    if plan.simulate:
        out.append(Service("responder", ("loop", "simulate", "--follow", "--seed", str(plan.seed))))
        out.append(Service("complainants", ("complaints", "simulate", "--follow", "--seed", str(plan.seed))))
    return out


def webhook_key(settings: Settings) -> Path:
    """The local webhook's HMAC key: made once, readable by its owner only (the notifier refuses anything else)."""
    import os
    import secrets

    path = settings.home / "notifier" / "webhook.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return path


def _ready(port: int | None, since: float) -> bool:
    """A worker is ready when its status page answers; the others once they outlive their start-up."""
    return process.port_answers(HOST, port) if port else time.monotonic() - since > 2.0


class Services:
    """The services started by `esup services up`, tracked by pid files and logs under <home>/services."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.home / "services"

    def pidfile(self, name: str) -> Path:
        """The file holding a service's pid and command-line marker."""
        return self.dir / f"{name}.pid"

    def log(self, name: str) -> Path:
        """The file a service's output goes to."""
        return self.dir / f"{name}.log"

    def _read(self, name: str) -> tuple[int, str] | None:
        try:
            pid, marker = self.pidfile(name).read_text().split("\n", 1)
            return int(pid), marker.strip()
        except (OSError, ValueError):
            return None

    def running(self, name: str) -> int | None:
        """The service's pid when its process is alive (and is ours, by its marker), else None."""
        found = self._read(name)
        return found[0] if found and process.alive(*found) else None

    def known(self) -> list[str]:
        """Names with a pid file, in stop order."""
        names = [p.stem for p in self.dir.glob("*.pid")] if self.dir.is_dir() else []
        return sorted(names, key=lambda n: (_ORDER.index(n.split("-")[0]) if n.split("-")[0] in _ORDER else 9, n))

    def status(self, name: str, note: str = "", port: int | None = None) -> Status:
        """A service's state, pid, status page (for a worker on a known port) and log."""
        pid = self.running(name)
        found = self._read(name)
        if port is None and found and "--web-port" in found[1]:
            port = int(found[1].split("--web-port ", 1)[1].split()[0])
        page = "/" if name == "console" else "/esup/status/"
        where = (f"http://{HOST}:{port}{page}",) if port and pid else ()
        return Status(name, "running" if pid else "stopped", pid, where, (self.log(name),), note)

    def up(self, plan: Plan, timeout_s: float = 90.0) -> list[Status]:
        """Start every planned service that is not running; wait until workers answer and the rest stay up."""
        self.dir.mkdir(parents=True, exist_ok=True)
        out = []
        for svc in planned(plan, self.settings, run_id=time.strftime("%Y%m%d%H%M%S")):
            if self.running(svc.name):
                out.append(self.status(svc.name, "already running"))
                continue
            if svc.port is not None:
                process.require_port_free(svc.name, HOST, svc.port, "--web-port")
            if svc.name == "simulator":  # a phase left by an earlier run must not look like this one's
                (self.settings.home / "sim" / PHASE_FILE).unlink(missing_ok=True)
            # The caller's working directory: the services read the same .env and relative paths as `up` did.
            pid = process.spawn(svc.argv, self.log(svc.name), cwd=Path.cwd(), env=svc.env)
            self.pidfile(svc.name).write_text(f"{pid}\n{svc.marker}\n")
            process.wait_until(
                svc.name,
                partial(_ready, svc.port, time.monotonic()),
                timeout_s,
                partial(process.alive, pid, svc.marker),
                [self.log(svc.name)],
            )
            out.append(self.status(svc.name, "started", svc.port))
        return out

    def down(self, timeout_s: float = 30.0) -> list[Status]:
        """Stop every service with a pid file (the whole process group of each); idempotent."""
        out = []
        for name in self.known():
            found = self._read(name)
            ran = found is not None and process.stop(found[0], found[1], timeout=timeout_s)
            out.append(self.status(name, "stopped" if ran else "was not running"))
            self.pidfile(name).unlink(missing_ok=True)
        return out

    def statuses(self) -> list[Status]:
        """The status of every service with a pid file, in stop order."""
        return [self.status(name) for name in self.known()]


__all__ = ["Plan", "Service", "Services", "StackError", "planned"]
