"""`esup`: every command a person runs; each command group lives in its own *_cli module, registered below."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from esup.params import aware_datetime
from schemas.catalog import CatalogError, load_catalog
from schemas.config import ConfigError, load_rule_config
from schemas.events import CaseEvent, EventError, event_json_schema, parse_event


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Electronic supervision (电子监察) of administrative licensing.

    \b
    Start here:
      make up                      the stack, the workers, the sink, the notifier and a live province
      esup rankings --watch        who is late, ranked (names from the directory)
      esup console                 the web console: inbox, findings, supervisors' queue (127.0.0.1:8090)
      esup case CASE_ID            one case: timeline, clocks, findings with evidence
      esup status                  consumer lag of the workers and the sink
      esup evaluate FILE --catalog CATALOG    the rules over a file of events, no servers
      esup verify                  are the findings in ClickHouse what the workers published?
    Every group has --help: stack, topics, db, worker, sink, publish, catalog, directory, notifier, loop,
    api, dossier, console, bulletin, simulate, services, rules, schema, dashboards.
    """


def read_events(path: Path) -> tuple[list[CaseEvent], list[tuple[int, str]]]:
    """Valid events and (line number, reason) for every rejected line of a JSONL file."""
    events: list[CaseEvent] = []
    rejected: list[tuple[int, str]] = []
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                events.append(parse_event(line.rstrip(b"\r\n")))
            except EventError as exc:
                rejected.append((n, exc.reason))
    return events, rejected


@main.command()
@click.argument("events_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--catalog",
    "catalog_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="licensing-item catalog (YAML)",
)
@click.option("--at", "at", default=None, help="run the timers up to this ISO-8601 time (default: latest event)")
@click.option(
    "--rules",
    "rules_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="rule thresholds (YAML); defaults are built in",
)
@click.option(
    "--calendar",
    "calendar_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="working-day calendar override (YAML) for years chinesecalendar does not cover",
)
@click.option(
    "--jobs",
    "jobs",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="processes to split the cases over (same output, in the same order, for any number)",
)
def evaluate(
    events_file: Path,
    catalog_file: Path,
    at: str | None,
    rules_file: Path | None,
    calendar_file: Path | None,
    jobs: int,
) -> None:
    """Evaluate EVENTS_FILE (JSON Lines) case by case in event time and print one finding per line.

    \b
    A line that is not a valid event (bad JSON or UTF-8, too deep, a huge number, a field out of
    contract…) is reported on stderr with its line number and reason; the valid lines are evaluated
    and their findings printed all the same.
    Exit code: 0 every line valid; 1 some lines rejected (count on stderr); 2 bad options or files.
    """
    from streams.rules import Context, load_calendar
    from streams.rules import evaluate as run

    try:
        catalog = load_catalog(catalog_file)
        config = load_rule_config(rules_file)
        calendar = load_calendar(calendar_file)
    except (CatalogError, ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    until = aware_datetime(at) if at else None
    ctx = Context.build(calendar, catalog, config)
    if jobs > 1:
        from esup.replay import replay

        done = replay(events_file, ctx, until, jobs)
        rejected, lines = done.rejected, done.lines
        counts = (done.events, done.cases, done.at)
    else:
        events, rejected = read_events(events_file)
        result = run(events, ctx, until)
        lines = (f.model_dump_json() for f in result.findings)
        counts = (len(events), len(result.states), result.at)
    for n, reason in rejected:
        shown = reason if len(reason) <= 500 else f"{reason[:500]}…"
        click.echo(f"{events_file}:{n}: rejected: {shown}", err=True)
    out = sys.stdout
    found = 0
    for line in lines:
        out.write(line + "\n")
        found += 1
    n_events, n_cases, timers_at = counts
    click.echo(
        f"{n_events} events, {n_cases} cases, {found} findings"
        f" (timers run to {timers_at.isoformat() if timers_at else '-'}; calendar {calendar.version})",
        err=True,
    )
    if rejected:
        click.echo(f"warning: {len(rejected)} lines rejected", err=True)
        sys.exit(1)


@main.group()
def schema() -> None:
    """The event contract for department systems."""


@schema.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schema_export(directory: Path) -> None:
    """Write the JSON Schemas of case events, the catalog, findings and complaints into DIRECTORY."""
    from complaints.contract import complaints_json_schema
    from schemas.catalog import Catalog
    from schemas.findings import Finding

    directory.mkdir(parents=True, exist_ok=True)
    docs = {
        "case-event.schema.json": event_json_schema(),
        "catalog.schema.json": Catalog.model_json_schema(),
        "finding.schema.json": Finding.model_json_schema(),
        "complaint-message.schema.json": complaints_json_schema(),
    }
    for name, doc in docs.items():
        (directory / name).write_text(
            json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        click.echo(f"wrote {directory / name}")


def _register_extensions() -> None:
    from esup import (
        access_cli,
        analytics_cli,
        bulletin_cli,
        case_cli,
        complaints_cli,
        console_cli,
        directory_cli,
        gateway_cli,
        infra_cli,
        intake_cli,
        loop_cli,
        notifier_cli,
        pipeline_cli,
        rules_cli,
        sim_cli,
        sink_cli,
        verify_cli,
    )

    infra_cli.register(main)
    pipeline_cli.register(main)
    sink_cli.register(main)
    analytics_cli.register(main)
    sim_cli.register(main)
    rules_cli.register(main)
    verify_cli.register(main)
    directory_cli.register(main)
    notifier_cli.register(main)
    case_cli.register(main)
    loop_cli.register(main)
    bulletin_cli.register(main)
    access_cli.register(main)
    gateway_cli.register(main)
    console_cli.register(main)
    complaints_cli.register(main)
    intake_cli.register(main)  # after the complaints core's group, which it joins


_register_extensions()

if __name__ == "__main__":
    main()
