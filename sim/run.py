"""One simulation run: write the catalog and roster, stream the events, then the ground truth and a manifest."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.catalog import write_catalog
from sim.generator import Options, SimCase, Simulation, default_at, ground_truth
from sim.truth import write_truth
from sim.writers import DepartmentKafkaWriter, JsonlWriter, KafkaWriter, Pacer, Progress, Ticker, Writer, stream
from streams.rules.calendar import WorkCalendar

if TYPE_CHECKING:
    from esup.settings import Settings


@dataclass(frozen=True)
class KafkaTarget:
    """Where a run's events go on Kafka: the topic or each department's own, the ticks, and the logins."""

    bootstrap: str
    topic: str
    ticks_topic: str | None = None  # tick the event clock to simulated time (workers on --clock event)
    tick_every_s: float = 2.0
    ready: Callable[[], bool] | None = None  # after a backfill, tick only once this says the workers caught up
    auth: dict[str, Any] = field(default_factory=dict)  # the events' login (esup.kafka_auth), when direct
    ticks_auth: dict[str, Any] = field(default_factory=dict)  # the ticks' login
    # Each department's events to its own ingestion topic as its own principal (the bridge forwards them);
    # None: straight to ``topic`` (tests, benchmarks).
    per_department: Settings | None = None


@dataclass
class Report:
    """What a run did: cases, events, injected violations, expected findings, truth moment, Kafka counts, files."""

    out: Path
    cases: int = 0
    events: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    expected: int = 0
    at: datetime | None = None
    stopped: bool = False
    kafka_sent: int = 0
    kafka_failed: int = 0
    files: dict[str, Path] = field(default_factory=dict)


def write_static(sim: Simulation, out: Path) -> dict[str, Path]:
    """The catalog (YAML, for `esup catalog publish` and `esup evaluate`), the province's roster and its
    organisation directory (YAML, for `esup directory publish`)."""
    from directory.model import dump_directory
    from sim.directory import build_directory

    out.mkdir(parents=True, exist_ok=True)
    roster = out / "province.json"
    roster.write_text(json.dumps(sim.province.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    directory = dump_directory(build_directory(sim.province, sim.options.seed), out / "directory.yaml")
    return {"catalog": write_catalog(sim.catalog, out / "catalog.yaml"), "province": roster, "directory": directory}


def run(
    options: Options,
    out: Path,
    *,
    speed: float | None = None,
    catch_up: bool = False,
    at: datetime | None = None,
    kafka: KafkaTarget | None = None,
    write_events: bool = True,
    stop: threading.Event | None = None,
    calendar: WorkCalendar | None = None,
    progress: Progress | None = None,
) -> Report:
    """Simulate; a finite run also writes truth.jsonl for ``at`` (default: after every event and lapse)."""
    sim = Simulation(options, calendar)
    stop = stop or threading.Event()
    report = Report(out, files=write_static(sim, out))
    finite = options.cases is not None
    kept: list[SimCase] = list(sim.cases()) if finite else []
    if finite:
        last = max((b.cursor for c in kept for b in c.builders if b.cursor), default=None)
        report.at = at or default_at(kept)
        if last is not None and report.at < last:
            raise ValueError(
                f"--at {report.at.isoformat()} is before the last simulated event ({last.isoformat()}): "
                "choose a later --at or fewer days"
            )
    cases = iter(kept) if finite else _counting(sim.cases(), report)
    writers: list[Writer] = []
    ticker = None
    if write_events:
        report.files["events"] = out / "events.jsonl"
        writers.append(JsonlWriter(report.files["events"]))
    kafka_writer: KafkaWriter | None = None
    if kafka is not None:
        kafka_writer = (
            DepartmentKafkaWriter(kafka.per_department)
            if kafka.per_department is not None
            else KafkaWriter(kafka.bootstrap, kafka.topic, auth=kafka.auth)
        )
    if kafka_writer is not None:
        writers.append(kafka_writer)
    if kafka is not None and kafka.ticks_topic and (speed is not None or catch_up):
        ticker = Ticker(
            kafka.bootstrap,
            kafka.ticks_topic,
            kafka.tick_every_s,
            ready=kafka.ready,
            auth=kafka.ticks_auth,
            on_present=lambda: write_phase(out, "live"),
        )
        # With catch_up and no speed: as fast as possible to the present (a backfill), then real time.
        write_phase(out, "backfill" if speed is None else "paced")
    progress = progress or Progress(total=len(kept) if finite else None)
    try:
        pacer = Pacer(speed, options.start, catch_up=catch_up)
        report.events = stream(sim.events(cases), writers, pacer, progress, stop, ticker=ticker)
    finally:
        for w in writers:
            w.close()
        if ticker is not None:
            ticker.close()
    report.stopped = stop.is_set()
    if kafka_writer is not None:
        report.kafka_sent, report.kafka_failed = kafka_writer.sent, kafka_writer.failed
    if finite:
        report.cases = len(kept)
        report.injected = Counter(c.builder.violation for c in kept if c.builder.violation)
        if not report.stopped:
            assert report.at is not None
            truth = ground_truth(kept, report.at)
            report.expected = write_truth(out / "truth.jsonl", truth)
            report.files["truth"] = out / "truth.jsonl"
            _manifest(out, options, report, Counter(e.rule for e in truth))
    else:
        report.cases = progress.cases
    return report


PHASE_FILE = "phase.json"


def write_phase(out: Path, phase: str) -> None:
    """What a live run is doing, for `esup services up` to wait on: backfill or paced, then live (real time,
    and after a backfill the workers have applied it)."""
    doc = {"phase": phase, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    (out / PHASE_FILE).write_text(json.dumps(doc) + "\n", encoding="utf-8")


def _counting(cases: Any, report: Report) -> Any:
    for case in cases:
        if case.builder.violation:
            report.injected[case.builder.violation] += 1
        yield case


def _manifest(out: Path, options: Options, report: Report, by_rule: Counter[str]) -> None:
    assert report.at is not None
    doc = {
        "seed": options.seed,
        "start": options.start.isoformat(),
        "at": report.at.isoformat(),
        "cases": report.cases,
        "events": report.events,
        "expected_findings": report.expected,
        "violation_rate": options.violation_rate,
        "rates": dict(options.rates),
        "cities": options.cities,
        "counties": options.counties,
        "rules": options.rules.model_dump(mode="json"),
        "injected": dict(sorted(report.injected.items())),
        "expected_by_rule": dict(sorted(by_rule.items())),
        "files": {k: p.name for k, p in report.files.items()},
    }
    (out / "manifest.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
