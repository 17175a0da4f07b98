"""Static group membership: a worker with an instance name joins its group as a static member."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from esup.cli import main
from esup.kafka_auth import WORKER, write_credentials
from esup.settings import load_settings
from streams import faust_adapter
from streams.app import create_app


@pytest.fixture(autouse=True)
def worker_login(tmp_path: Path) -> None:
    """The worker's credentials file in the test's home, as `esup access bootstrap` leaves it."""
    write_credentials(load_settings(home=tmp_path), WORKER, "s3cret")


def test_the_worker_logs_in_as_itself(tmp_path: Path) -> None:
    app = create_app(load_settings(home=tmp_path, kafka_security_protocol="SASL_PLAINTEXT")).app
    creds = app.conf.broker_credentials
    assert (creds.username, creds.password, creds.mechanism.value) == (WORKER, "s3cret", "SCRAM-SHA-512")
    assert creds.protocol.value == "SASL_PLAINTEXT"
    assert (
        create_app(load_settings(home=tmp_path, kafka_security_protocol="PLAINTEXT")).app.conf.broker_credentials
        is None
    )


def test_an_instance_name_becomes_the_consumers_group_instance_id(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, worker_app_id="g1", worker_instance="host-a")
    runtime = create_app(settings)
    # faust hands this setting to AIOKafkaConsumer(group_instance_id=…) (checked in streams/faust_adapter.py)
    assert runtime.app.conf.consumer_group_instance_id == "g1/host-a"
    # a static member comes back to an assignment stamped with its previous URL: it must not hold the port
    again = create_app(load_settings(home=tmp_path, worker_app_id="g1", worker_instance="host-a"), web_port=7001)
    assert str(again.app.conf.canonical_url) == str(runtime.app.conf.canonical_url)


def test_without_a_name_membership_stays_dynamic(tmp_path: Path) -> None:
    runtime = create_app(load_settings(home=tmp_path, worker_app_id="g1", worker_instance=None))
    assert runtime.app.conf.consumer_group_instance_id is None
    assert faust_adapter.membership("g", "") == {"consumer_group_instance_id": None}


def test_the_worker_command_documents_the_instance_option() -> None:
    res = CliRunner().invoke(main, ["worker", "--help"])
    assert res.exit_code == 0 and "--instance" in res.output and "ESUP_WORKER_INSTANCE" in res.output


def test_the_consumer_refreshes_its_metadata_within_15_seconds(tmp_path: Path) -> None:
    """A partition whose leader moved is found again without waiting aiokafka's default 5 minutes."""
    runtime = create_app(load_settings(home=tmp_path, worker_app_id="g1", worker_instance=None))
    assert runtime.app.conf.consumer_metadata_max_age_ms == 15_000
