"""A ClickHouse server (Debian's clickhouse-server) as a plain process with its config and data under .esup/."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from esup.clickhouse_auth import ensure_passwords, sha256_hex
from esup.settings import Settings
from esup.stack import process
from esup.stack.base import ServerProcess, State, Status, render
from esup.stack.errors import StackError

APT_PACKAGES = ("clickhouse-server", "clickhouse-client")
_DATABASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _private(path: Path) -> Path:
    """Make ``path`` an owner-only (0600) file before anything is written into it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)
    return path


class ClickHouseLauncher(ServerProcess):
    """The local ClickHouse server's launcher: config, users and data under <home>."""

    name = "clickhouse"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.etc = self.dir / "etc"
        self.config = self.etc / "config.xml"
        self.users = self.etc / "users.xml"
        # Databases besides ESUP_CLICKHOUSE_DATABASE that the sink, service and reader may use (one a line).
        self.databases_file = self.etc / "databases"
        self.marker = self.config

    # ---- install ------------------------------------------------------------------------------------

    def _binary(self) -> str | None:
        found = shutil.which(self.s.clickhouse_server_bin)
        # Debian puts the server in /usr/sbin, which is not on every user's PATH.
        if not found and "/" not in self.s.clickhouse_server_bin:
            candidate = f"/usr/sbin/{self.s.clickhouse_server_bin}"
            found = candidate if os.access(candidate, os.X_OK) else None
        return found

    def installed(self) -> bool:
        """Whether a clickhouse-server binary is found."""
        return self._binary() is not None

    def install(self) -> None:
        """apt-get install Debian's clickhouse-server when missing (root only; others are told the command).

        Also makes each role's password (0600 files), which docker-compose's secrets read as well.
        """
        ensure_passwords(self.s)
        if self.installed():
            return
        hint = f"install it: `sudo apt-get update && sudo apt-get install -y {' '.join(APT_PACKAGES)}`"
        if os.geteuid() != 0 or not shutil.which("apt-get") or self.s.clickhouse_server_bin != "clickhouse-server":
            raise StackError(self.name, f"ClickHouse server not found ({self.s.clickhouse_server_bin!r})", hint)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *APT_PACKAGES]):
            result = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                raise StackError(self.name, f"{' '.join(cmd)} failed:\n{result.stderr.strip()[-2000:]}", hint)
        if not self.installed():
            raise StackError(self.name, "clickhouse-server is still missing after apt-get install", hint)
        # On a host with systemd the package starts its own server on 9000; the stack runs its own.
        if shutil.which("systemctl"):
            subprocess.run(["systemctl", "disable", "--now", "clickhouse-server"], capture_output=True)

    # ---- run ----------------------------------------------------------------------------------------

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.s.clickhouse_http_port}/ping", timeout=2) as r:
                return bool(r.status == 200 and r.read().strip() == b"Ok.")
        except OSError:
            return False

    def start(self) -> Status:
        """Start ClickHouse with its rendered config and users unless it runs; checks ports and disk first."""
        if self._pid() is not None:
            return self.status(note="already running")
        for port, setting in (
            (self.s.clickhouse_port, "ESUP_CLICKHOUSE_PORT"),
            (self.s.clickhouse_http_port, "ESUP_CLICKHOUSE_HTTP_PORT"),
        ):
            process.require_port_free(self.name, "127.0.0.1", port, setting)
        process.require_disk(self.name, self.dir, self.s.min_free_disk_mb)
        self.install()
        binary = self._binary()
        assert binary is not None  # install() made sure
        for d in (self.data, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        render(
            "clickhouse/config.xml",
            self.config,
            {
                "tcp_port": self.s.clickhouse_port,
                "http_port": self.s.clickhouse_http_port,
                "data_dir": self.data,
                "log_dir": self.logs,
            },
        )
        self.write_users()
        # Running as root is fine for 18.16 and for current releases as long as root owns the data
        # directory, which it does when root created it here.
        self._launch([binary, f"--config-file={self.config}"], [self.logs / "server.err.log", self.logs / "stdout.log"])
        return self.status(note="started")

    # ---- users (esup/clickhouse_auth.py) --------------------------------------------------------------

    def databases(self) -> list[str]:
        """The databases the sink, service and reader users may use: the configured one and those allowed since."""
        extra = self.databases_file.read_text(encoding="utf-8").split() if self.databases_file.exists() else []
        return list(dict.fromkeys([self.s.clickhouse_database, *extra]))

    def networks(self) -> tuple[str, ...]:
        """Where the users may log in from: loopback (the cluster's replicas add their subnet)."""
        return ("127.0.0.1", "::1")

    def write_users(self) -> Path:
        """users.xml (0600) from each role's password (generated on first use, kept in 0600 files)."""
        passwords = ensure_passwords(self.s)
        values: dict[str, str | int | Path] = {f"{role}_sha256": sha256_hex(pw) for role, pw in passwords.items()}
        values["default_sha256"] = sha256_hex(secrets.token_urlsafe(32))  # told to nobody: default is closed
        values["databases"] = "".join(f"<database>{name}</database>" for name in self.databases())
        values["networks"] = "".join(f"<ip>{net}</ip>" for net in self.networks())
        return render("clickhouse/users.xml", _private(self.users), values)

    def allow_databases(self, names: Iterable[str]) -> list[str]:
        """Let the sink, service and reader users into more databases (a test's own, a second province).

        A running server re-reads users.xml within a few seconds (18.16 checks every 2 s); no restart.
        """
        wanted = list(names)
        bad = [n for n in wanted if not _DATABASE.match(n)]
        if bad:
            raise ValueError(f"not database names: {bad}")
        now = self.databases()
        added = [n for n in wanted if n not in now]
        if added:
            self._keep([*now[1:], *added])
        return added

    def disallow_databases(self, names: Iterable[str]) -> None:
        """Take databases allowed with allow_databases() away again (the configured one always stays)."""
        gone = set(names)
        self._keep([n for n in self.databases()[1:] if n not in gone])

    def _keep(self, extra: list[str]) -> None:
        _private(self.databases_file).write_text("".join(f"{n}\n" for n in extra), encoding="utf-8")
        self.write_users()

    def stop(self) -> Status:
        """Stop ClickHouse if it is running."""
        return self.status(note="stopped" if self._stop() else "was not running")

    def status(self, note: str = "") -> Status:
        """ClickHouse's state, pid, native and HTTP endpoints, and server log."""
        pid = self._pid()
        state: State = "running" if pid else ("stopped" if self.installed() else "not installed")
        return Status(
            self.name,
            state,
            pid,
            (f"native 127.0.0.1:{self.s.clickhouse_port}", f"http 127.0.0.1:{self.s.clickhouse_http_port}"),
            (self.logs / "server.log",),
            note,
        )
