"""The CLI's layout: every command in esup/cli is reachable from `esup`, the layers hold, the old spellings warn."""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import esup.cli
from esup.cli import main
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = [
    "esup",
    "streams",
    "schemas",
    "sinks",
    "dashboards",
    "sim",
    "directory",
    "notifier",
    "loop",
    "api",
    "bulletin",
    "gateway",
    "console",
    "complaints",
    "whatif",
]


def _tree(group: click.Group) -> list[click.Command]:
    out: list[click.Command] = []
    for command in group.commands.values():
        out.append(command)
        if isinstance(command, click.Group):
            out += _tree(command)
    return out


def _cli_modules() -> list[str]:
    return [f"esup.cli.{m.name}" for m in pkgutil.iter_modules(esup.cli.__path__) if m.name != "__main__"]


def test_every_command_defined_in_esup_cli_is_reachable_from_esup() -> None:
    reachable = {id(c) for c in _tree(main)}
    defined = {
        f"{name}.{attr}": value
        for name in _cli_modules()
        for attr, value in vars(importlib.import_module(name)).items()
        if isinstance(value, click.Command) and value is not main
    }
    assert len(defined) > 25
    unreachable = sorted(where for where, command in defined.items() if id(command) not in reachable)
    assert unreachable == [], "add them to COMMANDS in esup/cli/__init__.py"


def test_every_top_level_command_comes_from_its_own_module_of_esup_cli() -> None:
    modules = set(_cli_modules())
    for name, command in main.commands.items():
        assert command.callback is not None and command.callback.__module__ in modules, name
    shown = {name for name, c in main.commands.items() if not c.hidden}
    # one visible top-level command (or group) per module; the root and the processes' helpers define none
    owners = {main.commands[n].callback.__module__ for n in shown}  # type: ignore[union-attr]
    assert len(owners) == len(shown)


def test_esup_help_lists_every_group_and_hides_the_old_spellings() -> None:
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0
    listed = {line.split()[0] for line in res.output.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == {name for name, c in main.commands.items() if not c.hidden}
    assert {
        "stack",
        "db",
        "worker",
        "sink",
        "loop",
        "gateway",
        "access",
        "console",
        "bulletin",
        "simulate",
        "case",
        "rules",
        "verify",
        "services",
        "status",
        "evaluate",
        "schema",
        "rankings",
        "whatif",
    } <= listed
    assert "worker-status" in main.commands and "worker-status" not in listed
    status = CliRunner().invoke(main, ["status", "--help"]).output
    assert all(f"  {sub} " in status for sub in ("lag", "worker", "services", "stack"))


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_import_contracts_hold() -> None:
    res = _lint_imports(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 2 kept, 0 broken." in res.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("esup/settings.py", "from sinks.clickhouse import connect", "esup is not allowed to import sinks"),
        ("schemas/events.py", "import streams.rules", "schemas is not allowed to import streams"),
        ("streams/app.py", "from esup.cli import main", "Nothing imports the CLI"),
        ("esup/topics.py", "from esup.cli.status import lag", "Nothing imports the CLI"),
        ("sinks/rankings.py", "from console import app", "sinks is not allowed to import console"),
        ("streams/batch.py", "from sim import generator", "streams is not allowed to import sim"),
    ],
)
def test_an_upward_import_breaks_the_contracts(tmp_path: Path, module: str, line: str, broken: str) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / module
    # inside a function, as most of the code base imports: the contracts see those imports too
    target.write_text(
        target.read_text(encoding="utf-8") + f"\n\ndef _upward() -> None:\n    {line}  # noqa\n", encoding="utf-8"
    )
    res = _lint_imports(tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert broken in res.stdout and "1 broken" in res.stdout


def test_the_old_status_spellings_still_work_and_say_the_new_one(tmp_path: Path) -> None:
    env = {"ESUP_HOME": str(tmp_path / ".esup"), "ESUP_JAVA": "/nonexistent/java"}
    port = str(free_port())
    for old, new in [
        (["worker-status", "--web-port", port], ["status", "worker", "--web-port", port]),
        (["services", "status"], ["status", "services"]),
        (["stack", "status", "kafka"], ["status", "stack", "kafka"]),
    ]:
        was, now = CliRunner().invoke(main, old, env=env), CliRunner().invoke(main, new, env=env)
        assert (was.exit_code, was.stdout) == (now.exit_code, now.stdout) and was.exit_code != 0, old
        note = f"`esup {' '.join(old[:2] if old[0] != 'worker-status' else old[:1])}` is an old spelling"
        assert note in was.stderr and f"use `esup {' '.join(new[:2])}`" in was.stderr, was.stderr
        assert "old spelling" not in now.stderr
    misplaced = CliRunner().invoke(main, ["status", "--json", "lag"], env=env)
    assert misplaced.exit_code == 2 and "--json goes after the subcommand" in misplaced.stderr


def test_the_linted_the_type_checked_the_packaged_and_the_imaged_packages_are_the_same() -> None:
    import re
    import tomllib

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packaged = {p.rstrip("*") for p in conf["tool"]["setuptools"]["packages"]["find"]["include"]}
    imaged = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M))
    assert packaged == set(PACKAGES)
    assert set(conf["tool"]["importlinter"]["root_packages"]) == packaged  # a package left out is not checked
    assert set(conf["tool"]["mypy"]["packages"]) == packaged
    assert imaged == packaged
