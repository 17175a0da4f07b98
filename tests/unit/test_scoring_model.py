"""The scoring model (esup/config/scoring.yaml): the default is the city rule, and bad models are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.findings import Category
from schemas.scoring import DEFAULT_SCORING, ScoringError, ScoringModel, load_scoring


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_SCORING.read_text(encoding="utf-8"))["scoring"]
    return data


def test_default_follows_the_published_city_rule() -> None:
    m = load_scoring()
    assert m.base == 100 and m.severity_points == {"yellow": 5, "red": 10}
    assert (m.notices.every, m.notices.points) == (3, 3)
    assert (m.early_bonus.points, m.early_bonus.per_percent, m.early_bonus.max_points) == (1, 10, 10)
    caps = {h.name: h.cap for h in m.headings}
    # The city rule's satisfaction and integrity headings (10 each) are fed by complaints (docs/complaints.md).
    assert caps == {
        "time_limits": 14,
        "procedure": 14,
        "fees": 8,
        "legal_liability": 10,
        "attitude": 10,
        "supervision": 14,
        "satisfaction": 10,
        "integrity": 10,
    }
    assert m.heading_of(Category.condition).name == "legal_liability"
    assert m.heading_of(Category.first_inquiry).name == "attitude"
    assert m.heading_of(Category.data_quality).name == "supervision"
    assert m.heading_of(Category.attitude).name == "attitude"
    assert m.heading_of(Category.satisfaction).name == "satisfaction"
    assert m.heading_of(Category.integrity).name == "integrity"
    assert m.heading_of(Category.complaint_handling).name == "supervision"


def _invalid(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "scoring.yaml"
    path.write_text(yaml.safe_dump({"scoring": data}), encoding="utf-8")
    with pytest.raises(ScoringError) as exc:
        load_scoring(path)
    return str(exc.value)


def test_every_category_needs_exactly_one_heading(tmp_path: Path) -> None:
    data = _raw()
    data["headings"] = [h for h in data["headings"] if h["name"] != "fees"]
    assert "categories without a heading: fee" in _invalid(tmp_path, data)
    data = _raw()
    data["headings"][0]["categories"] = ["time", "fee"]
    assert "category fee is in headings" in _invalid(tmp_path, data)


def test_unknown_fields_and_bad_values_name_the_field(tmp_path: Path) -> None:
    assert "early_bonus.per_percent" in _invalid(tmp_path, {**_raw(), "early_bonus": {"per_percent": 0}})
    assert "bonus_points" in _invalid(tmp_path, {**_raw(), "bonus_points": 3})
    assert "severity_points" in _invalid(tmp_path, {**_raw(), "severity_points": {"yellow": 5}})
    assert "calendar_years" in _invalid(tmp_path, {**_raw(), "calendar_years": [2000, 2030]})


def test_uncapped_heading_and_custom_points_are_allowed() -> None:
    data = _raw()
    data["headings"][0].pop("cap")
    data["severity_points"] = {"yellow": 2.5, "red": 7}
    m = ScoringModel.model_validate(data)
    assert m.headings[0].cap is None and m.severity_points["yellow"] == 2.5
