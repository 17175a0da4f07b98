"""Commands that drive the servers: `esup stack`, `esup topics`, `esup db` (registered on the main group)."""

from __future__ import annotations

import sys

import click

from esup.params import cli_settings as _settings
from esup.settings import Settings

SERVICE = click.Choice(["kafka", "clickhouse"])




@click.group()
def stack() -> None:
    """The local Kafka and ClickHouse servers (no Docker): state and logs under .esup/.

    \b
      esup stack up                # install once, start both, wait until they answer
      esup stack status            # what runs where (exit 3 if something is down)
      esup stack down              # stop everything the stack started
    Ports: ESUP_KAFKA_PORT (9092), ESUP_KAFKA_CONTROLLER_PORT (9093),
           ESUP_CLICKHOUSE_PORT (9000), ESUP_CLICKHOUSE_HTTP_PORT (8123).
    """


PROFILE = click.option("--profile", type=click.Choice(["single", "cluster"]), default="single", show_default=True,
                       help="single: one broker and one ClickHouse (9092/9000); cluster: three brokers, ZooKeeper "
                            "and two ClickHouse replicas on ports of their own (docs/operations.md)")


def _cluster(action: str, hosts: bool, workers: int) -> None:
    from esup.stack.cluster import Cluster
    from esup.stack.errors import StackError

    base = _settings()
    cluster = Cluster(base, hosts, workers) if action == "up" else Cluster.running(base)
    try:
        for status in cluster.up() if action == "up" else cluster.down():
            click.echo(status.line())
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


@stack.command("status")
@click.argument("services", nargs=-1, type=SERVICE)
@PROFILE
def stack_status(services: tuple[str, ...], profile: str) -> None:
    """One line per server: state, pid, addresses, log file. Exit code 3 when any is not running."""
    from esup.stack import stack as st
    from esup.stack.cluster import Cluster

    statuses = Cluster.running(_settings()).status() if profile == "cluster" else st.status(_settings(), services)
    for status in statuses:
        click.echo(status.line())
    if any(status.state != "running" for status in statuses):
        sys.exit(3)


@click.group()
def topics() -> None:
    """The platform's Kafka topics (names and partitions from ESUP_TOPIC_*, ESUP_CASE_EVENTS_PARTITIONS)."""


@topics.command("create")
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers (default: ESUP_KAFKA_BOOTSTRAP_SERVERS "
              "or the local broker)")
@click.option("--timeout", "timeout_s", default=30.0, show_default=True, help="seconds to wait for the broker")
def topics_create(bootstrap: str | None, timeout_s: float) -> None:
    """Create the missing topics; existing ones are kept and any difference from the settings is reported.

    Exit code 1 when an existing topic differs (partitions or policy): changing it is a person's decision.
    """
    from esup.kafka_auth import ADMIN, kafka_python_auth
    from esup.topics import admin_client, ensure_topics, platform_topics, quiet_kafka_logging

    s = _settings()
    quiet_kafka_logging()
    server = bootstrap or s.kafka_bootstrap
    try:
        with admin_client(server, timeout_ms=int(timeout_s * 1000), auth=kafka_python_auth(s, ADMIN)) as admin:
            results = ensure_topics(admin, platform_topics(s))
    except Exception as exc:  # the admin client raises many kinds; all mean the same here
        raise click.ClickException(f"Kafka at {server}: {type(exc).__name__}: {exc}") from None
    for r in results:
        policies = " ".join(f"{k}={v}" for k, v in sorted(r.spec.configs.items()))
        click.echo(f"{'created' if r.created else 'exists ':<8} {r.spec.name:<24} {r.partitions:>3} partitions  "
                   f"{policies}")
        for d in r.drift:
            click.echo(f"  ! {r.spec.name}: {d}", err=True)
    if any(r.drift for r in results):
        raise click.ClickException("existing topics differ from the settings (see above); "
                                   "alter or recreate them deliberately")


@click.group()
def db() -> None:
    """The ClickHouse database (ESUP_CLICKHOUSE_* settings)."""


@db.command("migrate")
@click.option("--database", default=None, help="target database (default: ESUP_CLICKHOUSE_DATABASE, `esup`)")
def db_migrate(database: str | None) -> None:
    """Apply the pending migrations from sinks/migrations (idempotent) and list the tables."""
    from sinks.clickhouse import connect
    from sinks.migrate import MigrationError, migrate, tables

    s = _settings()
    target = database or s.clickhouse_database
    try:
        done = migrate(lambda name: connect(s, name, role="admin"), target, cluster=s.clickhouse_cluster)
        names = tables(connect(s, target, role="admin"), target)
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # connection refused, authentication, DDL rejected…
        raise click.ClickException(
            f"ClickHouse at {s.clickhouse_host}:{s.clickhouse_port}: {type(exc).__name__}: {exc}"
        ) from None
    for m in done:
        click.echo(f"applied {m.version:04d}_{m.name} ({len(m.statements)} statements)")
    if not done:
        click.echo(f"{target}: up to date")
    click.echo(f"tables in {target}: {', '.join(names)}")


def register(main: click.Group) -> None:
    """Attach the infrastructure commands to the `esup` group."""
    main.add_command(stack)
    main.add_command(topics)
    main.add_command(db)
