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
