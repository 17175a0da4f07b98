"""What every local server launcher offers, and the status it reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Literal, Protocol

from esup.settings import REPO_ROOT

# Config templates for the local servers (rendered into .esup/ at start).
TEMPLATES = REPO_ROOT / "deploy" / "local"

State = Literal["running", "stopped", "not installed"]


@dataclass(frozen=True)
class Status:
    service: str
    state: State
    pid: int | None = None
    endpoints: tuple[str, ...] = ()
    logs: tuple[Path, ...] = ()
    note: str = ""  # "started", "already running", "stopped", ...

    def line(self) -> str:
        pid = f"pid {self.pid}" if self.pid else "-"
        where = ", ".join(self.endpoints) or "-"
        log = str(self.logs[0]) if self.logs else "-"
        note = f" ({self.note})" if self.note else ""
        return f"{self.service:<11} {self.state:<14} {pid:<11} {where}   log {log}{note}"


class Launcher(Protocol):
    name: str

    def installed(self) -> bool: ...

    def install(self) -> None: ...

    def start(self) -> Status: ...

    def stop(self) -> Status: ...

    def status(self, note: str = "") -> Status: ...


def render(template: str, target: Path, values: dict[str, str | int | Path]) -> Path:
    """Fill a deploy/local template's $-placeholders and write it under .esup/ (a missing value is an error)."""
    text = Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(
        {k: str(v) for k, v in values.items()}
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
