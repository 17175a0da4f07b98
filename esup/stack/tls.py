"""A local CA and the broker's certificate for SASL_SSL, made with `cryptography` into <home>/tls (keys 0600)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

VALID_DAYS = 825  # the longest lifetime clients still accept for a leaf certificate


@dataclass(frozen=True)
class BrokerTls:
    """The files a SASL_SSL broker needs: the CA clients trust, and its PKCS12 keystore and password."""

    ca: Path  # PEM, what clients trust (settings.kafka_ssl_cafile)
    keystore: Path  # PKCS12 with the broker's key and certificate chain
    keystore_password: str


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def ensure_broker_tls(directory: Path, host: str = "127.0.0.1") -> BrokerTls:
    """Create the CA and a broker certificate for `host` (names or addresses, comma-separated) once; later calls
    reuse them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    ca_pem, store, pw_file = directory / "ca.pem", directory / "broker.p12", directory / "broker.p12.password"
    if ca_pem.is_file() and store.is_file() and pw_file.is_file():
        return BrokerTls(ca_pem, store, pw_file.read_text().strip())
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "esup local CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for one in host.split(","):  # docker-compose: the single broker's name and the cluster profile's
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(one)))
        except ValueError:
            names.append(x509.DNSName(one))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "esup kafka broker")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(24)
    # Java 17 reads PKCS12 with AES/PBKDF2 protection, what BestAvailableEncryption writes.
    p12 = pkcs12.serialize_key_and_certificates(
        b"broker", key, cert, [ca_cert], serialization.BestAvailableEncryption(password.encode())
    )
    _write_private(store, p12)
    _write_private(pw_file, password.encode())
    _write_private(
        directory / "ca.key",
        ca_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))  # public: clients read it
    return BrokerTls(ca_pem, store, password)
