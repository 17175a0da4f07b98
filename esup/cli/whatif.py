"""`esup whatif`: the recorded events of a window re-evaluated under a proposed rules, catalog, calendar or
scoring file beside the live one; what it would add, remove and re-rank (docs/whatif.md)."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from esup.params import aware_datetime
from esup.params import cli_settings as _settings

if TYPE_CHECKING:
    from esup.settings import Settings
    from whatif.run import Configuration
    from whatif.schedule import SideSchedule

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_PARTS = ("rules", "catalog", "calendar", "scoring")


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def live_catalog(s: Settings) -> Any:
    """The catalog the workers judge with: the compacted catalog topic read to its end (as the operator, who
    reads and writes nothing else: esup/access/table.py)."""
    from kafka.errors import KafkaError

    from esup.kafka_auth import OPERATOR, CredentialError, kafka_python_auth
    from esup.producer import read_compacted
    from schemas.catalog import Catalog, CatalogError, parse_catalog_item

    try:
        records = read_compacted(s.kafka_bootstrap, s.topic_catalog, auth=kafka_python_auth(s, OPERATOR))
    except (LookupError, TimeoutError, OSError, CredentialError, KafkaError) as exc:
        raise click.ClickException(f"reading the live catalog: {exc} (or pass --base-catalog FILE)") from None
    items, bad = [], []
    for key, raw in sorted(records.items()):
        if raw is None:
            continue
        try:
            items.append(parse_catalog_item(raw))
        except CatalogError as exc:
            bad.append(f"{key.decode('utf-8', 'replace')}: {exc.reason[:200]}")
    if bad:  # the workers keep an item's last good version, which the topic no longer shows: say so
        click.echo(f"warning: {len(bad)} catalog records refused ({'; '.join(bad[:3])})", err=True)
    if not items:
        raise click.ClickException(f"the catalog topic {s.topic_catalog} has no usable item: pass --base-catalog FILE")
    return Catalog(version="live", items=items)


def live_schedule(s: Settings, workers_clock: str = "wall") -> SideSchedule:
    """The schedule the workers judge by: every record of the configuration topic, checked and applied in turn
    as a worker's configuration feed does (as the operator, who may read it and write nothing). A record a
    worker refuses is refused with a warning naming the field; the others are used."""
    from kafka.errors import KafkaError

    from esup.kafka_auth import OPERATOR, CredentialError, kafka_python_auth
    from esup.producer import read_log
    from whatif.schedule import from_records

    try:
        records = read_log(s.kafka_bootstrap, s.topic_config, auth=kafka_python_auth(s, OPERATOR))
    except (LookupError, TimeoutError, OSError, CredentialError, KafkaError) as exc:
        raise click.ClickException(
            f"reading the adopted configurations: {exc} (or pass --base-schedule FILE, or --no-base-schedule)"
        ) from None
    wall = timedelta(seconds=s.clock_offset_s) if workers_clock == "wall" else None
    got = from_records(records, f"config topic {s.topic_config}", refuse_before_receipt=wall)
    if got.refused:
        listed = "; ".join(f"{k}: {r[:200]}" for k, r in sorted(got.refused.items())[:3])
        click.echo(
            f"warning: {len(got.refused)} configuration records refused, as the workers refuse them ({listed})",
            err=True,
        )
    if got.published_after_their_moment:
        click.echo(
            f"warning: adoptions dated before they were published ({', '.join(got.published_after_their_moment[:3])}"
            "; `esup rules adopt --allow-past`): followed, as event-clock workers follow them (--workers-clock event)",
            err=True,
        )
    return got


def file_schedule(path: Path) -> SideSchedule:
    """The adoptions of a schedule file (the format of `esup evaluate --schedule`); a bad entry is refused naming
    it and its field."""
    from esup.cli.evaluate import read_schedule
    from whatif.run import described
    from whatif.schedule import from_adoptions

    return from_adoptions(read_schedule(path), f"file {described(path)}")


def configuration(
    files: dict[str, Path | None],
    live: Any | None,
    base: Configuration | None = None,
    option: str = "--",
    schedule: SideSchedule | None = None,
) -> Configuration:
    """A configuration from the given files; a part without a file is the base's (or the built-in default).
    A file that cannot be used is refused naming its option (``option`` + part) and the field. ``schedule``:
    its adoptions (the baseline's); for a proposal (``base`` given), its own, else the one
    whatif.schedule.proposal derives from the base's."""
    import yaml

    from schemas.catalog import CatalogError, load_catalog
    from schemas.config import ConfigError, load_rule_config
    from schemas.scoring import ScoringError, load_scoring
    from streams.rules import load_calendar
    from whatif.run import Configuration, described
    from whatif.schedule import SideSchedule, proposal

    loaders: dict[str, Any] = {
        "catalog": load_catalog,
        "rules": load_rule_config,
        "calendar": load_calendar,
        "scoring": load_scoring,
    }
    loaded: dict[str, Any] = {}
    for part, path in files.items():
        if path is None:
            continue
        try:
            loaded[part] = loaders[part](path)
        except (CatalogError, ConfigError, ScoringError, ValueError, OSError, yaml.YAMLError) as exc:
            raise click.ClickException(f"{option}{part} {path}: {' '.join(str(exc).split())}") from None
    defaults = {"catalog": "live catalog topic", "rules": "built-in", "calendar": "built-in", "scoring": "built-in"}
    sources = {k: described(p) for k, p in files.items() if p is not None}
    for part in _PARTS:
        if part not in loaded:
            loaded[part] = getattr(base, part) if base else (live if part == "catalog" else loaders[part](None))
            sources[part] = base.sources[part] if base else defaults[part]
    if base is not None:
        schedule = proposal(base.schedule, [k for k, p in files.items() if p is not None], schedule)
    elif schedule is None:
        schedule = SideSchedule("none")
    return Configuration(loaded["catalog"], loaded["rules"], loaded["calendar"], loaded["scoring"], sources, schedule)


@click.command()
@click.option(
    "--rules", "rules_file", type=_FILE, help="proposed rule thresholds (YAML), in force for the whole window"
)
@click.option("--catalog", "catalog_file", type=_FILE, help="proposed item catalog (YAML)")
@click.option(
    "--calendar",
    "calendar_file",
    type=_FILE,
    help="proposed working-day calendar override (YAML), for the whole window",
)
@click.option("--scoring", "scoring_file", type=_FILE, help="proposed scoring model (YAML)")
@click.option(
    "--schedule",
    "schedule_file",
    type=_FILE,
    help="proposed adoptions (YAML list of kind, file, from, as `esup evaluate --schedule`): the proposal is its "
    "start files plus exactly these, instead of the baseline's",
)
@click.option("--from", "start", required=True, help="first day of the window (YYYY-MM-DD, Beijing)")
@click.option("--to", "end", required=True, help="last day of the window, included")
@click.option("--region", default=None, help="only cases of this GB/T 2260 region (province, city or county code)")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1, 64), help="replay processes")
@click.option("--at", "at", default=None, help="run the timers to this ISO-8601 time (default: the latest event)")
@click.option("--base-rules", type=_FILE, help="the live rule thresholds, when the workers run with --rules")
@click.option("--base-catalog", type=_FILE, help="the live catalog as a file (default: read the catalog topic)")
@click.option("--base-calendar", type=_FILE, help="the live calendar override, when the workers run with --calendar")
@click.option("--base-scoring", type=_FILE, help="the live scoring model, when the views were made from another file")
@click.option(
    "--base-schedule",
    type=_FILE,
    help="the live adoptions as a file (format of `esup evaluate --schedule`; default: read the configuration topic)",
)
@click.option("--no-base-schedule", is_flag=True, help="judge the baseline without any adoption (the start files only)")
@click.option(
    "--workers-clock",
    type=click.Choice(["wall", "event"]),
    default="wall",
    show_default=True,
    help="the live workers' clock: wall-clock workers refuse an adoption dated before the broker received it "
    "(`esup rules adopt --allow-past`), event-clock workers (replays) follow it; the baseline does the same",
)
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), help="write the report as JSON")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="write the report as HTML")
@click.option("--store", "store_name", default=None, help="store the scenario in ClickHouse under this name")
@click.option("--quiet", is_flag=True, help="no tables on the terminal")
def whatif(
    rules_file: Path | None,
    catalog_file: Path | None,
    calendar_file: Path | None,
    scoring_file: Path | None,
    schedule_file: Path | None,
    start: str,
    end: str,
    region: str | None,
    jobs: int,
    at: str | None,
    base_rules: Path | None,
    base_catalog: Path | None,
    base_calendar: Path | None,
    base_scoring: Path | None,
    base_schedule: Path | None,
    no_base_schedule: bool,
    workers_clock: str,
    json_file: Path | None,
    html_file: Path | None,
    store_name: str | None,
    quiet: bool,
) -> None:
    """Re-evaluate the cases that started from --from to --to under a proposed configuration, beside the live one.

    \b
    The window's recorded events (ClickHouse) are replayed twice through the rules engine, as
    `esup evaluate --jobs N --schedule` does: with the live configuration (which must give the live
    findings id for id) and with the proposed one. Nothing is published and no live table is written.
    The baseline follows the live schedule: rules and calendars adopted from moments (`esup rules
    adopt`), read from the configuration topic (or --base-schedule FILE; --no-base-schedule: none),
    each step judged under the configuration in effect at its moment, as the workers judge it.
    The proposal: the proposed files are in force for the whole window, and the baseline's adoptions
    of the kinds not proposed still apply (with no proposed file, the proposal is the baseline); with
    --schedule FILE, it is its start files (the proposed ones, else the baseline's) plus exactly the
    adoptions of FILE. The report names each side's schedule and configuration versions.
    The report: findings added, removed and changed per rule, department and staff (with examples),
    monthly score and rank changes of departments and staff, and the score distribution before and after.
    Exit code: 0 done; 1 the baseline replay differs from the live findings (the report says where);
    2 bad options or files.
    """
    from rich.console import Console

    from esup.clickhouse_auth import Role
    from sinks.clickhouse import connect
    from whatif.render import html, terminal
    from whatif.report import dumps
    from whatif.run import whatif as run
    from whatif.source import Window

    try:
        window = Window(_day(start, "--from"), _day(end, "--to"), region)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if store_name:
        from whatif.store import check_name

        try:
            check_name(store_name)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--store") from None
    if base_schedule is not None and no_base_schedule:
        raise click.UsageError("--base-schedule and --no-base-schedule exclude each other")
    until = aware_datetime(at) if at else None
    s = _settings()
    proposed = {"rules": rules_file, "catalog": catalog_file, "calendar": calendar_file, "scoring": scoring_file}
    given = {"rules": base_rules, "catalog": base_catalog, "calendar": base_calendar, "scoring": base_scoring}
    from whatif.schedule import SideSchedule

    # The files first (a bad one is refused before any server is asked), then the live topics.
    own = file_schedule(schedule_file) if schedule_file is not None else None
    base_adopted = file_schedule(base_schedule) if base_schedule is not None else None
    catalog = None if base_catalog else live_catalog(s)
    if base_adopted is None:
        base_adopted = (
            SideSchedule("none (--no-base-schedule)") if no_base_schedule else live_schedule(s, workers_clock)
        )
    base = configuration(given, catalog, option="--base-", schedule=base_adopted)
    new = configuration(proposed, None, base, schedule=own)
    reader_role: Role = "reader"
    client = connect(s, s.clickhouse_database, role=reader_role)
    from clickhouse_driver.errors import Error as ClickHouseError

    try:
        result = run(client, window, base, new, jobs=jobs, at=until)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    except ClickHouseError as exc:  # a missing database or table, a refused login: one line, not a traceback
        text = " ".join(str(exc).split("Stack trace:")[0].split())
        raise click.ClickException(f"ClickHouse: {text}") from None
    finally:
        client.disconnect()
    report = result.report
    if json_file:
        json_file.write_text(dumps(report), encoding="utf-8")
    if html_file:
        html_file.write_text(html(report), encoding="utf-8")
    if not quiet:
        terminal(report, Console(width=140))
    if store_name:
        from whatif.store import store

        writer_role: Role = "service"
        writer = connect(s, s.clickhouse_database, role=writer_role)
        try:
            run_id = store(writer, store_name, result)
        except ClickHouseError as exc:  # e.g. migration 0060 not applied: `esup db migrate`
            text = " ".join(str(exc).split("Stack trace:")[0].split())
            raise click.ClickException(f"storing the scenario: ClickHouse: {text}") from None
        finally:
            writer.disconnect()
        click.echo(f"stored as scenario {store_name!r} (run {run_id})", err=True)
    check = report["check"]
    if not check["ok"]:
        click.echo(
            f"problem: the baseline replay differs from the live findings: {check['only_live']} only live, "
            f"{check['only_replay']} only replayed, {check['content_differs']} with other content, "
            f"{check['finished_cases_differ']} finished cases differ (see check in the report)",
            err=True,
        )
        sys.exit(1)
