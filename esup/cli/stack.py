"""`esup stack install|up|down`: the local Kafka and ClickHouse servers (no Docker)."""

from __future__ import annotations

import click

from esup.cli import status
from esup.params import cli_settings as _settings
from esup.settings import Settings

SERVICE = status.SERVICE
PROFILE = status.PROFILE


@click.group()
def stack() -> None:
    """The local Kafka and ClickHouse servers (no Docker): state and logs under .esup/.

    \b
      esup stack up                # install once, start both, wait until they answer
      esup status stack            # what runs where (exit 3 if something is down)
      esup stack down              # stop everything the stack started
    Ports: ESUP_KAFKA_PORT (9092), ESUP_KAFKA_CONTROLLER_PORT (9093),
           ESUP_CLICKHOUSE_PORT (9000), ESUP_CLICKHOUSE_HTTP_PORT (8123).
    """


def _run(action: str, services: tuple[str, ...]) -> None:
    from esup.stack import stack as st
    from esup.stack.errors import StackError

    s = _settings()
    fn = {"install": st.install, "up": st.up, "down": st.down}[action]
    try:
        for status in fn(s, services):
            click.echo(status.line())
    except StackError as exc:
        raise click.ClickException(str(exc)) from None
    if action == "up" and (not services or "kafka" in services) and s.kafka_security_protocol != "PLAINTEXT":
        _bootstrap_access(s)


def _cluster(action: str, hosts: bool, workers: int) -> None:
    from esup.stack.cluster import Cluster
    from esup.stack.errors import StackError

    base = _settings()
    cluster = Cluster(base, hosts, workers) if action == "up" else Cluster.running(base)
    try:
        for one in cluster.up() if action == "up" else cluster.down():
            click.echo(one.line())
    except StackError as exc:
        raise click.ClickException(str(exc)) from None
    if action == "up" and base.kafka_security_protocol != "PLAINTEXT":
        _bootstrap_access(cluster.settings)


def _bootstrap_access(s: Settings) -> None:
    from esup.access import ops
    from esup.topics import quiet_kafka_logging

    quiet_kafka_logging()
    try:
        for line in ops.bootstrap(s, command="esup stack up"):
            click.echo(f"access      {line}")
    except Exception as exc:  # the admin client raises many kinds
        raise click.ClickException(f"esup access bootstrap: {type(exc).__name__}: {exc}") from None


@stack.command("install")
@click.argument("services", nargs=-1, type=SERVICE)
def stack_install(services: tuple[str, ...]) -> None:
    """Fetch the Kafka jars (Maven) and ClickHouse (apt-get, as root) without starting anything."""
    _run("install", services)


@stack.command("up")
@click.argument("services", nargs=-1, type=SERVICE)
@PROFILE
@click.option("--hosts", is_flag=True, help="cluster: every server on a network namespace of its own (root)")
@click.option("--workers", default=0, show_default=True, help="cluster --hosts: namespaces worker-1..N for workers")
def stack_up(services: tuple[str, ...], profile: str, hosts: bool, workers: int) -> None:
    """Start SERVICES (default: all) in the background; a running one is left alone."""
    if profile == "cluster":
        _cluster("up", hosts, workers)
    else:
        _run("up", services)


@stack.command("down")
@click.argument("services", nargs=-1, type=SERVICE)
@PROFILE
def stack_down(services: tuple[str, ...], profile: str) -> None:
    """Stop SERVICES (default: all) and whatever they forked (cluster: and remove its namespaces)."""
    if profile == "cluster":
        _cluster("down", False, 0)
    else:
        _run("down", services)


@stack.command("env")
@PROFILE
def stack_env(profile: str) -> None:
    """The ESUP_* variables that point commands at the cluster (`eval $(esup stack env --profile cluster)`)."""
    from esup.stack.cluster import env_lines

    if profile == "cluster":
        for line in env_lines(_settings()):
            click.echo(f"export {line}")


stack.add_command(status.alias(status.stack, "esup stack status", "esup status stack"))
