"""The local launchers: clear errors when something is missing, idempotent start, nothing left after stop."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from esup.settings import Settings, load_settings
from esup.stack import process
from esup.stack.clickhouse import ClickHouseLauncher
from esup.stack.errors import StackError
from esup.stack.kafka import KafkaLauncher
from tests.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def isolated(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a stack of its own: state under tmp_path, free ports, no .env."""
    ports = {
        "kafka_port": free_port(),
        "kafka_controller_port": free_port(),
        "clickhouse_port": free_port(),
        "clickhouse_http_port": free_port(),
    }
    return load_settings(_env_file=None, home=tmp_path / ".esup", **{**ports, **overrides})


def test_port_taken_is_a_clear_error_before_anything_starts(tmp_path: Path, held_port: int, need: Need) -> None:
    need(shutil.which("java") is not None, "Java", "the Kafka launcher checks Java before the ports")
    with pytest.raises(StackError) as kafka_err:
        KafkaLauncher(isolated(tmp_path, kafka_port=held_port)).start()
    assert f"port {held_port} on 127.0.0.1 is already in use" in str(kafka_err.value)
    assert "ESUP_KAFKA_PORT" in str(kafka_err.value)

    with pytest.raises(StackError) as ch_err:
        ClickHouseLauncher(isolated(tmp_path, clickhouse_http_port=held_port)).start()
    assert f"port {held_port} on 127.0.0.1 is already in use" in str(ch_err.value)
    assert "ESUP_CLICKHOUSE_HTTP_PORT" in str(ch_err.value)
    assert not (tmp_path / ".esup" / "kafka" / "kafka.pid").exists()


def test_missing_java_maven_or_clickhouse_is_named(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"kafka: Java not found \(looked for '/nonexistent/java'"):
        KafkaLauncher(isolated(tmp_path, java="/nonexistent/java")).start()
    if shutil.which("java"):
        with pytest.raises(StackError, match="Maven not found") as err:
            KafkaLauncher(isolated(tmp_path, mvn="no-such-mvn")).install()
        assert "apt-get install maven" in str(err.value)
    with pytest.raises(StackError, match="clickhouse: ClickHouse server not found"):
        ClickHouseLauncher(isolated(tmp_path, clickhouse_server_bin="no-such-clickhouse-server")).start()


def test_disk_full_is_refused_with_the_numbers(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"clickhouse: disk full: only \d+ MB free under .*, 1000000000 MB needed"):
        ClickHouseLauncher(isolated(tmp_path, min_free_disk_mb=10**9)).start()


def test_status_of_a_fresh_checkout(tmp_path: Path) -> None:
    from esup.cli import main

    s = isolated(tmp_path, java="/nonexistent/java")
    assert KafkaLauncher(s).status().state == "not installed"
    env = {"ESUP_HOME": str(tmp_path / ".esup"), "ESUP_KAFKA_PORT": str(s.kafka_port)}
    default = CliRunner().invoke(main, ["stack", "status"], env={**env, "ESUP_KAFKA_SECURITY_PROTOCOL": None})
    assert f"kafka       not installed  -           SASL_PLAINTEXT 127.0.0.1:{s.kafka_port}" in default.output
    env["ESUP_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"  # still possible, for a broker without logins
    result = CliRunner().invoke(main, ["stack", "status"], env=env)
    assert result.exit_code == 3
    assert f"kafka       not installed  -           PLAINTEXT 127.0.0.1:{s.kafka_port}" in result.output
    down = CliRunner().invoke(main, ["stack", "down"], env=env)
    assert down.exit_code == 0 and "was not running" in down.output


def test_settings_are_frozen_prefixed_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("ESUP_")]:
        monkeypatch.delenv(name)  # the defaults are under test, not whatever stack this shell points at
    monkeypatch.setenv("ESUP_KAFKA_PORT", "19092")
    monkeypatch.setenv("ESUP_CLICKHOUSE_PASSWORD", "s3cret")
    s = load_settings(_env_file=None)
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert "s3cret" not in repr(s) and s.clickhouse_password.get_secret_value() == "s3cret"
    assert s.clickhouse_url("x") == "clickhouse://default:s3cret@127.0.0.1:9000/x"
    with pytest.raises(ValidationError):
        s.kafka_port = 1  # type: ignore[misc]
    monkeypatch.delenv("ESUP_CLICKHOUSE_PASSWORD")
    with pytest.raises(ValidationError, match="ESUP_CLICKHOUSE_PASSWORD must be set"):
        load_settings(_env_file=None, environment="production")
    with pytest.raises(ValidationError, match="ports must differ"):
        load_settings(_env_file=None, clickhouse_port=19092)


NOT_INSTALLED = "not installed; `esup stack install` (or .ci/run) installs it"
Need = Callable[[bool, str, str], None]


def test_clickhouse_start_is_idempotent_and_stop_leaves_nothing(tmp_path: Path, need: Need) -> None:
    s = isolated(tmp_path)
    launcher = ClickHouseLauncher(s)
    need(launcher.installed(), "clickhouse-server", NOT_INSTALLED)
    try:
        first = launcher.start()
        again = launcher.start()
        assert (first.state, first.note) == ("running", "started")
        assert (again.state, again.note, again.pid) == ("running", "already running", first.pid)
        assert process.port_answers("127.0.0.1", s.clickhouse_port)
        assert (tmp_path / ".esup" / "clickhouse" / "data").is_dir()
    finally:
        stopped = launcher.stop()
    assert stopped.state == "stopped" and stopped.note == "stopped"
    assert first.pid is not None and not process.alive(first.pid, "clickhouse")
    assert not process.port_taken("127.0.0.1", s.clickhouse_port)
    assert not process.port_taken("127.0.0.1", s.clickhouse_http_port)


def test_kafka_start_is_idempotent_and_stop_leaves_nothing(tmp_path: Path, need: Need) -> None:
    main_kafka = KafkaLauncher(load_settings())
    try:
        main_kafka.install()  # once per checkout; a no-op when the jars are there
    except StackError as exc:
        need(False, "Kafka jars", str(exc))
    s = isolated(tmp_path)
    launcher = KafkaLauncher(s)
    # Share the jars of the checkout's stack instead of downloading them again.
    launcher.dir.mkdir(parents=True)
    launcher.libs.symlink_to(main_kafka.libs, target_is_directory=True)
    try:
        first = launcher.start()
        again = launcher.start()
        assert (first.state, first.note) == ("running", "started")
        assert (again.note, again.pid) == ("already running", first.pid)
    finally:
        stopped = launcher.stop()
    assert stopped.note == "stopped"
    assert first.pid is not None and not process.alive(first.pid, "kafka")
    assert not process.port_taken("127.0.0.1", s.kafka_port)
    assert not process.port_taken("127.0.0.1", s.kafka_controller_port)
