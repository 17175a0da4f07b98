"""Rule thresholds (warning share, follow-up period, back-dating limit…), loaded from YAML with defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.findings import Severity
from schemas.yamlfile import YamlFileError, load_mapping


class RuleConfig(BaseModel):
    """The rules' thresholds, each with a default a deployment may change in the ``rules`` section of its YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notice_share: float = Field(
        default=0.75, gt=0, lt=1, description="share of the allowed working days used that raises a notice"
    )
    follow_up_wd: int = Field(
        default=5, ge=1, le=60, description="working days after a breach with the case still open → red card"
    )
    backdating_hours: float = Field(
        default=24.0, gt=0, description="recorded_at later than occurred_at by more than this → back-dated"
    )
    future_tolerance_minutes: float = Field(
        default=10.0, ge=0, description="occurred_at later than recorded_at by more than this → clock error"
    )
    batch_min_events: int = Field(
        default=3, ge=2, le=16, description="this many back-dated events of one case recorded together → batch entry"
    )
    batch_window_minutes: float = Field(
        default=60.0, gt=0, description="back-dated events recorded within this window count as one batch"
    )
    suspension_share: float = Field(
        default=1.0, gt=0, description="suspended working days above this share of the decision period → review"
    )
    reapply_window_wd: int = Field(
        default=10,
        ge=0,
        le=60,
        description="a withdrawal and a new application of the same applicant and item within this many working "
        "days → review (DQ_WITHDRAW_REAPPLY; a heuristic, the law sets no window)",
    )
    severity_overrides: dict[str, Severity] = Field(
        default_factory=dict, description="rule code → severity, to tighten or relax a rule's default"
    )


class ConfigError(ValueError):
    """A rule configuration file that does not validate; the message names the file and each bad field."""

    pass


def load_rule_config(path: str | Path | None) -> RuleConfig:
    """The thresholds from a YAML file (its ``rules`` section, or the whole file); defaults when ``path`` is None."""
    if path is None:
        return RuleConfig()
    try:
        data = load_mapping(path)
    except YamlFileError as exc:
        raise ConfigError(str(exc)) from None
    return rule_config_from_mapping(data, str(path))


def rule_config_from_mapping(data: dict[str, Any], path: str) -> RuleConfig:
    """The thresholds in a YAML document already read (its ``rules`` section, or the whole); ``path`` names it."""
    try:
        return RuleConfig.model_validate(data.get("rules", data))
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise ConfigError(f"{path}: " + "; ".join(lines)) from None
