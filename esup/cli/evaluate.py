"""`esup evaluate`: the rules over a file of events, in event time, without servers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from esup.params import aware_datetime
from schemas.catalog import CatalogError, load_catalog
from schemas.config import ConfigError, load_rule_config
from schemas.events import CaseEvent, EventError, parse_event


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


def read_schedule(path: Path) -> list[Any]:
    """The adoptions listed in ``path`` (``- {kind: rules|calendar, file: F, from: MOMENT}``, files relative to
    it), each checked as a worker checks a record (streams.rules.schedule.Adoption); a bad entry is refused
    naming it and its field."""
    from schemas.yamlfile import load_yaml
    from streams.rules.schedule import AdoptionError, adoption_key, encode_adoption, parse_adoption

    try:
        entries = load_yaml(path)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not isinstance(entries, list):
        raise click.ClickException(f"{path}: expected a list of adoptions (kind, file, from)")
    adoptions = []
    for i, entry in enumerate(entries):
        where = f"{path}: [{i}]"
        if not isinstance(entry, dict) or set(entry) != {"kind", "file", "from"}:
            raise click.ClickException(f"{where}: expected exactly kind, file and from")
        try:
            moment = aware_datetime(str(entry["from"]))
            content = (path.parent / str(entry["file"])).read_bytes()
            kind = str(entry["kind"])
            adoptions.append(
                parse_adoption(
                    adoption_key(kind, moment), encode_adoption(kind, content, "", moment, f"schedule {path.name}")
                )
            )
        except AdoptionError as exc:
            raise click.ClickException(f"{where}.{exc.reason}") from None
        except (click.BadParameter, OSError, ValueError, OverflowError) as exc:
            raise click.ClickException(f"{where}: {' '.join(str(exc).split())}") from None
    return adoptions


def load_schedule(path: Path, ctx: Any) -> Any:
    """The adoptions listed in ``path`` (see :func:`read_schedule`) over the start context ``ctx``: a
    streams.configs.Contexts."""
    from streams.configs import Contexts

    contexts = Contexts(ctx)
    for adopted in read_schedule(path):
        contexts.adopt(adopted)
    return contexts


@click.command()
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
    "--schedule",
    "schedule_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="configurations adopted from moments (YAML list of kind, file, from), as `esup rules adopt` made them: "
    "each step is judged under the one in effect at its moment, as the workers do",
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
    schedule_file: Path | None,
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
    timeline = load_schedule(schedule_file, ctx) if schedule_file is not None else None
    if jobs > 1:
        from streams.replay import replay

        done = replay(events_file, ctx, until, jobs, timeline=timeline)
        rejected, lines = done.rejected, done.lines
        counts = (done.events, done.cases, done.at)
    else:
        events, rejected = read_events(events_file)
        result = run(events, ctx, until, timeline)
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
