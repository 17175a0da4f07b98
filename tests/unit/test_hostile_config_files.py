"""Hostile YAML files for every loader the CLI and the services read (rules, scoring, loop, complaints, notifier,
calendar, catalog, directory, API users and directories): a clear error naming the file and the field, fast."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.auth import load_users
from api.directory import YamlDirectory
from complaints.config import load_complaints_config
from directory.model import load_directory
from loop.config import load_loop_config
from notifier.config import load_config
from schemas.catalog import load_catalog
from schemas.config import load_rule_config
from schemas.scoring import load_scoring
from schemas.yamlfile import CONFIG_MAX_BYTES, load_yaml_text
from streams.rules.calendar import load_calendar

# 9 levels of 9 aliases: a few hundred bytes that expand to 9^9 (387 million) strings.
BOMB_LEVELS = "abcdefghi"
BILLION_LAUGHS = "".join(
    f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9 if p else ['"lol"'] * 9) + "]\n"
    for p, c in zip([None, *BOMB_LEVELS[:-1]], BOMB_LEVELS, strict=True)
)

# The same nine levels as one flow sequence, to put under a field the loader knows (the one that walks it: the
# calendar's str() of each holiday took 387 million strings).
BOMB_VALUE = (
    "["
    + ", ".join(
        f"&{c} [" + ", ".join([f"*{p}"] * 9 if p else ['"lol"'] * 9) + "]"
        for p, c in zip([None, *BOMB_LEVELS[:-1]], BOMB_LEVELS, strict=True)
    )
    + "]"
)


@dataclass(frozen=True)
class Loader:
    name: str
    load: Callable[[Path], Any]
    section: str | None  # the key the settings sit under (None: at the top)
    wrong_type: tuple[str, Any]  # a known field and a value of the wrong type
    big_is_refused: bool = True  # a settings file over 1 MiB is refused; a catalog or directory may be large


LOADERS = [
    Loader("rules", load_rule_config, "rules", ("follow_up_wd", [1, 2])),
    Loader("scoring", load_scoring, "scoring", ("base", {"x": 1})),
    Loader("loop", load_loop_config, "loop", ("recommendation_wd", "soon")),
    Loader("complaints", load_complaints_config, "complaints", ("handle_wd", [5])),
    Loader("notifier", load_config, "notifier", ("head_for_red_and_deemed", {"a": 1})),
    Loader("calendar", load_calendar, None, ("years", [2027])),
    Loader("catalog", load_catalog, None, ("items", "SC-FOOD-001"), big_is_refused=False),
    Loader("directory", load_directory, None, ("departments", 7), big_is_refused=False),
]
IDS = [x.name for x in LOADERS]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / f"{name}.yaml"
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def refused(loader: Loader, path: Path, budget_s: float = 5.0) -> str:
    """The loader's error message for ``path``: a ValueError (every loader's error type is one), within budget."""
    started = time.perf_counter()
    with pytest.raises(ValueError) as err:
        loader.load(path)
    assert time.perf_counter() - started < budget_s, f"{loader.name} took too long"
    message = str(err.value)
    assert str(path) in message, message  # names the file
    return message


@pytest.mark.parametrize("loader", LOADERS, ids=IDS)
def test_a_billion_laughs_is_refused_at_once(loader: Loader, tmp_path: Path) -> None:
    message = refused(loader, write(tmp_path, loader.name, BILLION_LAUGHS), budget_s=2.0)
    assert "aliases" in message


@pytest.mark.parametrize("loader", LOADERS, ids=IDS)
def test_a_billion_laughs_under_a_known_field_is_refused_at_once(loader: Loader, tmp_path: Path) -> None:
    field = loader.wrong_type[0]
    text = f"{loader.section}:\n  {field}: {BOMB_VALUE}\n" if loader.section else f"{field}: {BOMB_VALUE}\n"
    if loader.name == "calendar":
        text = f"years: {{2027: {{holidays: {BOMB_VALUE}}}}}\n"
    assert "aliases" in refused(loader, write(tmp_path, loader.name, text), budget_s=2.0)


@pytest.mark.parametrize("loader", LOADERS, ids=IDS)
def test_an_alias_inside_itself_is_refused(loader: Loader, tmp_path: Path) -> None:
    assert "contains it" in refused(loader, write(tmp_path, loader.name, "a: &a [1, *a]\n"))


@pytest.mark.parametrize("loader", LOADERS, ids=IDS)
def test_deep_nesting_is_refused_not_a_recursion_error(loader: Loader, tmp_path: Path) -> None:
    flow = refused(loader, write(tmp_path, loader.name, "a: " + "[" * 50_000 + "]" * 50_000))
    block = refused(loader, write(tmp_path, loader.name, "".join(" " * i + f"k{i}:\n" for i in range(2000))))
    assert "nesting" in flow and "nesting" in block


@pytest.mark.parametrize("loader", LOADERS, ids=IDS)
def test_a_10_mb_file_is_refused_or_read_quickly(loader: Loader, tmp_path: Path) -> None:
    # 10 MB in one unknown key's value: a settings file is refused for its size, a catalog or directory is read
    # (64 MiB limit) and refused for the key.
    path = write(tmp_path, loader.name, "huge: " + "x" * (10 << 20) + "\n")
    message = refused(loader, path, budget_s=15.0)
    if loader.big_is_refused:
        assert f"larger than {CONFIG_MAX_BYTES:,} bytes" in message
    else:
        assert "huge" in message


@pytest.mark.parametrize("loader", LOADERS, ids=IDS)
def test_bad_bytes_and_a_document_that_is_not_a_mapping(loader: Loader, tmp_path: Path) -> None:
    assert "not UTF-8" in refused(loader, write(tmp_path, loader.name, "version: 态度".encode("gbk")))
    assert "mapping" in refused(loader, write(tmp_path, loader.name, "- 1\n- 2\n"))
    assert "YAML" in refused(loader, write(tmp_path, loader.name, "a: [1, 2\nb: {\n"))


@pytest.mark.parametrize("loader", LOADERS, ids=IDS)
def test_a_wrong_type_and_an_unknown_key_name_the_field(loader: Loader, tmp_path: Path) -> None:
    def doc(body: dict[str, Any]) -> str:
        return yaml.safe_dump({loader.section: body} if loader.section else body)

    field, value = loader.wrong_type
    assert f"{field}" in refused(loader, write(tmp_path, loader.name, doc({field: value})))
    assert "colour" in refused(loader, write(tmp_path, loader.name, doc({"colour": "red"})))


def test_a_calendar_flag_must_be_a_boolean_and_a_year_a_year(tmp_path: Path) -> None:
    loader = LOADERS[IDS.index("calendar")]
    quoted = refused(loader, write(tmp_path, "cal", "years: {2027: {provisional: 'no'}}\n"))
    assert "years.2027.provisional" in quoted
    assert "years.next" in refused(loader, write(tmp_path, "cal", "years: {next: {}}\n"))
    assert "years.2027.holidays" in refused(loader, write(tmp_path, "cal", "years: {2027: {holidays: 5}}\n"))


@pytest.mark.parametrize("load", [load_users, YamlDirectory.load], ids=["api users", "api directory"])
def test_the_api_files_are_bounded_too(load: Callable[[Path], Any], tmp_path: Path) -> None:
    for text in (BILLION_LAUGHS, "a: " + "[" * 50_000, "- 1\n"):
        path = write(tmp_path, "api", text)
        with pytest.raises(ValueError, match=str(path)):
            load(path)


def test_shared_aliases_within_the_bound_still_load() -> None:
    text = "base: &b {limit: 5, note: x}\nitems: [*b, *b, *b]\n"
    assert load_yaml_text(text, "f.yaml") == {
        "base": {"limit": 5, "note": "x"},
        "items": [{"limit": 5, "note": "x"}] * 3,
    }
