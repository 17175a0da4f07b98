"""The API's users for a simulated province: one per department and one supervisor per bureau, made once.

`esup services up` serves the API with them: ``users.yaml`` holds argon2id hashes only; the passwords go to
``passwords.json`` beside it, created 0600 (like every credential file of the platform), for the operator and
for clients of the simulated departments. Neither file is rewritten once it exists.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import yaml
from argon2 import PasswordHasher

from directory.model import load_directory

# The passwords are random (144 bits), so the hash's cost protects nothing a guess could reach; a light
# argon2id keeps `services up` from spending minutes on 150 users (Authenticator verifies any parameters).
_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def ensure_users(home: Path, directory_file: Path) -> Path:
    """``<home>/api/users.yaml`` for the directory's departments and bureaus (made if missing); its path."""
    users_file = home / "api" / "users.yaml"
    if users_file.exists():
        return users_file
    users_file.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(users_file.parent, 0o700)
    d = load_directory(directory_file)
    who = [(f"u-{x.id}", {"role": "department", "department_id": x.id}) for x in d.departments]
    who += [(f"jc-{b.region_code}", {"role": "supervisor", "region_code": b.region_code}) for b in d.bureaus]
    passwords = {name: secrets.token_urlsafe(18) for name, _ in who}
    _write_private(users_file.with_name("passwords.json"), json.dumps(passwords, indent=1) + "\n")
    users = [{"username": name, "password_hash": _HASHER.hash(passwords[name]), **scope} for name, scope in who]
    _write_private(users_file, yaml.safe_dump({"users": users}, allow_unicode=True))
    return users_file
