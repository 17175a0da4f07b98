"""Signed tokens for the public form: proof that a POST follows a GET of our page, and its idempotency key.

The form has no session and no log-in, so there is no ambient authority for a cross-site request to abuse; the
token still keeps other sites from posting complaints through visitors' browsers (spreading one sender over many
sources past the per-source limit), bounds how long a page may be kept open, and names the submission: pressing
"submit" twice, or a retry after a lost answer, gives the same receipt number instead of a second complaint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict

MAX_AGE_S = 2 * 3600
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U to misread over the phone


def _sig(secret: bytes, body: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:18]).decode()


def issue(secret: bytes, now_s: float) -> str:
    """A new signed form token: the issue time, a random nonce, the signature."""
    body = f"{int(now_s)}.{secrets.token_urlsafe(12)}"
    return f"{body}.{_sig(secret, body)}"


def check(secret: bytes, token: str, now_s: float, max_age_s: int = MAX_AGE_S) -> tuple[str, int] | None:
    """(nonce, issued at) when the token is ours and fresh, else None (compared in constant time)."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 200 or not parts[0].isdigit():
        return None
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sig(secret, body), parts[2]):
        return None
    age = now_s - int(parts[0])
    return (parts[1], int(parts[0])) if -60 <= age <= max_age_s else None


def receipt_number(secret: bytes, prefix: str, key: str) -> str:
    """A complaint id a citizen can read out: the prefix (e.g. 'TS20261202-') and 12 base32 characters (60 bits,
    unguessable); the same key always gives the same id, so a retried submission is the same complaint."""
    n = int.from_bytes(hmac.new(secret, f"{prefix}\x1f{key}".encode(), hashlib.sha256).digest()[:8], "big")
    return prefix + "".join(_ALPHABET[(n >> (5 * i)) & 31] for i in range(12))


class Seen:
    """Recent nonces and the receipt each produced, bounded: a resubmitted form gets its first answer again."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._done: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, nonce: str) -> str | None:
        """The receipt number already given for this nonce, or None."""
        with self._lock:
            return self._done.get(nonce)

    def put(self, nonce: str, complaint_id: str) -> None:
        """Remember the receipt number of this nonce, forgetting the oldest beyond ``size``."""
        with self._lock:
            self._done[nonce] = complaint_id
            while len(self._done) > self.size:
                self._done.popitem(last=False)
