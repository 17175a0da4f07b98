"""Which ClickHouse user each process logs in as (admin, sink, service, reader) and where its 0600 password lives."""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from esup.settings import Settings

# Least privilege (docs/clickhouse-versions.md#users): each role is one ClickHouse user.
#   admin   migrations and views (`esup db migrate|views`, `esup stack`); DDL on any database
#   sink    whatever only appends: the Kafka→ClickHouse sink, the loop's messages, the API's audit log,
#           department names (current ClickHouse: INSERT only on esup.*, so none of them can delete or edit)
#   service the two processes that read back a ledger they keep (the notifier's deliveries, the directory
#           sync's present entries): SELECT and INSERT on esup.*, no DDL, no ALTER … DELETE
#   reader  Grafana, rankings, case view, dossier, verify, readiness, the API's reads: readonly=1, esup only
#   scorer  `esup scores refresh` (sinks/scoreboard.py): SELECT on esup.*, and CREATE, INSERT, DROP (the swap)
#           on the scoreboard's own tables only, INSERT into its refresh log; nothing else is writable
Role = Literal["admin", "sink", "service", "reader", "scorer"]
ROLES: tuple[Role, ...] = ("admin", "sink", "service", "reader", "scorer")
USERS: dict[Role, str] = {
    "admin": "esup_admin",
    "sink": "esup_sink",
    "service": "esup_service",
    "reader": "esup_reader",
    "scorer": "esup_scorer",
}


class CredentialError(RuntimeError):
    """A role's password file is unreadable or readable by others."""


def password_path(settings: Settings, role: Role) -> Path:
    """The 0600 file holding a role's ClickHouse password."""
    return settings.clickhouse_credentials_dir / f"{USERS[role]}.password"


def _explicit(settings: Settings) -> bool:
    # A user or password given in the environment (docker-compose, tests' CLICKHOUSE_URL) wins over the files.
    return bool({"clickhouse_user", "clickhouse_password"} & settings.model_fields_set)


def read_password(path: Path) -> str:
    """A password file's content; refuses a file that group or others may read."""
    st = path.stat()
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialError(f"{path} is readable by others (mode {oct(st.st_mode & 0o777)}): chmod 600 it")
    return path.read_text(encoding="utf-8").strip()


def login(settings: Settings, role: Role) -> tuple[str, str]:
    """(user, password) for a role: ESUP_CLICKHOUSE_USER/PASSWORD when given, else the role's password file.

    Without either (a server set up before the roles existed, or one that is not ours) the configured
    user, ``default`` unless set, is used as before.
    """
    if not _explicit(settings):
        path = password_path(settings, role)
        if path.exists():
            return USERS[role], read_password(path)
    return settings.clickhouse_user, settings.clickhouse_password.get_secret_value()


def write_password(settings: Settings, role: Role, password: str) -> Path:
    """Store a role's password owner-readable only (directory 0700, file created 0600)."""
    path = password_path(settings, role)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    return path


def ensure_passwords(settings: Settings) -> dict[Role, str]:
    """Every role's password, generating (and storing) the missing ones; existing ones are kept."""
    out: dict[Role, str] = {}
    for role in ROLES:
        path = password_path(settings, role)
        out[role] = read_password(path) if path.exists() else ""
        if not out[role]:
            out[role] = secrets.token_urlsafe(24)
            write_password(settings, role, out[role])
    return out


def sha256_hex(password: str) -> str:
    """What ClickHouse's ``password_sha256_hex`` (18.16) and ``IDENTIFIED WITH sha256_hash BY`` (current) take."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()
