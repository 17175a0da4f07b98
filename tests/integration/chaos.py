"""Chaos tooling for test_chaos.py: a paced publisher, CPU burners, a timed fault runner and the outcome's diff."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.integration.pipeline import Pipeline


@dataclass(frozen=True)
class Fault:
    at_s: float  # seconds after publishing began
    name: str  # short, for ESUP_CHAOS_FAULTS
    what: str
    do: Callable[[], object]


def chosen(faults: list[Fault], spec: str) -> list[Fault]:
    """ESUP_CHAOS_FAULTS: "all" (the default), "none" or "0", or a comma-separated list of fault names."""
    spec = spec.strip().lower()
    if spec in ("", "all"):
        return faults
    if spec in ("0", "none"):
        return []
    names = {n.strip() for n in spec.split(",")}
    unknown = names - {f.name for f in faults}
    if unknown:
        raise ValueError(f"ESUP_CHAOS_FAULTS: no fault named {sorted(unknown)}; known: {[f.name for f in faults]}")
    return [f for f in faults if f.name in names]


class FaultLog:
    """Every fault with its wall time, its time into the run and how far publishing had got."""

    def __init__(self, path: Path, published: Callable[[], int]) -> None:
        self.path, self.published, self.t0 = path, published, time.monotonic()
        self.lines: list[str] = []

    def __call__(self, what: str) -> None:
        wall = datetime.now(UTC).astimezone().strftime("%H:%M:%S.%f")[:-3]
        line = f"{wall} +{time.monotonic() - self.t0:6.1f}s  [{self.published():>6} published]  {what}"
        self.lines.append(line)
        with self.path.open("a") as f:
            f.write(line + "\n")
        print(f"chaos: {line}", flush=True)


def run_faults(faults: list[Fault], log: FaultLog) -> None:
    """Each fault at its time after ``log`` began (late rather than early when the machine is loaded)."""
    for fault in sorted(faults, key=lambda f: f.at_s):
        delay = log.t0 + fault.at_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        fault.do()
        log(fault.what)


class PacedPublisher(threading.Thread):
    """Publishes the lines (already in event-time order) keyed by case over ``seconds``, evenly in count."""

    def __init__(self, p: Pipeline, lines: list[bytes], seconds: float) -> None:
        super().__init__(name="chaos-publisher", daemon=True)
        self.p, self.lines, self.seconds = p, lines, seconds
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.p.produce("case_events", self._paced(), linger_ms=20)
        except BaseException as exc:  # reported by the test, which joins this thread
            self.error = exc

    def _paced(self) -> Any:
        t0, per_s = time.monotonic(), len(self.lines) / self.seconds
        for i, line in enumerate(self.lines):
            ahead = t0 + i / per_s - time.monotonic()
            if ahead > 0.02:
                time.sleep(ahead)
            self.sent = i + 1
            yield json.loads(line)["case_id"].encode(), line


class Burners:
    """Processes that spin on the CPU, one per core, so that every fault happens on a loaded machine."""

    def __init__(self, n: int = 2, nice: int = 0) -> None:
        self.n, self.nice = n, nice
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        # Spin while the test lives: a burner orphaned by a killed pytest stops by itself.
        code = f"import os; os.nice({self.nice}); parent = os.getppid()\nwhile os.getppid() == parent: pass"
        self.procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(self.n)]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        self.procs = []


def signal_worker(p: Pipeline, name: str, sig: signal.Signals) -> None:
    """Send ``sig`` to a worker's process group (SIGSTOP/SIGCONT freeze and thaw it whole)."""
    os.killpg(p.processes[name].pid, sig)


@dataclass
class Outcome:
    """ClickHouse against the reference: findings by id and the latest snapshot version per case."""

    missing: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    differ: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    versions: dict[str, tuple[int | None, int]] = field(default_factory=dict)  # case -> (got, expected)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.differ or self.versions)

    def summary(self) -> str:
        if self.ok:
            return "ok"
        return (
            f"{len(self.missing)} missing, {len(self.extra)} extra, {len(self.differ)} differ, "
            f"{len(self.versions)} snapshot versions wrong"
        )

    def report(self, examples: int = 5) -> str:
        def by_rule(rows: dict[str, Any]) -> dict[str, int]:
            return dict(Counter(r[0] for r in rows.values()).most_common())

        def first(rows: dict[str, Any]) -> list[Any]:
            return sorted(rows.items())[:examples]

        return "\n".join(
            [
                f"chaos outcome: {self.summary()}",
                f"missing by rule {by_rule(self.missing)}; e.g. {first(self.missing)}",
                f"extra by rule {by_rule(self.extra)}; e.g. {first(self.extra)}",
                f"differ (got, expected), e.g. {first(self.differ)}",
                f"snapshot versions (got, expected), e.g. {first(self.versions)}",
            ]
        )


def compare(
    got: dict[str, Any], expected: dict[str, Any], versions: dict[str, int], expected_versions: dict[str, int]
) -> Outcome:
    out = Outcome()
    out.missing = {k: expected[k] for k in expected.keys() - got.keys()}
    out.extra = {k: got[k] for k in got.keys() - expected.keys()}
    out.differ = {k: (got[k], expected[k]) for k in got.keys() & expected.keys() if got[k] != expected[k]}
    out.versions = {c: (versions.get(c), v) for c, v in expected_versions.items() if versions.get(c) != v}
    out.versions.update({c: (v, -1) for c, v in versions.items() if c not in expected_versions})
    return out
