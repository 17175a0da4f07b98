"""Users, argon2 password hashes and signed bearer tokens; who may see and answer which finding.

Tokens are HMAC-SHA256-signed (user, expiry) pairs: the API is stateless and a token check is one hash. To
take users from an OIDC provider instead, replace :meth:`Authenticator.verify` with a JWT check that maps the
provider's claims to the same :class:`Principal` (role, department or region); the endpoints do not change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.findings import Finding
from schemas.yamlfile import load_mapping
from streams.rules.calendar import TZ


class Role(StrEnum):
    """What a user is: a licensing department's user or a supervision bureau's."""

    department = "department"  # a licensing department's user: sees and answers its own findings
    supervisor = "supervisor"  # a supervision bureau's user: sees and decides the findings of its region


class User(BaseModel):
    """One API user from the users file: name, argon2id password hash, role and scope (department or region)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    password_hash: str = Field(description="argon2id hash (esup api hash-password)")
    role: Role
    department_id: str | None = None
    region_code: str | None = Field(default=None, pattern=r"^\d{6}$")

    @model_validator(mode="after")
    def _scope(self) -> User:
        if self.role == Role.department and not self.department_id:
            raise ValueError("a department user needs department_id")
        if self.role == Role.supervisor and not self.region_code:
            raise ValueError("a supervisor needs region_code")
        return self


class Principal(BaseModel):
    """The user behind a verified token: role and scope."""

    model_config = ConfigDict(frozen=True)

    username: str
    role: Role
    department_id: str | None = None
    region_code: str | None = None

    def region_prefix(self) -> str:
        """510000 → '51' (province), 511700 → '5117' (city), 511702 → itself (county)."""
        code = self.region_code or ""
        return code[:2] if code.endswith("0000") else code[:4] if code.endswith("00") else code

    def may_see(self, f: Finding) -> bool:
        """Whether the finding is in the principal's scope: its department's, or within its region."""
        if self.role == Role.department:
            return f.department_id == self.department_id
        return f.region_code.startswith(self.region_prefix())


HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash of a password, for the users file."""
    return HASHER.hash(password)


def load_users(path: str | Path) -> dict[str, User]:
    """The users of a YAML users file, by user name."""
    data = load_mapping(path)  # bounded: size, nesting, aliases
    users = [User.model_validate(u) for u in data.get("users", [])]
    return {u.username: u for u in users}


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Authenticator:
    """Password login and HMAC-signed, expiring bearer tokens for the users of the users file."""

    def __init__(self, users: dict[str, User], secret: bytes, ttl_s: int = 3600) -> None:
        if len(secret) < 16:
            raise ValueError("the token secret needs at least 16 bytes")
        self.users, self.secret, self.ttl_s = users, secret, ttl_s
        # Checking a password for an unknown user costs the same as for a known one (no user enumeration).
        self._dummy = HASHER.hash("not a password")

    def login(self, username: str, password: str, now: datetime) -> str | None:
        """A token for the user when the password is right, else None (same cost for an unknown user)."""
        user = self.users.get(username)
        try:
            HASHER.verify(user.password_hash if user else self._dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None:
            return None
        body = _b64(
            json.dumps(
                {"sub": username, "exp": int((now + timedelta(seconds=self.ttl_s)).timestamp())}, separators=(",", ":")
            ).encode()
        )
        return f"v1.{body}.{_b64(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())}"

    def verify(self, token: str, now: datetime) -> Principal | None:
        """The principal of a token with a valid signature, not expired, of a user still in the file; else None."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "v1":
            return None
        want = _b64(hmac.new(self.secret, parts[1].encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want, parts[2]):
            return None
        try:
            claims = json.loads(_unb64(parts[1]))
            user = self.users.get(str(claims["sub"]))
            expired = int(claims["exp"]) <= now.timestamp()
        except (ValueError, KeyError, TypeError):
            return None
        if user is None or expired:
            return None
        return Principal(
            username=user.username, role=user.role, department_id=user.department_id, region_code=user.region_code
        )


def now() -> datetime:
    """The current time in Asia/Shanghai."""
    return datetime.now(TZ)
