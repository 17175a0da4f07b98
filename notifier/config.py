"""The notifier's configuration (esup/config/notifier.yaml): routing per card, quiet hours, retries and channels."""

from __future__ import annotations

import os
import stat
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from esup.resources import packaged
from schemas.findings import Severity
from schemas.yamlfile import YamlFileError, load_yaml

ChannelName = Literal["email", "webhook", "sms"]
Reason = Literal["responsible", "head", "bureau"]
DEFAULT_FILE = packaged("esup", "config", "notifier.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuietHours(_Strict):
    """No sending on `channel` from `start` to `end` (local time; may wrap midnight) except for these cards."""

    channel: ChannelName
    start: time
    end: time
    except_severities: list[Severity] = Field(default_factory=lambda: [Severity.red])


class Retry(_Strict):
    """Backoff after a channel fails: the first wait and the longest, in seconds; the wait doubles in between."""

    initial_s: float = Field(default=1.0, gt=0)
    max_s: float = Field(default=300.0, gt=0)


class Email(_Strict):
    """The email channel's SMTP server, sender and login; the password is ESUP_NOTIFIER_SMTP_PASSWORD."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8025, ge=1, le=65535)
    sender: str = "esup-notifier@sc-gov.example"
    starttls: bool = False
    user: str = ""  # the password is ESUP_NOTIFIER_SMTP_PASSWORD
    timeout_s: float = Field(default=10.0, gt=0)


class Webhook(_Strict):
    """The webhook's URL and its HMAC key (``secret_file``, else ESUP_NOTIFIER_WEBHOOK_SECRET)."""

    enabled: bool = True
    url: str = "http://127.0.0.1:8026/webhook"
    # A file holding the HMAC key, readable by its owner only (0600); else ESUP_NOTIFIER_WEBHOOK_SECRET.
    secret_file: Path | None = None
    timeout_s: float = Field(default=5.0, gt=0)


class Sms(_Strict):
    """The SMS gateway's URL and timeout."""

    enabled: bool = True
    url: str = "http://127.0.0.1:8026/sms"
    timeout_s: float = Field(default=5.0, gt=0)


class Channels(_Strict):
    """The settings of the three channels; a disabled channel is dropped from every route."""

    email: Email = Email()
    webhook: Webhook = Webhook()
    sms: Sms = Sms()

    def enabled(self) -> set[str]:
        """The names of the channels switched on."""
        return {n for n, c in (("email", self.email), ("webhook", self.webhook), ("sms", self.sms)) if c.enabled}


class NotifierConfig(_Strict):
    """The notifier's configuration: who hears of each card on which channels, quiet hours, retries and channels."""

    timezone: str = "Asia/Shanghai"
    # card → who → channels. The responsible staff always; a yellow also the head; a red also the bureau.
    routes: dict[Severity, dict[Reason, list[ChannelName]]] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]
            Severity.notice: {"responsible": ["email", "webhook"]},
            Severity.yellow: {"responsible": ["email", "webhook", "sms"], "head": ["email", "webhook", "sms"]},
            Severity.red: {
                "responsible": ["email", "webhook", "sms"],
                "head": ["email", "webhook", "sms"],
                "bureau": ["email", "webhook", "sms"],
            },
        }
    )
    # Red cards and deemed acceptances/approvals (TIME_*DEEMED*) are the head's to answer for, whatever the route.
    head_for_red_and_deemed: bool = True
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    retry: Retry = Retry()
    channels: Channels = Channels()

    @model_validator(mode="after")
    def _zone(self) -> NotifierConfig:
        from zoneinfo import ZoneInfo

        ZoneInfo(self.timezone)  # raises for an unknown zone
        return self


class NotifierConfigError(ValueError):
    """A notifier configuration that cannot be used; the message names the file and the field."""

    pass


def load_config(path: Path | None = None) -> NotifierConfig:
    """config/notifier.yaml (or `path`): a mapping with a top-level `notifier` key."""
    source = path or DEFAULT_FILE
    try:
        data: Any = load_yaml(source) if source.exists() else {}
    except YamlFileError as exc:
        raise NotifierConfigError(str(exc)) from None
    if not isinstance(data, dict):
        raise NotifierConfigError(f"{source}: expected a mapping with 'notifier'")
    try:
        return NotifierConfig.model_validate(data.get("notifier") or {})
    except (ValidationError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
            raise NotifierConfigError(f"{source}: " + "; ".join(lines)) from None
        raise NotifierConfigError(f"{source}: {exc}") from None


def read_secret_file(path: Path) -> bytes:
    """The key in `path`, refused when group or others may read it (it signs what departments act on)."""
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NotifierConfigError(f"{path}: mode {stat.S_IMODE(mode):04o}; the webhook key must be 0600")
    key = path.read_bytes().strip()
    if not key:
        raise NotifierConfigError(f"{path} is empty")
    return key
