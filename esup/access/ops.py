"""The access operations behind `esup access`: bootstrap, departments, rotation, listing; each one audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esup import kafka_auth as ka
from esup.access import kafka_admin as kad
from esup.access.audit import AccessAudit
from esup.access.table import Grant, department_grants, platform_grants, revoked_grants
from esup.audit_writers import audit_topic
from esup.settings import Settings
from esup.topics import admin_client, ensure_topics, ingest_topic_spec, platform_topics

# Platform principals `esup access bootstrap` creates (admin exists from the storage format).
SERVICES = tuple(p for p in ka.PLATFORM if p != ka.ADMIN)


@dataclass
class Session:
    """The admin client and the audit chain one access command works with."""

    admin: Any
    audit: AccessAudit


@contextmanager
def session(s: Settings, command: str) -> Iterator[Session]:
    """An admin client and an audit chain, both as the admin principal."""
    from esup.producer import kafka_producer

    auth = ka.kafka_python_auth(s, ka.ADMIN)
    producer = kafka_producer(s.kafka_bootstrap, "esup-access", auth=auth)
    try:
        with admin_client(s.kafka_bootstrap, auth=auth) as admin:
            # The audit topic first: no change is made that could not be recorded.
            topic = audit_topic(s, ka.ADMIN)
            ensure_topics(admin, [t for t in platform_topics(s) if t.name == topic])
            yield Session(admin, AccessAudit(producer, topic, ka.ADMIN, command))
    finally:
        producer.close(timeout=10)


def _stored_password(s: Settings, principal: str) -> str | None:
    try:
        creds = ka.credentials(s, principal)
    except ka.CredentialError:
        return None
    return creds[1] if creds else None


def bootstrap(s: Settings, *, command: str = "esup access bootstrap") -> list[str]:
    """Platform users (a stored password is reused, so every holder keeps working) and their ACLs; idempotent."""
    lines = []
    with session(s, command) as x:
        created = []
        for principal in SERVICES:
            password = _stored_password(s, principal)
            if password is None:
                password = kad.new_password()
                ka.write_credentials(s, principal, password)
                created.append(principal)
            kad.set_password(x.admin, principal, password)
        grants = platform_grants(s)
        kad.create_acls(x.admin, grants)
        revoked = kad.delete_grants(x.admin, [g for g in revoked_grants(s) if g not in set(grants)])
        x.audit.record(
            "access.bootstrap",
            {"new_users": created, "users": list(SERVICES), "acls": len(grants), "acls_revoked": revoked},
        )
        lines.append(
            f"{len(SERVICES)} platform principals ({len(created)} new), {len(grants)} ACLs; "
            f"credentials in {s.kafka_credentials_dir}"
        )
    return lines


@dataclass(frozen=True)
class NewDepartment:
    """What `add-department` made: the department's principal and password, its ingestion topic, where it was stored."""

    principal: str
    password: str
    topic: str
    stored: Path | None


def add_department(
    s: Settings, department_id: str, *, store: bool, command: str = "esup access add-department"
) -> NewDepartment:
    """Create a department's ingestion topic, its `dept-<id>` principal (new password) and its one grant; audited."""
    spec = ingest_topic_spec(s, department_id)
    principal = ka.department_principal(department_id)
    password = kad.new_password()
    with session(s, command) as x:
        ensure_topics(x.admin, [spec])
        kad.set_password(x.admin, principal, password)
        kad.create_acls(x.admin, department_grants(s, department_id))
        stored = ka.write_credentials(s, principal, password) if store else None
        x.audit.record(
            "access.add-department",
            {"department_id": department_id, "principal": principal, "topic": spec.name, "stored": stored is not None},
        )
    return NewDepartment(principal, password, spec.name, stored)


def ensure_departments(
    s: Settings, department_ids: list[str], *, command: str = "esup access add-department --store"
) -> list[str]:
    """For systems run here (the simulated province): each department's ingestion topic, principal, ACLs and
    stored credentials, in one admin session; a department with stored credentials keeps its password.
    Returns the departments made new. On a PLAINTEXT cluster only the topics are made."""
    specs = [ingest_topic_spec(s, d) for d in department_ids]
    if s.kafka_security_protocol == "PLAINTEXT":
        with admin_client(s.kafka_bootstrap) as admin:
            ensure_topics(admin, specs)
        return []
    created = []
    with session(s, command) as x:
        ensure_topics(x.admin, specs)
        for department_id in department_ids:
            principal = ka.department_principal(department_id)
            password = _stored_password(s, principal)
            if password is None:
                password = kad.new_password()
                ka.write_credentials(s, principal, password)
                created.append(department_id)
            kad.set_password(x.admin, principal, password)
        kad.create_acls(x.admin, [g for d in department_ids for g in department_grants(s, d)])
        x.audit.record(
            "access.ensure-departments", {"departments": len(department_ids), "new": created, "stored": True}
        )
    return created


def remove_department(s: Settings, department_id: str, *, command: str = "esup access remove-department") -> int:
    """Delete the department's user and ACLs (its topic and what it wrote stay: evidence)."""
    principal = ka.department_principal(department_id)
    with session(s, command) as x:
        kad.delete_user(x.admin, principal)
        gone = kad.delete_acls_of(x.admin, principal)
        ka.credentials_path(s, principal).unlink(missing_ok=True)
        x.audit.record(
            "access.remove-department", {"department_id": department_id, "principal": principal, "acls_deleted": gone}
        )
    return gone


def rotate(s: Settings, principal: str, *, command: str = "esup access rotate") -> tuple[str, Path | None]:
    """A new password; stored when the principal's password is stored (platform services), else only returned."""
    if principal in (ka.ADMIN, "broker"):
        raise ValueError(f"{principal}'s password is set when the storage is formatted; rotate it there")
    password = kad.new_password()
    keep = principal in SERVICES or ka.credentials_path(s, principal).is_file()
    with session(s, command) as x:
        kad.set_password(x.admin, principal, password)
        stored = ka.write_credentials(s, principal, password) if keep else None
        x.audit.record("access.rotate", {"principal": principal, "stored": stored is not None})
    return password, stored


def listing(s: Settings) -> tuple[list[str], list[Grant]]:
    """The cluster's SCRAM users and ACLs, as the admin sees them."""
    with admin_client(s.kafka_bootstrap, auth=ka.kafka_python_auth(s, ka.ADMIN)) as admin:
        return kad.users(admin), kad.describe_acls(admin)
