"""How each process logs in to Kafka: its own principal's SCRAM credentials (a 0600 file), TLS when configured."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esup.settings import Settings

# One principal per platform process (least privilege: the ACLs in esup/access grant each only what it
# does). Department systems log in as `dept-<department id>`; see department_principal().
WORKER = "esup-worker"
SINK = "esup-sink"
CATALOG = "esup-catalog"  # publishes the item catalog
CLOCK = "esup-clock"  # ticks (the sweeper's wake-ups) and clock advances
BRIDGE = "esup-bridge"  # forwards each department's ingestion topic into case events
GATEWAY = "esup-gateway"  # the HTTP ingestion gateway
NOTIFIER = "esup-notifier"
LOOP = "esup-loop"
COMPLAINTS = "esup-complaints"  # the complaint cards (docs/complaints.md)
API = "esup-api"
# `esup rules adopt`: writes the configuration schedule the workers judge by (and its audit records), nothing
# else — not the catalog publisher's login, which long-running publishers hold.
ADOPTER = "esup-adopter"
OPERATOR = "esup-operator"  # reads everything (lag, verify, dossiers); writes nothing
ADMIN = "admin"  # super user: topics, users, ACLs (esup stack, esup access); never a service's identity
PLATFORM = (WORKER, SINK, CATALOG, CLOCK, BRIDGE, GATEWAY, NOTIFIER, LOOP, COMPLAINTS, API, ADOPTER, OPERATOR, ADMIN)
DEPARTMENT_PREFIX = "dept-"


def department_principal(department_id: str) -> str:
    """The Kafka principal of a department's system (`dept-<department_id>`)."""
    return DEPARTMENT_PREFIX + department_id


class CredentialError(RuntimeError):
    """A principal's credentials file is missing, unreadable or readable by others."""


def credentials_path(settings: Settings, principal: str) -> Path:
    """The 0600 file holding a principal's SCRAM credentials."""
    return settings.kafka_credentials_dir / f"{principal}.json"


def credentials(settings: Settings, principal: str) -> tuple[str, str] | None:
    """(username, password) of a principal, or None when the cluster takes no login (PLAINTEXT)."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    path = credentials_path(settings, principal)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CredentialError(f"no Kafka credentials for {principal!r}: {path} (esup access …)") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialError(f"{path} is readable by others (mode {oct(st.st_mode & 0o777)}): chmod 600 it")
    data = json.loads(path.read_text(encoding="utf-8"))
    return str(data["username"]), str(data["password"])


def write_credentials(settings: Settings, principal: str, password: str) -> Path:
    """Store a principal's credentials owner-readable only (created 0600, never widened)."""
    path = credentials_path(settings, principal)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"username": principal, "password": password}, f)
    os.chmod(path, 0o600)
    return path


def _sasl(settings: Settings, principal: str) -> dict[str, Any]:
    """The SCRAM login both client libraries take under the same names; {} on a PLAINTEXT cluster."""
    creds = credentials(settings, principal)
    if creds is None:
        return {}
    return {
        "security_protocol": settings.kafka_security_protocol,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": creds[0],
        "sasl_plain_password": creds[1],
    }


def kafka_python_auth(settings: Settings, principal: str) -> dict[str, Any]:
    """Keyword arguments for a kafka-python client (KafkaProducer, KafkaConsumer, KafkaAdminClient)."""
    out = _sasl(settings, principal)
    if out and settings.kafka_security_protocol == "SASL_SSL" and settings.kafka_ssl_cafile is not None:
        out["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    return out


def aiokafka_auth(settings: Settings, principal: str) -> dict[str, Any]:
    """Keyword arguments for an aiokafka client (AIOKafkaProducer, AIOKafkaConsumer): TLS as an SSL context."""
    out = _sasl(settings, principal)
    if out and settings.kafka_security_protocol == "SASL_SSL":
        from aiokafka.helpers import create_ssl_context

        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile is not None else None
        out["ssl_context"] = create_ssl_context(cafile=cafile)
    return out
