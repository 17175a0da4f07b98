"""The whole local stack: install, start, stop and report every server in order."""

from __future__ import annotations

from collections.abc import Iterable

from esup.settings import Settings
from esup.stack.base import Launcher, Status
from esup.stack.clickhouse import ClickHouseLauncher
from esup.stack.kafka import KafkaLauncher

SERVICES = ("kafka", "clickhouse")


def launchers(settings: Settings, only: Iterable[str] = ()) -> list[Launcher]:
    """The launchers for the named services (all of them when none is named), in start order."""
    wanted = set(only) or set(SERVICES)
    unknown = wanted - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown service(s) {', '.join(sorted(unknown))}; known: {', '.join(SERVICES)}")
    built: dict[str, Launcher] = {"kafka": KafkaLauncher(settings), "clickhouse": ClickHouseLauncher(settings)}
    return [built[name] for name in SERVICES if name in wanted]


def install(settings: Settings, only: Iterable[str] = ()) -> list[Status]:
    """Install the servers (all, or those named in `only`) without starting them."""
    result = []
    for launcher in launchers(settings, only):
        launcher.install()
        result.append(launcher.status(note="installed"))
    return result


def up(settings: Settings, only: Iterable[str] = ()) -> list[Status]:
    """Start what is not running yet and wait until it answers; idempotent."""
    return [launcher.start() for launcher in launchers(settings, only)]


def down(settings: Settings, only: Iterable[str] = ()) -> list[Status]:
    """Stop in reverse order; stopping what is not running is not an error."""
    return [launcher.stop() for launcher in reversed(launchers(settings, only))]


def status(settings: Settings, only: Iterable[str] = ()) -> list[Status]:
    """The status of the servers (all, or those named in `only`)."""
    return [launcher.status() for launcher in launchers(settings, only)]
