"""Complainants' personal data under the PIPL: normalised phone, salted HMAC hash, AES-GCM seal by key id, redaction."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from esup.settings import Settings

MAX_SEALED = 4096  # the contract's bound on a sealed contact (base64url characters)
_AAD = b"esup.complainant.v1"
_NONCE = 12


class PiiError(ValueError):
    """A phone or ID number that is not one, or a sealed contact that cannot be opened (tampered, unknown key)."""


class KeyFileError(RuntimeError):
    """The key file is readable by others, or is not a key file."""


_SEPARATORS = re.compile(r"[\s\-().\u3000（）－]")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{9,11}$")  # area code with its 0, then 7-8 digits


def normalise_phone(raw: str) -> str:
    """'+86 138-1234-5678' → '13812345678'; a landline keeps its area code ('028 8765 4321' → '02887654321')."""
    s = _SEPARATORS.sub("", raw.strip())
    for prefix in ("+86", "0086"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
    if s.startswith("86") and MOBILE.match(s[2:]):
        s = s[2:]
    if MOBILE.match(s) or LANDLINE.match(s):
        return s
    raise PiiError("phone: expected a mainland mobile (11 digits from 1) or a landline with its area code")


_ID = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def normalise_id_number(raw: str) -> str:
    """An 18-character resident identity number with a valid check character (GB 11643-1999)."""
    s = raw.strip().upper()
    if not _ID.match(s) or _CHECK[sum(int(c) * w for c, w in zip(s, _WEIGHTS, strict=False)) % 11] != s[17]:
        raise PiiError("id_number: expected an 18-character resident identity number with a valid check digit")
    return s


@dataclass(frozen=True)
class Contact:
    """A complainant in clear: only ever in memory, between the form and the seal (or the supervisor's page)."""

    name: str
    phone: str
    id_number: str | None = None

    def __repr__(self) -> str:  # a stray log of the object shows no personal data
        return f"Contact(phone={mask_phone(self.phone)})"


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Keyring:
    """The salt and the AES-256 keys, by id, in one 0600 JSON file; sealing uses the current key, opening any."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            if not self.path.exists():
                self._create()
            st = self.path.stat()
            if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise KeyFileError(f"{self.path} is readable by others (mode {oct(st.st_mode & 0o777)}): chmod 600")
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data["current"] not in data["keys"]:
                    raise KeyError(f"current key {data['current']!r}")
                _unb64(data["salt"])
            except (ValueError, KeyError, TypeError) as exc:
                raise KeyFileError(f"{self.path}: not a complaints key file ({exc})") from None
            self._data = data
        return self._data

    def _write(self, data: dict[str, Any], *, exclusive: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1)
        if exclusive:
            with contextlib.suppress(FileExistsError):  # two processes at once: the first file wins
                os.link(tmp, self.path)
            os.unlink(tmp)
        else:
            os.replace(tmp, self.path)

    def _create(self) -> None:
        key_id = _new_key_id()
        self._write(
            {
                "salt": _b64(secrets.token_bytes(32)),
                "current": key_id,
                "keys": {key_id: _b64(AESGCM.generate_key(bit_length=256))},
            },
            exclusive=True,
        )

    @property
    def current(self) -> str:
        """The id of the key that seals from now on."""
        return str(self._load()["current"])

    def key(self, key_id: str) -> bytes:
        """The key with this id; PiiError when the key file has none."""
        try:
            return _unb64(self._load()["keys"][key_id])
        except KeyError:
            raise PiiError(f"key_id: no key {key_id!r} in {self.path.name}") from None

    def rotate(self) -> str:
        """A new current key; the old ones stay, so what they sealed still opens. The salt never changes."""
        lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._data = None
            data = dict(self._load())
            key_id = _new_key_id()
            data["keys"] = {**data["keys"], key_id: _b64(AESGCM.generate_key(bit_length=256))}
            data["current"] = key_id
            self._write(data, exclusive=False)
            self._data = data
        finally:
            os.close(lock)
        return key_id

    def contact_hash(self, phone: str) -> str:
        """HMAC-SHA256 of the normalised phone under the platform salt: repeat complainants match; not reversible."""
        salt = _unb64(self._load()["salt"])
        return hmac.new(salt, normalise_phone(phone).encode(), hashlib.sha256).hexdigest()

    def seal(self, contact: Contact) -> dict[str, str]:
        """{contact_hash, sealed, key_id}: the contract's SealedContact; the hash is bound to the ciphertext."""
        key_id, digest = self.current, self.contact_hash(contact.phone)
        clear = {"name": contact.name, "phone": contact.phone, "id_number": contact.id_number}
        nonce = secrets.token_bytes(_NONCE)
        box = AESGCM(self.key(key_id)).encrypt(
            nonce, json.dumps(clear, ensure_ascii=False).encode(), _aad(key_id, digest)
        )
        sealed = _b64(nonce + box)
        if len(sealed) > MAX_SEALED:
            raise PiiError("name: too long to seal")
        return {"contact_hash": digest, "sealed": sealed, "key_id": key_id}

    def open(self, contact_hash: str, sealed: str, key_id: str) -> Contact:
        """The contact in clear, or PiiError when the key is unknown or anything was altered."""
        key = self.key(key_id)
        try:
            raw = _unb64(sealed)
            clear = json.loads(AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], _aad(key_id, contact_hash)))
            return Contact(str(clear["name"]), str(clear["phone"]), clear.get("id_number"))
        except (InvalidTag, ValueError, KeyError, TypeError):
            raise PiiError("sealed: cannot be opened (altered, or sealed under another key)") from None


def _aad(key_id: str, contact_hash: str) -> bytes:
    return b"|".join((_AAD, key_id.encode(), contact_hash.encode()))


def _new_key_id() -> str:
    return "k" + secrets.token_hex(4)


def keyring(settings: Settings) -> Keyring:
    """The complaints keyring of this installation: <ESUP_HOME>/credentials/complaints/pii-keys.json."""
    return Keyring(settings.home / "credentials" / "complaints" / "pii-keys.json")


def mask_name(name: str) -> str:
    """A name masked for lists: its first character, then stars."""
    return (name[:1] + "*" * max(1, len(name) - 1)) if name else ""


def mask_phone(phone: str) -> str:
    """A phone masked for lists: the first 3 and last 4 digits kept (all starred when shorter than 8)."""
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) >= 8 else "*" * len(phone)


def mask_id(id_number: str | None) -> str:
    """An ID number masked for lists: its first and last characters around 16 stars; "" when there is none."""
    return "" if not id_number else id_number[:1] + "*" * 16 + id_number[-1:]


# What looks like a phone or an identity number in free text (log lines, a complaint's own wording).
_PII_TEXT = re.compile(
    r"(?<!\d)(?:\+?86[\s-]?)?"
    r"(?:1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}|\d{17}[\dXx]|0\d{2,3}-?\d{7,8})(?!\d)"
)


def redact(text: str) -> str:
    """Phone and identity numbers in free text replaced by a marker."""
    return _PII_TEXT.sub("[已隐去]", text)


class RedactingFilter(logging.Filter):
    """A logging filter: the formatted message, with phones and ID numbers replaced, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record's message in place; always lets it through."""
        _scrub(record)
        return True


def _scrub(record: logging.LogRecord) -> None:
    message = record.getMessage()
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None


_installed = False


def install_log_redaction() -> None:
    """Every log record of the process scrubbed when it is made (a record factory: no handler can miss it)."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def scrubbed(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _scrub(record)
        return record

    logging.setLogRecordFactory(scrubbed)
    _installed = True
