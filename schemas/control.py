"""Messages the platform writes to itself and to operators: dead letters and clock ticks."""

from __future__ import annotations

import base64
import hashlib

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.wire import WireError, read_model

# A dead letter must fit in one Kafka record (1 MB by default) whatever it carries: past these bounds the
# raw bytes keep a prefix, and value_length with value_sha256 still identify the whole.
MAX_KEPT_VALUE_BYTES = 64 * 1024
MAX_KEPT_KEY_BYTES = 1024
MAX_REASON_CHARS = 2000


def _cut(reason: str) -> str:
    # backslashreplace: a reason quoting a lone surrogate must still encode as UTF-8
    reason = reason.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    return f"{reason[:MAX_REASON_CHARS]}… ({len(reason) - MAX_REASON_CHARS} more characters)"


class DeadLetter(BaseModel):
    """An input message that is not a valid case event, kept with the reason (whole up to 64 KiB)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    key_b64: str | None = Field(description="the message key, base64 (its first 1 KiB)")
    value_b64: str = Field(description="the raw message bytes, base64 (the first 64 KiB)")
    failed_at: AwareDatetime
    value_length: int | None = Field(default=None, description="length of the whole raw message, in bytes")
    value_sha256: str | None = Field(default=None, description="SHA-256 of the whole raw message, hex")
    truncated: bool = Field(default=False, description="the key or value kept is only a prefix")

    @classmethod
    def of(
        cls,
        *,
        reason: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        failed_at: AwareDatetime,
    ) -> DeadLetter:
        """A dead letter for a failed message, keeping a prefix of an oversized key or value."""
        value = value or b""
        truncated = len(value) > MAX_KEPT_VALUE_BYTES or (key is not None and len(key) > MAX_KEPT_KEY_BYTES)
        return cls(
            reason=_cut(reason),
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            key_b64=base64.b64encode(key[:MAX_KEPT_KEY_BYTES]).decode() if key is not None else None,
            value_b64=base64.b64encode(value[:MAX_KEPT_VALUE_BYTES]).decode(),
            failed_at=failed_at,
            value_length=len(value),
            value_sha256=hashlib.sha256(value).hexdigest(),
            truncated=truncated,
        )

    def raw(self) -> bytes:
        """The raw bytes kept: the whole message, or its first 64 KiB when ``truncated``."""
        return base64.b64decode(self.value_b64)


class Tick(BaseModel):
    """Advance the timers of every case on one partition to ``now`` (wall time, or a replay's event time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = "tick"
    partition: int = Field(ge=0)
    now: AwareDatetime
    # Ahead of a deadline: compute what the timers due by ``now`` will raise, publish nothing yet (the tick
    # at ``now`` publishes it if the case has not changed in between).
    arm: bool = False


class TickError(WireError):
    """A tick message that cannot be read."""


def parse_tick(raw: bytes | bytearray | str | None) -> Tick:
    """A tick from the wire; raises :class:`TickError` only (fields a newer writer added are ignored)."""
    try:
        return read_model(Tick, raw or b"", what="<tick>", max_bytes=4096)
    except WireError as exc:
        raise TickError(exc.reason, fields=exc.fields) from None


def read_dead_letter(raw: bytes | bytearray | str | None) -> DeadLetter:
    """A dead letter as the sink reads it: forward compatible, raises :class:`WireError` only."""
    letter = read_model(DeadLetter, raw or b"", what="<dead letter>", max_bytes=4 << 20)
    for name, text in (("value_b64", letter.value_b64), ("key_b64", letter.key_b64)):
        try:
            base64.b64decode(text or "", validate=True)
        except ValueError:
            raise WireError(f"{name}: not base64", fields=(name,)) from None
    return letter
