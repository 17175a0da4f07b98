"""ClickHouse clients built from the settings or from a clickhouse:// URL (clickhouse-driver, native protocol)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from esup.settings import Settings


def connect(settings: Settings, database: str | None = None) -> Any:
    """A clickhouse-driver Client for the configured server (typed Any: the driver ships no hints)."""
    from clickhouse_driver import Client

    return Client(
        host=settings.clickhouse_host,
        port=settings.clickhouse_port,
        user=settings.clickhouse_user,
        password=settings.clickhouse_password.get_secret_value(),
        database=database or settings.clickhouse_database,
        connect_timeout=10,
        send_receive_timeout=300,
        client_name="esup",
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
    return urlsplit(url).path.lstrip("/") or "default"
