"""`esup rules adopt`: the audit detail of adopting a configuration, and files refused before anything is sent."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from esup.cli import main
from esup.cli.rules import adoption

ROOT = Path(__file__).resolve().parents[2]
MOMENT = datetime(2026, 12, 1, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_the_detail_names_the_file_its_content_hash_and_the_moment() -> None:
    path = ROOT / "examples" / "catalog.yaml"
    d = adoption("catalog", path, MOMENT, "promise 3 WD")
    assert d["version"] == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert (d["kind"], d["effective_from"], d["reason"]) == ("catalog", "2026-12-01T00:00:00+08:00", "promise 3 WD")
    assert d["label"]  # the catalog's own version label


def test_a_changed_file_is_another_version(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("notice_share: 0.7\n", encoding="utf-8")
    b.write_text("notice_share: 0.8\n", encoding="utf-8")
    assert adoption("rules", a, MOMENT, "")["version"] != adoption("rules", b, MOMENT, "")["version"]


@pytest.mark.parametrize(
    ("kind", "content", "says"),
    [
        ("rules", "notice_share: 7\n", "notice_share"),
        ("catalog", "items: [{code: X}]\n", "name"),
        ("catalog", "x: [\n", "not valid YAML"),
        ("scoring", "x: [\n", "while parsing"),
        ("calendar", b"\xff\xfe", "not UTF-8"),
    ],
)
def test_a_bad_file_is_refused_naming_the_problem(tmp_path: Path, kind: str, content: str | bytes, says: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    res = CliRunner().invoke(main, ["rules", "adopt", str(path), "--kind", kind, "--from", MOMENT.isoformat()])
    assert res.exit_code == 1 and "not adopted" in res.output and says in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_a_moment_without_offset_is_refused() -> None:
    path = ROOT / "examples" / "catalog.yaml"
    res = CliRunner().invoke(main, ["rules", "adopt", str(path), "--kind", "catalog", "--from", "2026-12-01T00:00"])
    assert res.exit_code == 2 and "timezone offset" in res.output
