"""`esup simulate`: a simulated province's catalog, events and ground truth, to a file or to Kafka."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import click

from esup.kafka_auth import BRIDGE, CATALOG, CLOCK, OPERATOR, kafka_python_auth
from esup.params import cli_settings as _settings
from esup.settings import Settings

DEFAULT_START = "2026-01-05"


def _start(text: str | None, live: bool) -> datetime:
    from sim.clock import TZ

    if text is None:
        text = "now" if live else DEFAULT_START
    now = datetime.now(TZ).replace(second=0, microsecond=0)
    if text == "now":
        return now
    if text.startswith("now-") and text.endswith("d") and text[4:-1].isdigit():
        return now - timedelta(days=int(text[4:-1]))
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date or time", param_hint="--start") from None
    if len(text) == 10:  # a date: midnight in Beijing
        return datetime.combine(value.date(), time(0), TZ)
    if value.tzinfo is None:
        raise click.BadParameter(f"{text!r} has no timezone offset", param_hint="--start")
    return value


def _rates(values: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for v in values:
        kind, sep, rate = v.partition("=")
        try:
            out[kind.strip()] = float(rate)
        except ValueError:
            raise click.BadParameter(
                f"{v!r}: expected KIND=RATE, e.g. late_decision=0.02", param_hint="--rate"
            ) from None
        if not sep:
            raise click.BadParameter(f"{v!r}: expected KIND=RATE", param_hint="--rate")
    return out


@click.command()
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build/sim"),
    show_default=True,
    help="folder for the catalog, roster, events, ground truth and manifest",
)
@click.option("--seed", type=int, default=1, show_default=True, help="same seed, same province and cases")
@click.option(
    "--cases", type=click.IntRange(min=0), default=1000, show_default=True, help="applications in a finite run"
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="calendar days over which a finite run's applications arrive",
)
@click.option("--live", is_flag=True, help="never stop: applications keep arriving (--cases-per-day) until SIGTERM")
@click.option(
    "--cases-per-day",
    type=click.FloatRange(min=0),
    default=200.0,
    show_default=True,
    help="a live province's applications per working day",
)
@click.option(
    "--start",
    "start",
    default=None,
    help=f"simulated start: ISO date or time, 'now' or 'now-30d' (default {DEFAULT_START}; now if --live)",
)
@click.option(
    "--at",
    "at",
    default=None,
    help="the ground truth is for timers run to this time (default: the first midnight after it all)",
)
@click.option(
    "--violation-rate",
    type=click.FloatRange(0, 1),
    default=0.2,
    show_default=True,
    help="share of cases with one injected violation, spread evenly over the kinds",
)
@click.option(
    "--rate",
    "rate",
    multiple=True,
    metavar="KIND=RATE",
    help="per-case rate of one violation kind (repeatable); see --list-kinds",
)
@click.option("--list-kinds", is_flag=True, help="list the violation kinds and exit")
@click.option("--cities", type=click.IntRange(1, 5), default=3, show_default=True)
@click.option("--counties", type=click.IntRange(0, 8), default=4, show_default=True, help="counties per city")
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="rule thresholds (YAML) the ground truth is computed for; use the workers' file",
)
@click.option("--to-kafka", is_flag=True, help="send the events to the case-events topic (ESUP_* settings)")
@click.option(
    "--per-department",
    is_flag=True,
    help="with --to-kafka: each department's events to its own ingestion topic, as its own principal "
    "(dept-<id>), for `esup gateway bridge` to forward (as `make up` runs the province)",
)
@click.option(
    "--speed",
    default="max",
    show_default=True,
    help="pacing: 'realtime', an acceleration factor such as 600, or 'max' (as fast as possible)",
)
@click.option(
    "--catch-up",
    is_flag=True,
    help="with --start in the past: go at --speed until the simulated time reaches the present, then in "
    "real time (--speed max: a backfill as fast as the machine allows)",
)
@click.option(
    "--tick-every",
    type=click.FloatRange(min=0),
    default=0.0,
    help="with --to-kafka and a paced speed (or max with --catch-up, once it is live): tick the workers' "
    "event clock every S seconds to the simulated time (for workers run with --clock event)",
)
@click.option("--publish-catalog", is_flag=True, help="publish the catalog to the catalog topic first")
@click.option("--catalog-only", is_flag=True, help="write (and with --publish-catalog publish) the catalog, then exit")
@click.option("--id-prefix", default="", help="prefix for case ids (runs that share topics must differ)")
@click.option(
    "--progress-every",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="seconds between progress lines on stderr",
)
@click.option("--quiet", is_flag=True, help="no progress lines")
def simulate(
    out: Path,
    seed: int,
    cases: int,
    days: int,
    live: bool,
    cases_per_day: float,
    start: str | None,
    at: str | None,
    violation_rate: float,
    rate: tuple[str, ...],
    list_kinds: bool,
    cities: int,
    counties: int,
    rules_file: Path | None,
    to_kafka: bool,
    per_department: bool,
    speed: str,
    catch_up: bool,
    tick_every: float,
    publish_catalog: bool,
    catalog_only: bool,
    id_prefix: str,
    progress_every: float,
    quiet: bool,
) -> None:
    """Simulate a province: offices (GB/T 2260 codes), an item catalog, and case lifecycles over the real
    working-day calendar with violations of every kind injected, reproducibly from --seed.

    \b
    A finite run writes, under --out:
      catalog.yaml    the item catalog (esup catalog publish / esup evaluate --catalog)
      province.json   cities, counties, departments, windows and staff
      directory.yaml  the organisation directory: names, heads, bureaus (esup directory publish)
      events.jsonl    every event, in order of occurrence
      truth.jsonl     one expected finding per line: case, rule, responsible staff, days
      manifest.json   seed, --at, counts per violation kind and per rule
    \b
    Examples:
      esup simulate --cases 3000 --seed 7 --out build/sim
      esup evaluate build/sim/events.jsonl --catalog build/sim/catalog.yaml --at "$(jq -r .at build/sim/manifest.json)"
      esup simulate --live --to-kafka --speed 600 --tick-every 2 --publish-catalog
    """
    from schemas.config import ConfigError, load_rule_config
    from sim.generator import Options
    from sim.run import KafkaTarget, run, write_static
    from sim.violations import KINDS
    from sim.writers import Progress, parse_speed

    if list_kinds:
        for name, kind in KINDS.items():
            click.echo(f"{name:<26} {kind.category:<14} {kind.note}")
        return
    try:
        pace = parse_speed(speed)
        options = Options(
            seed=seed,
            start=_start(start, live),
            cases=None if live else cases,
            days=days,
            cases_per_day=cases_per_day,
            violation_rate=violation_rate,
            rates=_rates(rate),
            cities=cities,
            counties=counties,
            id_prefix=id_prefix,
            rules=load_rule_config(rules_file),
        )
    except (ValueError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    until = _start(at, False) if at else None
    settings = _settings() if to_kafka or publish_catalog else None
    if catalog_only:
        from sim.generator import Simulation

        files = write_static(Simulation(options), out)
        click.echo(f"wrote {files['catalog']} and {files['province']}")
        if publish_catalog:
            _publish(settings, files["catalog"])
        return
    if publish_catalog:
        from sim.generator import Simulation

        _publish(settings, write_static(Simulation(options), out)["catalog"])
    kafka = None
    if to_kafka:
        assert settings is not None
        _require_topics(settings, [settings.topic_case_events] + ([settings.topic_ticks] if tick_every else []))
        backfill = catch_up and pace is None
        # Per department: each department's events to its own topic as its own principal (made and granted
        # here, `esup access add-department --store` for each); direct: case events as the bridge would write
        # them. Ticks as the clock.
        ingest = _ingest_topics(settings, options) if per_department else []
        kafka = KafkaTarget(
            settings.kafka_bootstrap,
            settings.topic_case_events,
            settings.topic_ticks if tick_every else None,
            tick_every or 2.0,
            ready=_workers_caught_up(settings, ingest) if backfill else None,
            auth=kafka_python_auth(settings, BRIDGE),
            ticks_auth=kafka_python_auth(settings, CLOCK),
            per_department=settings if per_department else None,
        )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    where = f"Kafka {kafka.topic}" if kafka else str(out / "events.jsonl")
    if kafka is not None and kafka.per_department is not None:
        where = f"each department's Kafka topic {kafka.per_department.topic_ingest_prefix}<department>"
    click.echo(
        f"esup simulate: seed {seed}, {'live' if live else f'{cases} cases over {days} days'} from "
        f"{options.start.isoformat()}, speed {speed}, to {where}",
        err=True,
    )
    try:
        progress = Progress(every_s=1e9 if quiet else progress_every, total=None if live else cases)
        report = run(
            options,
            out,
            speed=pace,
            catch_up=catch_up,
            at=until,
            kafka=kafka,
            write_events=not (live and to_kafka),
            stop=stop,
            progress=progress,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    injected = sum(report.injected.values())
    click.echo(
        f"simulated {report.cases} cases ({injected} with an injected violation, "
        f"{len(report.injected)} kinds), {report.events} events" + (" (stopped)" if report.stopped else "")
    )
    for name, path in report.files.items():
        click.echo(f"  {name:<9} {path}")
    if report.at is not None and not report.stopped:
        click.echo(f"ground truth: {report.expected} expected findings with timers run to {report.at.isoformat()}")
    if kafka is not None:
        click.echo(
            f"sent {report.kafka_sent} events to {where}"
            + (f"; {report.kafka_failed} NOT acknowledged" if report.kafka_failed else "")
        )
        if report.kafka_failed:
            sys.exit(1)


def _publish(settings: Settings | None, catalog_file: Path) -> None:
    from esup.producer import publish_catalog
    from schemas.catalog import load_catalog

    assert settings is not None
    _require_topics(settings, [settings.topic_catalog])
    catalog = load_catalog(catalog_file)
    report = publish_catalog(
        settings.kafka_bootstrap, settings.topic_catalog, catalog, auth=kafka_python_auth(settings, CATALOG)
    )
    click.echo(f"published {len(report.published)} items (catalog {catalog.version}) to {settings.topic_catalog}")


def _workers_caught_up(settings: Settings, ingest: list[str]) -> Callable[[], bool]:
    """Whether the workers' group has applied every case event sent so far (the backfill is in), and the
    bridge has forwarded every event of the departments' ``ingest`` topics."""
    from esup.lag import group_lag

    def check() -> bool:
        groups = {settings.worker_app_id: [settings.topic_case_events]}
        if ingest:
            groups[settings.bridge_group] = ingest
        try:
            rows = group_lag(settings.kafka_bootstrap, groups, auth=kafka_python_auth(settings, OPERATOR))
        except Exception:  # Kafka busy or restarting: not yet
            return False
        mine = [r for r in rows if r.topic == settings.topic_case_events and r.group == settings.worker_app_id]
        bridged = all(r.lag == 0 for r in rows if r.group == settings.bridge_group)
        return bridged and bool(mine) and all(r.committed is not None and r.lag == 0 for r in mine)

    return check


def _ingest_topics(settings: Settings, options: Any) -> list[str]:
    """Every department of the simulated province gets its ingestion topic, principal, ACLs and stored
    credentials (what `esup access add-department --store` does for each; kept where they exist)."""
    from esup.access.ops import ensure_departments
    from esup.topics import ingest_topic, quiet_kafka_logging
    from sim.generator import Simulation

    departments = sorted({o.department_id for c in Simulation(options).province.counties for o in c.offices.values()})
    quiet_kafka_logging()
    try:
        ensure_departments(settings, departments, command="esup simulate --per-department")
    except Exception as exc:  # the admin client raises many kinds
        raise click.ClickException(
            f"the departments' ingestion topics and principals: {type(exc).__name__}: {exc}"
        ) from None
    return [ingest_topic(settings, d) for d in departments]


def _require_topics(settings: Settings, topics: list[str]) -> None:
    from esup.topics import admin_client, describe, quiet_kafka_logging

    quiet_kafka_logging()
    bootstrap = settings.kafka_bootstrap
    try:
        with admin_client(bootstrap, timeout_ms=15000, auth=kafka_python_auth(settings, OPERATOR)) as admin:
            found = describe(admin, topics)
    except Exception as exc:  # the admin client raises many kinds; all mean Kafka is not there
        raise click.ClickException(f"Kafka at {bootstrap}: {type(exc).__name__}: {exc}") from None
    missing = [t for t in topics if t not in found]
    if missing:
        raise click.ClickException(f"topic(s) {', '.join(missing)} missing on {bootstrap}: run `esup topics create`")
