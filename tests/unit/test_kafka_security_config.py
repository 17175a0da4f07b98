"""The local broker's security settings as rendered (SCRAM, deny by default, no anonymous super user) and its TLS."""

from __future__ import annotations

from pathlib import Path

from esup.settings import load_settings
from esup.stack.kafka import KafkaLauncher
from esup.stack.tls import ensure_broker_tls


def props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_scram_acls_and_a_controller_no_anonymous_client_can_use(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path, kafka_security_protocol="SASL_PLAINTEXT")
    protocol, security = KafkaLauncher(s)._security()
    p = props(security)
    assert protocol == "SASL_PLAINTEXT"
    assert p["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert p["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert p["super.users"] == "User:broker;User:admin" and "ANONYMOUS" not in security
    assert p["allow.everyone.if.no.acl.found"] == "false"
    assert p["sasl.mechanism.controller.protocol"] == "PLAIN"  # KAFKA-15513: SCRAM cannot reach a controller
    broker = s.kafka_credentials_dir / "broker.json"
    assert broker.stat().st_mode & 0o777 == 0o600


def test_plaintext_stays_possible_and_renders_no_authorizer(tmp_path: Path) -> None:
    protocol, security = KafkaLauncher(load_settings(home=tmp_path, kafka_security_protocol="PLAINTEXT"))._security()
    assert protocol == "PLAINTEXT" and "authorizer.class.name" not in security


def test_sasl_ssl_defaults_to_the_local_ca(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path, kafka_security_protocol="SASL_SSL")
    assert s.kafka_ssl_cafile == tmp_path / "tls" / "ca.pem"


def test_the_broker_certificate_is_signed_by_the_ca_and_its_keys_are_private(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    tls = ensure_broker_tls(tmp_path / "tls")
    key, cert, chain = pkcs12.load_key_and_certificates(tls.keystore.read_bytes(), tls.keystore_password.encode())
    ca = x509.load_pem_x509_certificate(tls.ca.read_bytes())
    assert cert is not None and key is not None and chain[0] == ca
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    for private in ("broker.p12", "broker.p12.password", "ca.key"):
        assert (tmp_path / "tls" / private).stat().st_mode & 0o777 == 0o600
    assert ensure_broker_tls(tmp_path / "tls") == tls  # made once


def test_one_certificate_names_the_single_broker_and_the_cluster_profiles_three(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    tls = ensure_broker_tls(tmp_path / "tls", "kafka,kafka-1,kafka-2,kafka-3")  # docker-compose's certs service
    _, cert, _ = pkcs12.load_key_and_certificates(tls.keystore.read_bytes(), tls.keystore_password.encode())
    assert cert is not None
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "kafka", "kafka-1", "kafka-2", "kafka-3"]
