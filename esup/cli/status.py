"""`esup status lag|worker|services|stack`: the one status verb family; the old spellings as hidden aliases."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from esup.params import cli_settings as _settings

SERVICE = click.Choice(["kafka", "clickhouse"])
PROFILE = click.option(
    "--profile",
    type=click.Choice(["single", "cluster"]),
    default="single",
    show_default=True,
    help="single: one broker and one ClickHouse (9092/9000); cluster: three brokers, three ZooKeeper "
    "nodes and two ClickHouse replicas on ports of their own (docs/operations.md)",
)


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, hidden=True, help="old spelling of `esup status lag --json`")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """What runs, and how far behind it is.

    \b
      esup status lag                    consumer lag per partition of the workers and the sink
      esup status worker --web-port N    one worker's liveness, partitions and counters
      esup status services               the background processes of `esup services up`
      esup status stack                  the local Kafka and ClickHouse servers
    worker, services and stack exit 1 or 3 when something is not running.
    """
    if ctx.invoked_subcommand is None:
        _deprecated("esup status", "esup status lag")
        ctx.invoke(lag, as_json=as_json)
    elif as_json:
        raise click.UsageError(f"--json goes after the subcommand: esup status {ctx.invoked_subcommand} --json")


@status.command("lag")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def lag(as_json: bool) -> None:
    """Consumer lag per partition of the workers' group and the sink's group (committed vs end offsets)."""
    from esup.kafka_auth import OPERATOR, kafka_python_auth
    from esup.lag import as_json as lag_json
    from esup.lag import group_lag, render_table
    from esup.topics import quiet_kafka_logging
    from sinks.runner import sink_topics

    s = _settings()
    quiet_kafka_logging()
    worker = [s.topic_case_events, s.topic_ticks, s.topic_applicant_facts]
    groups = {s.worker_app_id: worker, s.sink_group: sorted(sink_topics(s))}
    try:
        rows = group_lag(s.kafka_bootstrap, groups, auth=kafka_python_auth(s, OPERATOR))
    except Exception as exc:  # the admin client and consumer raise many kinds; all mean the same here
        raise click.ClickException(f"Kafka at {s.kafka_bootstrap}: {type(exc).__name__}: {exc}") from None
    if as_json:
        click.echo(json.dumps(lag_json(rows), indent=2, sort_keys=True))
    else:
        click.echo(render_table(rows))


@status.command("worker")
@click.option("--web-port", type=int, default=6066, show_default=True)
def worker(web_port: int) -> None:
    """Print a worker's status page (liveness, lag per partition, counters); exit 1 if it is not alive."""
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{web_port}/esup/status/"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
    except OSError as exc:
        raise click.ClickException(f"no worker answers on {url}: {exc}") from None
    click.echo(json.dumps(body, indent=2, ensure_ascii=False))
    sys.exit(0 if body.get("alive") else 1)


@status.command("services")
def services() -> None:
    """One line per service: state, pid, status page, log. Exit code 3 when any is not running."""
    from esup.cli.processes import Services

    statuses = Services(_settings()).statuses()
    for st in statuses:
        click.echo(st.line())
    if not statuses:
        click.echo("no services (start them with `esup services up` or `make up`)")
    if not statuses or any(st.state != "running" for st in statuses):
        sys.exit(3)


@status.command("stack")
@click.argument("servers", nargs=-1, type=SERVICE)
@PROFILE
def stack(servers: tuple[str, ...], profile: str) -> None:
    """One line per server (default: both): state, pid, addresses, log file. Exit code 3 when any is not running."""
    from esup.stack import stack as st
    from esup.stack.cluster import Cluster

    statuses = Cluster.running(_settings()).status() if profile == "cluster" else st.status(_settings(), servers)
    for one in statuses:
        click.echo(one.line())
    if any(one.state != "running" for one in statuses):
        sys.exit(3)


def _deprecated(old: str, new: str) -> None:
    click.echo(f"`{old}` is an old spelling and goes in the next release: use `{new}`", err=True)


def alias(command: click.Command, old: str, new: str) -> click.Command:
    """A hidden copy of ``command`` under its old spelling ``old`` that first says, on stderr, to use ``new``."""

    def callback(**kwargs: Any) -> Any:
        _deprecated(old, new)
        return click.get_current_context().invoke(command, **kwargs)

    return click.Command(
        old.split()[-1],
        params=command.params,
        callback=callback,
        hidden=True,
        help=f"Old spelling of `{new}` (goes in the next release).",
    )
