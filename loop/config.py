"""The loop's settings (esup/config/loop.yaml): response and report periods in working days, accountability measures."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from esup.resources import packaged
from schemas.findings import Severity
from schemas.yamlfile import YamlFileError, load_mapping

DEFAULT_LOOP = packaged("esup", "config", "loop.yaml")
M = TypeVar("M", bound=BaseModel)


class Measure(BaseModel):
    """An accountability measure a supervisor may decide: a code, and its Chinese label."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)


class LoopConfig(BaseModel):
    """The loop's settings: response periods by severity, the recommendation report period (working days), measures."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = "loop-default-1"
    response_wd: dict[Severity, int] = Field(default_factory=lambda: {Severity.yellow: 3, Severity.red: 1})
    recommendation_wd: int = Field(default=10, ge=1, le=60)
    measures: tuple[Measure, ...] = Field(
        default=(
            Measure(code="reminder_talk", label="提醒谈话"),
            Measure(code="efficiency_warning", label="效能告诫"),
            Measure(code="public_criticism", label="通报批评"),
            Measure(code="admonishing_talk", label="诫勉谈话"),
        ),
        min_length=1,
    )

    @model_validator(mode="after")
    def _check(self) -> LoopConfig:
        if any(not 1 <= n <= 60 for n in self.response_wd.values()):
            raise ValueError("response_wd: each period must be 1-60 working days")
        if len({m.code for m in self.measures}) != len(self.measures):
            raise ValueError("measures: codes must differ")
        return self

    def measure_label(self, code: str) -> str | None:
        """The label of a configured measure, or None for an unknown code."""
        return next((m.label for m in self.measures if m.code == code), None)


class LoopConfigError(ValueError):
    """The loop configuration file cannot be read or is invalid; the message names the file and each field."""

    pass


def load_section(path: str | Path, key: str, model: type[M], error: type[ValueError]) -> M:
    """The ``key:`` section of a YAML file (or the whole file) as ``model``; ``error`` names the file and field."""
    where = Path(path)
    try:
        data = load_mapping(where)
        return model.model_validate(data.get(key, data))
    except YamlFileError as exc:
        raise error(str(exc)) from None
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '<model>'}: {e['msg']}" for e in errors]
        raise error(f"{where}: " + "; ".join(lines)) from None


def load_loop_config(path: str | Path | None = None) -> LoopConfig:
    """The loop settings from a YAML file (esup/config/loop.yaml by default), under a `loop:` key or at the top."""
    return load_section(path if path is not None else DEFAULT_LOOP, "loop", LoopConfig, LoopConfigError)
