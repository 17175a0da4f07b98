"""`esup services up|down`: workers, the sink and a live simulated province in the background."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from esup.cli import status
from esup.kafka_auth import CATALOG, kafka_python_auth
from esup.params import cli_settings as _settings
from esup.settings import Settings

if TYPE_CHECKING:
    from sim.province import Province


@click.group()
def services() -> None:
    """The platform's processes: stream workers, the ClickHouse sink and a simulated live province.

    \b
      esup services up              # start what is not running (after `esup stack up`, topics, db migrate)
      esup status services          # what runs, pid, status page, log (exit 3 if something is down)
      esup services down            # stop the simulator, the workers, then the sink
    Pid files and logs: <ESUP_HOME>/services/. `make up` and `make down` do all of it with the stack.
    """


@services.command("up")
@click.option("--workers", type=click.IntRange(1, 32), default=2, show_default=True)
@click.option(
    "--web-port",
    type=click.IntRange(1, 65535),
    default=6066,
    show_default=True,
    help="status page of worker 1; worker i uses WEB_PORT + i - 1",
)
@click.option(
    "--simulate/--no-simulate",
    default=True,
    show_default=True,
    help="also run a live simulated province (and publish its catalog first)",
)
@click.option(
    "--speed",
    default="max",
    show_default=True,
    help="the simulated province's pace until it reaches the present (max: a backfill as fast as the "
    "machine allows; or a factor such as 600); real time after that",
)
@click.option("--cases-per-day", type=click.FloatRange(min=0), default=200.0, show_default=True)
@click.option(
    "--history-days",
    type=click.IntRange(0, 3650),
    default=30,
    show_default=True,
    help="the province starts this many days ago and catches up with the present at --speed",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--notify/--no-notify",
    default=True,
    show_default=True,
    help="also run the notifier and the local SMTP server and webhook/SMS receiver it delivers to",
)
@click.option(
    "--loop/--no-loop",
    "with_loop",
    default=True,
    show_default=True,
    help="also run the loop (esup loop run), its API on 127.0.0.1:--api-port and, with --simulate, the "
    "simulated departments' responses and supervisors' decisions",
)
@click.option("--api-port", type=click.IntRange(1, 65535), default=8027, show_default=True)
@click.option(
    "--per-department/--direct",
    default=True,
    show_default=True,
    help="the simulated departments write their own ingestion topics as their own principals, forwarded "
    "by the bridge (and the HTTP gateway runs); --direct: straight to case events, no bridge",
)
@click.option(
    "--console/--no-console",
    "console",
    default=True,
    show_default=True,
    help="also run the web console (esup console) on 127.0.0.1:--console-port",
)
@click.option("--console-port", type=click.IntRange(1, 65535), default=8090, show_default=True)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="with --simulate: wait, showing progress, until the current month is ranked, then say where to look",
)
@click.option("--wait-timeout", type=click.FloatRange(min=0), default=900.0, show_default=True, help="seconds")
@click.option("--rules", "rules_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--calendar", "calendar_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
def services_up(
    workers: int,
    web_port: int,
    simulate: bool,
    speed: str,
    cases_per_day: float,
    history_days: int,
    seed: int,
    notify: bool,
    with_loop: bool,
    api_port: int,
    per_department: bool,
    console: bool,
    console_port: int,
    wait: bool,
    wait_timeout: float,
    rules_file: Path | None,
    calendar_file: Path | None,
) -> None:
    """Start the workers (event clock), the sink, the notifier with its local receivers and the simulator in the
    background; idempotent.

    The simulated province starts --history-days ago; at --speed max it backfills that month as fast as
    the machine allows and then goes on in real time. With --wait (the default) this returns once the
    current month is ranked with department names.
    """
    from esup.cli.processes import Plan, Services
    from esup.stack.errors import StackError
    from sim.writers import parse_speed

    try:
        parse_speed(speed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--speed") from None
    s = _settings()
    plan = Plan(
        workers=workers,
        web_port=web_port,
        simulate=simulate,
        speed=speed,
        cases_per_day=cases_per_day,
        history_days=history_days,
        notify=notify,
        loop=with_loop,
        api_port=api_port,
        per_department=per_department,
        console=console,
        console_port=console_port,
        seed=seed,
        rules=rules_file.resolve() if rules_file else None,
        calendar=calendar_file.resolve() if calendar_file else None,
    )
    if simulate:
        _publish_catalog(s, seed)
    try:
        statuses = Services(s).up(plan)
    except StackError as exc:
        raise click.ClickException(str(exc)) from None
    for st in statuses:
        click.echo(st.line())
    if simulate and wait:
        _wait_until_ranked(s, wait_timeout)
    _where_to_look(s, plan)


def _wait_until_ranked(s: Settings, timeout_s: float) -> None:
    from esup.cli.ready import wait_until_ranked

    click.echo(
        f"\nBackfilling the simulated month, then real time; waiting until this month ranks "
        f"(at most {timeout_s:.0f} s; progress also in {s.home / 'services' / 'simulator.log'}):"
    )
    try:
        done = wait_until_ranked(s, timeout_s=timeout_s, say=click.echo)
    except Exception as exc:  # ClickHouse gone, views missing: the services run anyway
        click.echo(f"could not follow the backfill: {type(exc).__name__}: {exc}", err=True)
        return
    if done is None:
        click.echo(f"not ranked after {timeout_s:.0f} s: the services keep running (see the logs)", err=True)
    elif done.done:
        click.echo(f"This month is ranked: {done.ranked} departments, with their names.")
    else:
        click.echo("The province is live, but nothing is ranked this month yet (it has only just begun).")


def _publish_catalog(s: Settings, seed: int) -> None:
    from esup.producer import publish_catalog
    from sim.generator import Options, Simulation
    from sim.run import write_static

    sim = Simulation(Options(seed=seed))
    files = write_static(sim, s.home / "sim")
    try:
        report = publish_catalog(s.kafka_bootstrap, s.topic_catalog, sim.catalog, auth=kafka_python_auth(s, CATALOG))
    except Exception as exc:  # no broker, no topic: say so before any process starts
        raise click.ClickException(
            f"publishing the catalog to {s.topic_catalog} at {s.kafka_bootstrap}: "
            f"{type(exc).__name__}: {exc} (did `esup topics create` run?)"
        ) from None
    click.echo(f"catalog   published {len(report.published)} items from {files['catalog']} to {s.topic_catalog}")
    _publish_directory(s, files["directory"])
    _write_departments(s, sim.province)
    from esup.cli.api_users import ensure_users

    users = ensure_users(s.home, files["directory"])
    click.echo(f"api users {users} (passwords: {users.with_name('passwords.json')}, owner-readable only)")


def _publish_directory(s: Settings, path: Path) -> None:
    from directory.clickhouse import sync
    from directory.index import DirectoryIndex
    from directory.model import load_directory
    from directory.topic import publish_directory
    from sinks.clickhouse import connect

    directory = load_directory(path)
    try:
        report = publish_directory(s.kafka_bootstrap, s.topic_directory, directory, auth=kafka_python_auth(s, CATALOG))
        sync(connect(s, role="service"), DirectoryIndex.of(directory))
    except Exception as exc:
        raise click.ClickException(
            f"publishing the directory to {s.topic_directory}: {type(exc).__name__}: "
            f"{exc} (did `esup topics create` and `esup db migrate` run?)"
        ) from None
    click.echo(f"directory published {report.published} records from {path} to {s.topic_directory}")


def _write_departments(s: Settings, province: Province) -> None:
    """Check that the directory just published names every office of the simulated roster (the rankings' and
    dashboards' one source of department names, read through the `departments` view)."""
    from sinks.clickhouse import connect
    from sinks.departments import TABLE

    offices = {o.department_id for c in province.counties for o in c.offices.values()}
    client = connect(s, role="reader")
    try:
        named = {str(r[0]) for r in client.execute(f"SELECT department_id FROM {TABLE} WHERE name != ''")}
    except Exception as exc:  # no server, no view: say so before any process starts
        raise click.ClickException(
            f"reading department names from ClickHouse at {s.clickhouse_host}:"
            f"{s.clickhouse_port}: {type(exc).__name__}: {exc} (did `esup db migrate` run?)"
        ) from None
    finally:
        client.disconnect()
    if offices - named:
        raise click.ClickException(f"the directory names no department {sorted(offices - named)[:3]}")
    click.echo(
        f"names     {len(offices)} departments of the simulated province in "
        f"{s.clickhouse_database}.directory_departments"
    )


def _where_to_look(s: Settings, plan: object) -> None:
    from esup.cli.processes import Plan

    assert isinstance(plan, Plan)
    lines = [
        "",
        "Where to look:",
        "  esup rankings --watch                live rankings of departments and staff (this month)",
        *(
            [
                f"  http://127.0.0.1:{plan.console_port}/  the console (users: {s.home / 'console' / 'users.yaml'}; "
                f"first password in admin.password beside it)"
            ]
            if plan.console
            else []
        ),
        "  esup case CASE_ID                    one case: timeline, clocks, suspensions, findings and evidence",
        "  esup status lag                      consumer lag of the workers and the sink",
        f"  esup status worker --web-port {plan.web_port:<6} one worker's liveness, partitions and counters",
        "  esup status services                 these processes, their pids and logs",
        f"  clickhouse-client --port {s.clickhouse_port} --user esup_reader --password "
        f'"$(cat {s.clickhouse_credentials_dir / "esup_reader.password"})" -q \'SELECT rule, count() FROM '
        f"{s.clickhouse_database}.findings FINAL GROUP BY rule'",
        "  esup notifier deliveries             notifications per channel and state (预警推送)",
        f"  http://127.0.0.1:{plan.api_port}/docs        the loop's API (users: {s.home / 'api'}/passwords.json)",
        f"  {s.home / 'inbox'}/  mail.jsonl, webhook.jsonl, sms.jsonl: what the local receivers got",
        "  Grafana (with Docker: docker compose up): http://127.0.0.1:3000",
        f"  logs: {s.home / 'services'}/        stop everything: make down",
    ]
    click.echo("\n".join(lines))


@services.command("down")
def services_down() -> None:
    """Stop every service `up` started (simulator, workers, sink); nothing is left running."""
    from esup.cli.processes import Services

    stopped = Services(_settings()).down()
    for st in stopped:
        click.echo(st.line())
    if not stopped:
        click.echo("no services were running")


services.add_command(status.alias(status.services, "esup services status", "esup status services"))
