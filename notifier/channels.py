"""The channels behind one small interface: email over SMTP, a signed JSON webhook, an SMS gateway over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Protocol

from notifier.config import Email, Sms, Webhook
from notifier.routing import Delivery

SIGNATURE_HEADER = "X-Esup-Signature"
TIMESTAMP_HEADER = "X-Esup-Timestamp"
DELIVERY_HEADER = "X-Esup-Delivery"  # the idempotency key: receivers drop a delivery they have already seen


class ChannelError(RuntimeError):
    """The message did not go out (server down, refused, timed out); it will be retried."""


class Channel(Protocol):
    """What the notifier sends through: anything whose ``send`` hands a delivery over or raises ChannelError."""

    def send(self, d: Delivery) -> None:
        """Hand the message over, or raise ChannelError."""


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>": the timestamp is signed too, so an old request cannot be replayed."""
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(
    key: bytes, timestamp: str, signature: str, body: bytes, *, now: float | None = None, tolerance_s: float = 300.0
) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(key, timestamp, body), signature)


class EmailChannel:
    """Email over SMTP (optionally STARTTLS and a login), one message per delivery."""

    def __init__(self, cfg: Email, password: str = "") -> None:
        self.cfg = cfg
        self.password = password

    def message(self, d: Delivery) -> EmailMessage:
        """The email of a delivery; its Message-ID and X-Esup-Delivery header carry the delivery id."""
        m = EmailMessage()
        m["From"] = self.cfg.sender
        m["To"] = d.address
        m["Subject"] = d.subject
        # The same Message-ID on a resend lets mail systems (and our receiver) recognise a duplicate.
        m["Message-ID"] = f"<{d.delivery_id}@esup.notifier>"
        m[DELIVERY_HEADER] = d.delivery_id
        m.set_content(d.text)
        return m

    def send(self, d: Delivery) -> None:
        """Send the email; ValueError without an address (skipped), ChannelError when SMTP fails (retried)."""
        if not d.address:
            raise ValueError("no email address")
        try:
            with smtplib.SMTP(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout_s) as smtp:
                if self.cfg.starttls:
                    smtp.starttls()
                if self.cfg.user:
                    smtp.login(self.cfg.user, self.password)
                smtp.send_message(self.message(d))
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelError(f"SMTP {self.cfg.host}:{self.cfg.port}: {type(exc).__name__}: {exc}") from exc


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> None:
    if not url.startswith(("https://", "http://")):  # never file: or a custom scheme from a mistyped config
        raise ChannelError(f"POST {url[:80]}: only http(s) URLs are posted to")
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", **headers},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 - scheme checked above
            resp.read()
    except urllib.error.HTTPError as exc:
        raise ChannelError(f"POST {url}: HTTP {exc.code}") from exc
    except (OSError, ValueError) as exc:
        raise ChannelError(f"POST {url}: {type(exc).__name__}: {exc}") from exc


class WebhookChannel:
    """A JSON webhook, signed with HMAC-SHA256 over the timestamp and the body."""

    def __init__(self, cfg: Webhook, key: bytes) -> None:
        if not key:
            raise ValueError("the webhook needs an HMAC key (secret_file or ESUP_NOTIFIER_WEBHOOK_SECRET)")
        self.cfg = cfg
        self.key = key

    def send(self, d: Delivery) -> None:
        """POST the message body with its delivery id, timestamped and signed; ChannelError when the POST fails."""
        body = json.dumps({"delivery_id": d.delivery_id, **d.body}, ensure_ascii=False, sort_keys=True).encode()
        ts = str(int(time.time()))
        _post(
            self.cfg.url,
            body,
            {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(self.key, ts, body), DELIVERY_HEADER: d.delivery_id},
            self.cfg.timeout_s,
        )


class SmsChannel:
    """A generic SMS gateway: POST {to, text, request_id}; request_id lets the gateway drop a resend."""

    def __init__(self, cfg: Sms) -> None:
        self.cfg = cfg

    def send(self, d: Delivery) -> None:
        """POST the subject to the recipient's mobile; ValueError without a number, ChannelError when the POST fails."""
        if not d.address:
            raise ValueError("no mobile number")
        body = json.dumps(
            {"to": d.address, "text": d.subject, "request_id": d.delivery_id}, ensure_ascii=False
        ).encode()
        _post(self.cfg.url, body, {DELIVERY_HEADER: d.delivery_id}, self.cfg.timeout_s)
