"""SASL_SSL on the local launcher: a broker of its own with the local CA, logins over TLS only."""

from __future__ import annotations

from pathlib import Path

import pytest

from esup import kafka_auth as ka
from esup.settings import load_settings
from esup.stack.errors import StackError
from esup.stack.kafka import KafkaLauncher
from tests.integration.test_stack import Need, isolated

pytestmark = pytest.mark.integration


def test_a_sasl_ssl_broker_serves_clients_that_trust_its_ca_only(tmp_path: Path, need: Need) -> None:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    from esup.access import ops
    from esup.audit_writers import audit_topic
    from esup.topics import quiet_kafka_logging

    quiet_kafka_logging()
    main_kafka = KafkaLauncher(load_settings())
    try:
        main_kafka.install()
    except StackError as exc:
        need(False, "Kafka jars", str(exc))
    s = isolated(tmp_path, kafka_security_protocol="SASL_SSL")
    launcher = KafkaLauncher(s)
    launcher.dir.mkdir(parents=True)
    launcher.libs.symlink_to(main_kafka.libs, target_is_directory=True)
    try:
        assert launcher.start().note == "started"
        assert s.kafka_ssl_cafile is not None and s.kafka_ssl_cafile.is_file()
        ops.bootstrap(s)  # over TLS, as admin
        auth = ka.kafka_python_auth(s, ka.OPERATOR)
        assert auth["security_protocol"] == "SASL_SSL" and auth["ssl_cafile"] == str(s.kafka_ssl_cafile)
        c = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap, **auth)
        assert audit_topic(s, ka.ADMIN) in c.topics()  # bootstrap made it (its own audit), the operator may see it
        c.close()
        # Same login, no TLS: refused.
        plain = {**auth, "security_protocol": "SASL_PLAINTEXT"}
        plain.pop("ssl_cafile")
        with pytest.raises(KafkaError):
            KafkaConsumer(
                bootstrap_servers=s.kafka_bootstrap, request_timeout_ms=5000, api_version_auto_timeout_ms=5000, **plain
            ).topics()
        # TLS without the CA (the system trust store): the certificate is refused.
        with pytest.raises(KafkaError):
            KafkaConsumer(
                bootstrap_servers=s.kafka_bootstrap,
                request_timeout_ms=5000,
                api_version_auto_timeout_ms=5000,
                **{**auth, "ssl_cafile": None},
            ).topics()
    finally:
        launcher.stop()
