"""Messages the platform writes to itself and to operators: dead letters and clock ticks."""

from __future__ import annotations

import base64

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class DeadLetter(BaseModel):
    """An input message that is not a valid case event, kept whole with the reason (nothing is lost)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    key_b64: str | None = Field(description="the message key, base64")
    value_b64: str = Field(description="the raw message bytes, base64")
    failed_at: AwareDatetime

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
        return cls(
            reason=reason,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            key_b64=base64.b64encode(key).decode() if key is not None else None,
            value_b64=base64.b64encode(value or b"").decode(),
            failed_at=failed_at,
        )

    def raw(self) -> bytes:
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
