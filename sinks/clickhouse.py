"""ClickHouse clients built from the settings or from a clickhouse:// URL (clickhouse-driver, native protocol)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from esup.clickhouse_auth import Role
from esup.settings import Settings


def connect(settings: Settings, database: str | None = None, *, role: Role) -> Any:
    """A clickhouse-driver Client as ``role``'s user (esup/clickhouse_auth.py; typed Any: the driver has no hints)."""
    from clickhouse_driver import Client

    user, password = settings.clickhouse_login(role)
    return Client(
        host=settings.clickhouse_host,
        port=settings.clickhouse_port,
        user=user,
        password=password,
        database=database or settings.clickhouse_database,
        connect_timeout=10,
        send_receive_timeout=300,
        client_name="esup",
        # Replicas to fail over to: the driver tries each in turn when a connection cannot be made, and the
        # caller's retry (the sink's backoff) reconnects after one dies mid-query.
        **({"alt_hosts": settings.clickhouse_alt_hosts} if settings.clickhouse_alt_hosts else {}),
        # Inserts through a Distributed table land on a replica before they are acknowledged.
        **({"settings": {"insert_distributed_sync": 1}} if settings.clickhouse_cluster else {}),
    )


def with_database(url: str, database: str) -> str:
    """The same clickhouse:// URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def connect_url(url: str, database: str | None = None) -> Any:
    """A Client from a clickhouse://user:password@host:port/database URL, optionally on another database."""
    from clickhouse_driver import Client

    return Client.from_url(with_database(url, database) if database else url)


def database_of(url: str) -> str:
    """The database a ClickHouse URL names (its path), ``default`` when it names none."""
    return urlsplit(url).path.lstrip("/") or "default"


def replica_settings(settings: Settings) -> list[Settings]:
    """One settings object per server: the configured host, then each failover host (without failover)."""
    if not settings.clickhouse_cluster:
        return [settings]
    others = [h.rsplit(":", 1) for h in settings.clickhouse_alt_hosts.split(",") if h]
    return [settings.model_copy(update={"clickhouse_alt_hosts": ""})] + [
        settings.model_copy(update={"clickhouse_host": host, "clickhouse_port": int(port), "clickhouse_alt_hosts": ""})
        for host, port in others
    ]
