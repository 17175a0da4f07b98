"""The complaint limits (esup/config/complaints.yaml): working days to dispatch and to reply, extensions, repeats."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from esup.resources import packaged
from loop.config import load_section

DEFAULT_COMPLAINTS = packaged("esup", "config", "complaints.yaml")


class Repeat(BaseModel):
    """The repeat rule's window: ``count`` substantiated complaints against one subject within ``days``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(default=3, ge=2, le=100)
    days: int = Field(default=90, ge=1, le=730)


class ComplaintsConfig(BaseModel):
    """The complaint limits in working days (dispatch 转办, reply, red), extensions, evaluations and repeats."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = "complaints-default-1"
    dispatch_wd: int = Field(default=3, ge=1, le=60)
    handle_wd: int = Field(default=5, ge=1, le=120)
    red_wd: int = Field(default=10, ge=1, le=240)
    max_extensions: int = Field(default=2, ge=0, le=20)
    unsatisfied_red: int = Field(default=2, ge=1, le=20)
    repeat: Repeat = Field(default_factory=Repeat)

    @model_validator(mode="after")
    def _check(self) -> ComplaintsConfig:
        if self.red_wd <= self.handle_wd:
            raise ValueError("red_wd must be longer than handle_wd (red follows yellow)")
        return self


class ComplaintsConfigError(ValueError):
    """The complaints configuration file cannot be read or breaks a limit."""

    pass


def load_complaints_config(path: str | Path | None = None) -> ComplaintsConfig:
    """The complaint limits from ``path`` (default: the packaged esup/config/complaints.yaml)."""
    where = path if path is not None else DEFAULT_COMPLAINTS
    return load_section(where, "complaints", ComplaintsConfig, ComplaintsConfigError)
