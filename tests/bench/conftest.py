"""Benchmarks run only when asked for (`make bench`); they print figures instead of asserting times."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pipeline import Pipeline


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, clickhouse_url: str, kafka_admin: Any, clickhouse_client: Any, tmp_path: Path
) -> Iterator[Pipeline]:
    """A pipeline of its own (topics, groups, database) with six partitions, removed afterwards."""
    p = Pipeline(kafka_bootstrap, clickhouse_url, tmp_path / "bench", partitions=6)
    p.workdir.mkdir(parents=True)
    yield p
    p.close(kafka_admin, clickhouse_client)
