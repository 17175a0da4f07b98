"""A worker asked to stop (SIGTERM) ends within its grace period even when Kafka stops answering."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from esup.settings import load_settings
from tests.integration.pipeline import Pipeline, wait_until, worker_status
from tests.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def private_kafka(tmp_path: Path, kafka_server: Any) -> Iterator[tuple[Any, str]]:
    """A broker of this test's own (the session's jars, state under tmp_path, free ports): the test freezes it."""
    from esup.stack.errors import StackError
    from esup.stack.kafka import KafkaLauncher
    from tests.conftest import unavailable

    shared = KafkaLauncher(load_settings())
    settings = load_settings(
        home=tmp_path / "stack",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        clickhouse_port=free_port(),
        clickhouse_http_port=free_port(),
    )
    launcher = KafkaLauncher(settings)
    if not shared.installed():
        unavailable("a Kafka broker to freeze", "the Kafka jars are not installed (`esup stack install`)")
    launcher.dir.mkdir(parents=True, exist_ok=True)
    os.symlink(shared.libs, launcher.libs)
    try:
        launcher.start()
    except StackError as exc:
        unavailable("a Kafka broker to freeze", exc)
    try:
        yield launcher, f"127.0.0.1:{settings.kafka_port}"
    finally:
        pid = launcher._pid()
        if pid:
            os.kill(pid, signal.SIGCONT)
        launcher.stop()


def test_sigterm_stops_a_worker_whose_kafka_stopped_answering(
    private_kafka: tuple[Any, str], clickhouse_url: str, tmp_path: Path
) -> None:
    launcher, bootstrap = private_kafka
    p = Pipeline(bootstrap, clickhouse_url, tmp_path / "p", partitions=2)
    p.workdir.mkdir(parents=True)
    p.env["ESUP_SHUTDOWN_GRACE_S"] = "3"
    p.env["ESUP_KAFKA_CREDENTIALS_PATH"] = str(launcher.s.kafka_credentials_dir)  # its own broker's logins
    p.esup("topics", "create")
    p.esup("catalog", "publish", "examples/catalog.yaml")
    port = free_port()
    worker = p.worker("worker", clock="wall", web_port=port)

    def ready() -> bool:
        try:
            parts = worker_status(port)["partitions"]
        except OSError:
            return False
        return len(parts) == 2 and all(v["ready"] for v in parts.values())

    wait_until(ready, timeout=120, what="the worker to own both partitions")
    pid = launcher._pid()
    assert pid
    os.kill(pid, signal.SIGSTOP)  # the broker stops answering (connections hang rather than fail)
    time.sleep(2)
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        pytest.fail(f"the worker was still running 30 s after SIGTERM:\n{p.log('worker')[-2000:]}")
    finally:
        p.processes.pop("worker", None)
        os.kill(pid, signal.SIGCONT)
    assert time.monotonic() - started < 30
