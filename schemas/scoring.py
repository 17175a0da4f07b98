"""The performance-scoring model (绩效评估): base, deductions by severity and heading, early-completion bonus."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from esup.resources import packaged
from schemas.findings import Category
from schemas.yamlfile import YamlFileError, load_mapping

# Shipped with the package (esup/config), found the same way in a checkout and an installed wheel.
DEFAULT_SCORING = packaged("esup", "config", "scoring.yaml")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Heading(BaseModel):
    """One heading (考核项目) of the city rule: the finding categories it covers and its weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME.pattern, description="column suffix: deduction_<name>")
    label: str = ""
    cap: float | None = Field(default=None, gt=0, description="the heading's weight: its deductions never exceed it")
    categories: tuple[Category, ...] = Field(min_length=1)


class NoticeRule(BaseModel):
    """Notices (预警) cost `points` for every full `every` of them in one heading and period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: int = Field(default=3, ge=1)
    points: float = Field(default=3.0, ge=0)


class EarlyBonus(BaseModel):
    """`points` per `per_percent` % of finished cases finished early, at most `max_points`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    points: float = Field(default=1.0, ge=0)
    per_percent: int = Field(default=10, ge=1, le=100)
    max_points: float = Field(default=10.0, ge=0)
    min_working_days_left: int = Field(
        default=5,
        ge=0,
        description="early: on time and concluded with at least this many working days of the "
        "statutory decision period left",
    )


class ScoringModel(BaseModel):
    """The scoring model: base and floor, points per card, the notice rule, weighted headings and the early bonus."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    base: float = 100.0
    floor: float = 0.0
    severity_points: dict[str, float] = Field(
        default_factory=lambda: {"yellow": 5.0, "red": 10.0},
        description="points per yellow and red card; notices follow the notice rule",
    )
    notices: NoticeRule = NoticeRule()
    headings: tuple[Heading, ...] = Field(min_length=1)
    early_bonus: EarlyBonus = EarlyBonus()
    finished_outcomes: tuple[str, ...] = ("granted", "refused", "deemed_approved")
    late_category: Category = Field(
        default=Category.time, description="a yellow or red card of this category makes a case late (not on time)"
    )
    deemed_approval_rule: str = "TIME_DEEMED_APPROVAL"
    pending_findings_count: bool = Field(
        default=True,
        description="a finding without a supervisor's decision counts (as before the loop); "
        "false: only confirmed findings count. A dismissed finding never counts",
    )
    calendar_years: tuple[int, int] = Field(
        default=(2020, 2030), description="years whose holidays and adjusted working days go into the views' SQL"
    )

    @model_validator(mode="after")
    def _every_category_once(self) -> ScoringModel:
        if set(self.severity_points) != {"yellow", "red"}:
            raise ValueError("severity_points needs exactly the keys yellow and red")
        seen: dict[Category, str] = {}
        for h in self.headings:
            for c in h.categories:
                if c in seen:
                    raise ValueError(f"category {c.value} is in headings {seen[c]} and {h.name}")
                seen[c] = h.name
        missing = [c.value for c in Category if c not in seen]
        if missing:
            # An unmapped category would let its findings cost nothing: refuse rather than guess.
            raise ValueError(f"categories without a heading: {', '.join(missing)}")
        if len({h.name for h in self.headings}) != len(self.headings):
            raise ValueError("heading names must differ")
        lo, hi = self.calendar_years
        if not 2004 <= lo <= hi <= 2040:
            raise ValueError("calendar_years must lie within 2004-2040 (the working-day calendar's range)")
        return self

    def heading_of(self, category: Category) -> Heading:
        """The heading a finding category is scored under (the model puts each category in exactly one)."""
        return next(h for h in self.headings if category in h.categories)


class ScoringError(ValueError):
    """A scoring file that cannot be read or does not validate; the message names the file and the field."""

    pass


def load_scoring(path: str | Path | None = None) -> ScoringModel:
    """The model from a YAML file (default: esup/config/scoring.yaml); errors name the field."""
    where = Path(path) if path is not None else DEFAULT_SCORING
    try:
        data = load_mapping(where)
    except YamlFileError as exc:
        raise ScoringError(str(exc)) from None
    try:
        return ScoringModel.model_validate(data.get("scoring", data))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '<model>'}: {e['msg']}" for e in errors]
        raise ScoringError(f"{where}: " + "; ".join(lines)) from None
