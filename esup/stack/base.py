"""What every local server launcher offers, and the status it reports."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Literal, Protocol

from esup.resources import packaged
from esup.settings import Settings
from esup.stack import process
from esup.stack.errors import StackError

# Config templates for the local servers, shipped in the package (rendered into ESUP_HOME at start).
TEMPLATES = packaged("esup.stack", "templates")

State = Literal["running", "stopped", "not installed"]


@dataclass(frozen=True)
class Status:
    """What a launcher reports about its server: state, pid, endpoints, log files and a note on what was done."""

    service: str
    state: State
    pid: int | None = None
    endpoints: tuple[str, ...] = ()
    logs: tuple[Path, ...] = ()
    note: str = ""  # "started", "already running", "stopped", ...

    def line(self) -> str:
        """The status as one aligned line for `esup stack status`."""
        pid = f"pid {self.pid}" if self.pid else "-"
        where = ", ".join(self.endpoints) or "-"
        log = str(self.logs[0]) if self.logs else "-"
        note = f" ({self.note})" if self.note else ""
        return f"{self.service:<11} {self.state:<14} {pid:<11} {where}   log {log}{note}"


class Launcher(Protocol):
    """What every local server launcher offers: install, start, stop and status, each idempotent."""

    name: str

    def installed(self) -> bool:
        """Whether the server's software is installed."""

    def install(self) -> None:
        """Install the server's software if it is missing."""

    def start(self) -> Status:
        """Start the server unless it is running, and wait until it answers."""

    def stop(self) -> Status:
        """Stop the server if it is running."""

    def status(self, note: str = "") -> Status:
        """The server's current status, with an optional note."""


class ServerProcess:
    """The pid-file bookkeeping both launchers share: spawn detached, wait until it answers, find, stop.

    ``marker`` is a path on the server's command line (its config file), so a recycled pid is never ours.
    """

    name: str
    s: Settings
    dir: Path
    logs: Path
    pidfile: Path
    marker: Path

    def __init__(self, settings: Settings) -> None:
        # Every server keeps its state under <home>/<name>/: data, logs and a pid file.
        self.s = settings
        self.dir = settings.home / self.name
        self.data = self.dir / "data"
        self.logs = self.dir / "logs"
        self.pidfile = self.dir / f"{self.name}.pid"

    def _answers(self) -> bool:
        raise NotImplementedError

    def _pid(self) -> int | None:
        pid = process.read_pid(self.pidfile)
        return pid if pid and process.alive(pid, str(self.marker)) else None

    def _launch(self, argv: Sequence[str], error_logs: Sequence[Path]) -> None:
        pid = process.spawn(argv, self.logs / "stdout.log", cwd=self.dir)
        self.pidfile.write_text(f"{pid}\n")
        try:
            process.wait_until(
                self.name,
                self._answers,
                self.s.start_timeout_s,
                lambda: process.alive(pid, str(self.marker)),
                list(error_logs),
            )
        except StackError:
            process.stop(pid, str(self.marker))
            raise

    def _stop(self) -> bool:
        """Stop the server (its whole process group); whether it was running."""
        pid = process.read_pid(self.pidfile)
        ran = pid is not None and process.stop(pid, str(self.marker))
        self.pidfile.unlink(missing_ok=True)
        return ran


def render(template: str, target: Path, values: dict[str, str | int | Path], private: bool = False) -> Path:
    """Fill a template's $-placeholders and write it under ESUP_HOME (a missing value is an error).

    ``private`` files (they hold a password) are created owner-only before anything is written to them."""
    text = Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(
        {k: str(v) for k, v in values.items()}
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    if private:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.chmod(target, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return target
    target.write_text(text, encoding="utf-8")
    return target
