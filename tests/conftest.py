"""Session-wide real servers for the tests that ask for them: Kafka and ClickHouse, never mocks.

Where the servers come from (esup.stack.servers): KAFKA_BOOTSTRAP_SERVERS / CLICKHOUSE_URL or the
ESUP_* settings when given; else testcontainers when a Docker engine answers; else the local stack
(esup/stack/templates), started for the session and stopped after it if it was not already running.
With CI=true a server that cannot be had fails the run; elsewhere its tests are skipped, with the reason.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest

from esup.settings import Settings, load_settings
from esup.stack.servers import Provided, Unavailable, provide_clickhouse, provide_kafka

# The tests' own database: `make up`'s `esup` data is never truncated by a test run. A branch with a new
# migration can use a database of its own (ESUP_TEST_DATABASE), leaving the shared one's ledger alone.
TEST_DATABASE = os.environ.get("ESUP_TEST_DATABASE", "esup_test")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(what: str, reason: object) -> NoReturn:
    message = f"{what} unavailable: {reason}"
    if in_ci():
        pytest.fail(message + " (CI=true: a missing server is a failure, never a skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def need() -> Callable[[bool, str, str], None]:
    """need(ok, what, reason): when not ok, fail in CI and skip elsewhere (for tools such as kcat or java)."""

    def check(ok: bool, what: str, reason: str) -> None:
        if not ok:
            unavailable(what, reason)

    return check


@pytest.fixture(scope="session")
def esup_settings() -> Settings:
    return load_settings()


def _provide(what: str, provider: Callable[[Settings], Provided], settings: Settings) -> Iterator[Provided]:
    try:
        provided = provider(settings)
    except Unavailable as exc:
        unavailable(what, exc)
    try:
        yield provided
    finally:
        provided.close()


@pytest.fixture(scope="session")
def kafka_server(esup_settings: Settings) -> Iterator[Provided]:
    yield from _provide("Kafka", provide_kafka, esup_settings)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_server: Provided) -> str:
    """Bootstrap servers ("host:port") of the session's Kafka."""
    return kafka_server.address


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> Iterator[Any]:
    from esup.topics import admin_client, quiet_kafka_logging

    quiet_kafka_logging()
    from tests.support import admin_auth

    with admin_client(kafka_bootstrap, auth=admin_auth()) as admin:
        yield admin


@pytest.fixture
def new_topic(kafka_admin: Any) -> Iterator[Callable[..., str]]:
    """Factory: new_topic(partitions=1, prefix="t", **configs) makes a uniquely named topic, deleted afterwards."""
    created: list[str] = []

    def make(partitions: int = 1, prefix: str = "t", **configs: str) -> str:
        name = f"test.{prefix}.{uuid.uuid4().hex[:12]}"
        kafka_admin.create_topics(
            {
                name: {
                    "num_partitions": partitions,
                    "replication_factor": 1,
                    "configs": {k.replace("_", "."): v for k, v in configs.items()},
                }
            },
            wait_for_metadata=True,
        )
        created.append(name)
        return name

    yield make
    if created:
        with contextlib.suppress(Exception):
            kafka_admin.delete_topics(created)


@pytest.fixture
def new_audit_topic(kafka_admin: Any) -> Iterator[Callable[..., str]]:
    """Factory: new_audit_topic(prefix="audit") names a new shared audit topic and makes it and each writer's
    own topic derived from it (esup/audit_writers.py), as `esup topics create` does; all deleted afterwards."""
    from esup.audit_writers import audit_topics
    from esup.settings import load_settings
    from esup.topics import ensure_topics, platform_topics

    made: list[str] = []

    def make(prefix: str = "audit") -> str:
        s = load_settings(topic_audit=f"test.{prefix}.{uuid.uuid4().hex[:12]}")
        ensure_topics(kafka_admin, [t for t in platform_topics(s) if t.name in audit_topics(s)])
        made.extend(audit_topics(s))
        return s.topic_audit

    yield make
    if made:
        existing = set(kafka_admin.list_topics())
        with contextlib.suppress(Exception):
            kafka_admin.delete_topics([t for t in made if t in existing])


@pytest.fixture(scope="session")
def clickhouse_server(esup_settings: Settings) -> Iterator[Provided]:
    yield from _provide("ClickHouse", provide_clickhouse, esup_settings)


@pytest.fixture(scope="session")
def clickhouse_url(clickhouse_server: Provided) -> str:
    """clickhouse:// URL of the session's server, on the migrated test database."""
    from sinks.clickhouse import connect_url, with_database
    from sinks.migrate import migrate

    try:
        migrate(lambda db: connect_url(clickhouse_server.address, db), TEST_DATABASE)
    except Exception as exc:
        unavailable("ClickHouse test database", f"{type(exc).__name__}: {exc}")
    return with_database(clickhouse_server.address, TEST_DATABASE)


@pytest.fixture(scope="session")
def clickhouse_client(clickhouse_url: str) -> Iterator[Any]:
    """A clickhouse-driver Client on the migrated test database (shared; reset tables with clean_tables)."""
    from sinks.clickhouse import connect_url

    client = connect_url(clickhouse_url)
    yield client
    client.disconnect()


@pytest.fixture
def clean_tables(clickhouse_client: Any) -> Any:
    """The session client, after emptying every table of the test database except the migrations ledger."""
    from sinks.migrate import LEDGER, tables

    views = {
        str(r[0])
        for r in clickhouse_client.execute(
            "SELECT name FROM system.tables WHERE database = %(db)s AND engine = 'View'", {"db": TEST_DATABASE}
        )
    }
    for name in tables(clickhouse_client, TEST_DATABASE):
        if name != LEDGER and name not in views:  # a view (migration 0031's `departments`) holds no rows
            clickhouse_client.execute(f"TRUNCATE TABLE {TEST_DATABASE}.{name}")
    return clickhouse_client


@pytest.fixture(scope="session")
def platform_settings(esup_settings: Settings, kafka_bootstrap: str, clickhouse_url: str) -> Settings:
    """Settings pointing at the session's Kafka and at the migrated test database (for workers and sinks)."""
    from esup.stack.servers import settings_for

    return settings_for(esup_settings, kafka_bootstrap=kafka_bootstrap, clickhouse_url=clickhouse_url)


def pytest_configure(config: pytest.Config) -> None:
    # Warnings are errors (pyproject). Ignored: kafka-python 3.0 loads its protocol schemas with a deprecated
    # importlib call on every request; Starlette's TestClient announces a move to httpx2, which FastAPI's
    # test client does not make yet.
    config.addinivalue_line("filterwarnings", "ignore:(read|open)_text is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`:UserWarning")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The cluster's fault test (root, network namespaces, ~4 minutes) is its own target (make cluster-chaos):
    # deselected, not skipped, unless `-m cluster` asks for it, so a run's count of skips stays honest.
    if "cluster" not in (config.getoption("markexpr") or ""):
        cluster = [item for item in items if item.get_closest_marker("cluster") is not None]
        if cluster:
            config.hook.pytest_deselected(items=cluster)
            items[:] = [item for item in items if item.get_closest_marker("cluster") is None]
    # Integration tests and benches run client libraries against servers they stop and kill: a socket such a
    # library drops unclosed is collected whenever the garbage collector runs, in whatever test runs then (or
    # at the session's end), so there it is shown (pyproject), not failed; the tiers without servers fail on it.
    for item in items:
        if "/integration/" not in str(item.path) and "/bench/" not in str(item.path):
            item.add_marker(pytest.mark.filterwarnings("error::ResourceWarning"))
            item.add_marker(pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if "/integration/" in str(item.path) or "/bench/" in str(item.path):
        from tests.integration.pipeline import Pipeline

        Pipeline.made.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that ran pipelines carries the tails of their processes' logs (workers, sinks…) in its
    report: CI keeps only the report, and a timeout says nothing of why the worker did not deliver."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.when != "call" or "/integration/" not in str(item.path):
        return
    from tests.integration.pipeline import Pipeline

    for pipe in Pipeline.made:
        for name, tail in pipe.log_tails().items():
            report.sections.append((f"{pipe.workdir.name}/{name} (last lines)", tail))


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"esup servers: CI={'true' if in_ci() else 'false'}; Kafka/ClickHouse from environment, "
        "testcontainers or the local stack (see tests/conftest.py)"
    ]
