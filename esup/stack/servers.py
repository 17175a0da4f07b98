"""Real servers for a test session: named by the environment, else testcontainers (Docker), else the local stack.

The same order serves a developer with Docker, one without, and CI: a server that cannot be had raises
:class:`Unavailable` with every reason tried, and the caller decides between failing (CI) and skipping.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from esup.settings import Settings
from esup.stack.errors import StackError

# Images for hosts with Docker: Kafka 3.9 (Confluent 7.9) and a current ClickHouse LTS.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"
CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:25.3"


class Unavailable(RuntimeError):
    """No server of this kind could be provided; the message names every reason tried."""

    pass


@dataclass
class Provided:
    """A server given to a test session: its address, where it came from, and how to release it."""

    address: str  # Kafka: bootstrap servers; ClickHouse: clickhouse:// URL
    source: str  # how it was obtained, for the test report header
    close: Callable[[], None]


def _nothing() -> None:
    return None


def docker_answers() -> bool:
    """Whether a Docker engine answers (a docker client without a daemon does not count)."""
    try:
        import docker  # type: ignore[import-untyped]  # no stubs; only ping() is used

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _local(settings: Settings, service: str) -> Provided:
    from esup.stack.stack import launchers

    (launcher,) = launchers(settings, [service])
    try:
        status = launcher.start()
    except StackError as exc:
        raise Unavailable(f"local stack: {exc}") from None

    # Stop only what this session started; a stack the developer brought up with `make up` stays up.
    def close() -> None:
        launcher.stop()

    return Provided(
        "", f"local stack ({status.note}, pid {status.pid})", close if status.note.startswith("started") else _nothing
    )


def _started(container: Any, what: str) -> Any:
    """Start a testcontainers container, or clean up and say why it is unavailable."""
    try:
        container.start()
    except Exception as exc:
        with contextlib.suppress(Exception):
            container.stop()
        raise Unavailable(f"testcontainers {what}: {exc}") from None
    return container


def provide_kafka(settings: Settings) -> Provided:
    """A Kafka for a test session: from the environment, else testcontainers (PLAINTEXT only), else the local stack."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or (
        settings.kafka_bootstrap_servers if "kafka_bootstrap_servers" in settings.model_fields_set else ""
    )
    if given:
        return Provided(given, "environment", _nothing)
    # The testcontainers broker takes no logins: only for a session configured PLAINTEXT.
    if settings.kafka_security_protocol == "PLAINTEXT" and docker_answers():
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:  # testcontainers before the community split
            from testcontainers.kafka import KafkaContainer

        container: Any = _started(KafkaContainer(KAFKA_IMAGE).with_kraft(), f"Kafka ({KAFKA_IMAGE})")
        return Provided(container.get_bootstrap_server(), f"testcontainers {KAFKA_IMAGE}", container.stop)
    local = _local(settings, "kafka")
    local.address = settings.kafka_bootstrap
    if settings.kafka_security_protocol != "PLAINTEXT":
        from esup.access import ops

        try:
            ops.bootstrap(settings, command="tests")  # the platform users and ACLs, as `esup stack up`
        except Exception as exc:
            local.close()
            raise Unavailable(f"local stack: esup access bootstrap: {type(exc).__name__}: {exc}") from None
    return local


def provide_clickhouse(settings: Settings) -> Provided:
    """A ClickHouse for the test session: from the environment, else testcontainers, else the local stack (as admin)."""
    given = os.environ.get("CLICKHOUSE_URL") or (
        settings.clickhouse_url("default", role="admin") if "clickhouse_host" in settings.model_fields_set else ""
    )
    if given:
        return Provided(given, "environment", _nothing)
    if docker_answers():
        try:
            from testcontainers.community.clickhouse import ClickHouseContainer
        except ImportError:
            from testcontainers.clickhouse import ClickHouseContainer

        container = _started(ClickHouseContainer(CLICKHOUSE_IMAGE), f"ClickHouse ({CLICKHOUSE_IMAGE})")
        return Provided(container.get_connection_url(), f"testcontainers {CLICKHOUSE_IMAGE}", container.stop)
    local = _local(settings, "clickhouse")
    # Tests run as the admin: they create and drop databases of their own (test_clickhouse_privileges
    # checks the other roles on the same server).
    local.address = settings.clickhouse_url("default", role="admin")
    return local


def settings_for(base: Settings, *, kafka_bootstrap: str | None = None, clickhouse_url: str | None = None) -> Settings:
    """The settings that point workers, sinks and commands at the servers a session was given."""
    update: dict[str, Any] = {}
    if kafka_bootstrap:
        update["kafka_bootstrap_servers"] = kafka_bootstrap
    if clickhouse_url:
        parts = urlsplit(clickhouse_url)
        update |= {
            "clickhouse_host": parts.hostname or "127.0.0.1",
            "clickhouse_port": parts.port or 9000,
            "clickhouse_user": unquote(parts.username or "default"),
            "clickhouse_password": SecretStr(unquote(parts.password or "")),
            "clickhouse_database": parts.path.lstrip("/") or "default",
        }
    return base.model_copy(update=update)
