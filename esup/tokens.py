"""Bearer tokens (the gateway's departments, the intake's hotlines): shown once, only argon2id hashes kept (0600)."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from esup.topics import INGEST_ID

if TYPE_CHECKING:
    from esup.settings import Settings

PREFIX = "esgw"
# A token is 256 random bits, so no one guesses it: the hash guards a leaked file, not a weak secret,
# and light argon2 parameters (a few ms per check) keep every request's verification cheap.
HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
# Checked against when the token id is unknown or revoked, so a miss costs what a hit costs.
_DUMMY = HASHER.hash("esgw.000000000000.unknown")


class TokenFileError(RuntimeError):
    """The tokens file is readable by others, or not a tokens file."""


@dataclass(frozen=True)
class TokenRecord:
    """One gateway token as stored: its id, department, argon2id hash, and when it was created and revoked."""

    token_id: str
    department_id: str
    hash: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        """Whether the token is not revoked."""
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        """The record without its hash, for listings."""
        return {
            "token_id": self.token_id,
            "department_id": self.department_id,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


class TokenStore:
    """The tokens file; re-read when it changes, so `esup gateway token revoke` takes effect without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._records: dict[str, TokenRecord] = {}

    def records(self) -> dict[str, TokenRecord]:
        """The file's tokens by id; re-read when the file changed, refused when group or others may read it."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._seen, self._records = None, {}
            return {}
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise TokenFileError(f"{self.path} is readable by others (mode {oct(st.st_mode & 0o777)}): chmod 600 it")
        seen = (st.st_mtime_ns, st.st_size)
        if seen != self._seen:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._records = {r["token_id"]: TokenRecord(**r) for r in data["tokens"]}
            except (ValueError, KeyError, TypeError) as exc:
                raise TokenFileError(f"{self.path}: not a gateway tokens file ({exc})") from None
            self._seen = seen
        return self._records

    def verify(self, token: str) -> TokenRecord | None:
        """The active record the token belongs to, or None; argon2 compares in constant time."""
        parts = token.split(".")
        record = self.records().get(parts[1]) if len(parts) == 3 and parts[0] == PREFIX else None
        try:
            HASHER.verify(record.hash if record is not None else _DUMMY, token)
        except (VerificationError, InvalidHashError):
            return None
        return record if record is not None and record.active else None

    @contextmanager
    def _editing(self) -> Iterator[dict[str, TokenRecord]]:
        """Read, change and rewrite the file under an exclusive lock; the file is created 0600, never widened."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            records = dict(self.records())
            yield records
            tmp = self.path.with_name(self.path.name + ".tmp")
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(out, "w", encoding="utf-8") as fh:
                json.dump({"tokens": [vars(r) for r in records.values()]}, fh, indent=1)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        finally:
            os.close(fd)

    def add(self, department_id: str) -> tuple[TokenRecord, str]:
        """A new token for a department: the record kept, and the token itself (shown once, never stored)."""
        if not INGEST_ID.match(department_id):
            raise ValueError(f"department id {department_id!r}: letters, digits, '_' and '-' only")
        token_id = secrets.token_hex(6)
        token = f"{PREFIX}.{token_id}.{secrets.token_urlsafe(32)}"
        record = TokenRecord(token_id, department_id, HASHER.hash(token), _now())
        with self._editing() as records:
            records[token_id] = record
        return record, token

    def revoke(self, *, token_id: str | None = None, department_id: str | None = None) -> list[TokenRecord]:
        """Revoke one token, or every active token of a department; returns what was revoked."""
        done = []
        with self._editing() as records:
            for r in list(records.values()):
                if r.active and (r.token_id == token_id or r.department_id == department_id):
                    records[r.token_id] = TokenRecord(r.token_id, r.department_id, r.hash, r.created_at, _now())
                    done.append(records[r.token_id])
        return done


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def store(settings: Settings) -> TokenStore:
    """The token store at the configured tokens file."""
    return TokenStore(settings.gateway_tokens_file)


def issue(settings: Settings, department_id: str) -> str:
    """A new HTTP token for a department (for `esup access add-department`): print it once, it is not kept."""
    return add_audited(settings, store(settings), department_id, command="esup access add-department")[1]


def add_audited(
    settings: Settings, tokens: TokenStore, owner: str, *, command: str, kind: str = "gateway"
) -> tuple[TokenRecord, str]:
    """A new token for ``owner`` (a department, or a hotline system with ``kind`` "hotline"), recorded on the
    audit topic (esup/access/audit.py); when the record cannot be made the token is revoked again and the
    error raised: no credential exists unaudited."""
    from esup.access.audit import record_change

    record, secret = tokens.add(owner)
    try:
        record_change(settings, command, f"{kind}.token-add", {"owner": owner, "token_id": record.token_id})
    except Exception:
        tokens.revoke(token_id=record.token_id)
        raise
    return record, secret


def revoke_audited(
    settings: Settings,
    tokens: TokenStore,
    *,
    token_id: str | None = None,
    department_id: str | None = None,
    command: str,
    kind: str = "gateway",
) -> list[TokenRecord]:
    """Revoke tokens and record it on the audit topic (the revocation stands even if the record fails, which
    then raises)."""
    from esup.access.audit import record_change

    done = tokens.revoke(token_id=token_id, department_id=department_id)
    if done:
        detail = {"token_ids": [r.token_id for r in done], "owners": sorted({r.department_id for r in done})}
        record_change(settings, command, f"{kind}.token-revoke", detail)
    return done
