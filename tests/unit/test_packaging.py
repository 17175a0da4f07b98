"""What an installed wheel needs comes from the packages (importlib.resources), and state goes to ESUP_HOME."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from dashboards.build import BOARDS, OUT_DIR
from esup.resources import packaged
from esup.settings import Settings
from esup.stack.base import TEMPLATES
from schemas.scoring import DEFAULT_SCORING, load_scoring
from sinks.migrate import MIGRATIONS_DIR, load_migrations

ROOT = Path(__file__).resolve().parents[2]


def package_data() -> dict[str, list[str]]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data: dict[str, list[str]] = doc["tool"]["setuptools"]["package-data"]
    return data


def shipped(path: Path) -> bool:
    """Whether setuptools puts `path` into the wheel: a package-data pattern of its package matches it."""
    data = package_data()
    for package, patterns in data.items():
        base = ROOT if package == "*" else ROOT / package.replace(".", "/")
        if package == "*":
            if (path.parent / "__init__.py").exists() and any(fnmatch(path.name, p) for p in patterns):
                return True
            continue
        if path.is_relative_to(base) and any(fnmatch(str(path.relative_to(base)), p) for p in patterns):
            return True
    return False


def test_every_file_the_code_reads_is_package_data() -> None:
    wanted = [
        TEMPLATES / "kafka/pom.xml",
        TEMPLATES / "kafka/server.properties",
        TEMPLATES / "kafka/log4j.properties",
        TEMPLATES / "clickhouse/config.xml",
        TEMPLATES / "clickhouse/users.xml",
        DEFAULT_SCORING,
        packaged("esup", "config", "rules.yaml"),
        *(OUT_DIR / b.filename for b in BOARDS),
        *sorted(MIGRATIONS_DIR.glob("*.sql")),
    ]
    for path in wanted:
        assert path.is_file(), path
        assert path.resolve().is_relative_to(ROOT) and path.resolve().parent != ROOT
        assert shipped(path.resolve()), f"{path} is not declared as package data"
    assert not shipped(ROOT / "examples" / "catalog.yaml")  # not a package: the test can tell


def test_the_defaults_load_from_the_package() -> None:
    assert load_scoring().version
    assert {1, 2, 30} <= {m.version for m in load_migrations()}


def test_esup_home_defaults_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESUP_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().home == tmp_path / ".esup"
    monkeypatch.setenv("ESUP_HOME", "state")
    assert Settings().home == tmp_path / "state"  # absolute, so started processes agree on it
