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


def test_a_rules_or_calendar_adoption_a_worker_would_refuse_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    """No Kafka here: refused by the same check the workers apply to the configuration topic's records."""
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  notice_share: 0.5\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["rules", "adopt", str(path), "--kind", "rules", "--from", "2050-01-01T00:00+08:00"])
    assert res.exit_code == 1 and "not adopted: effective_from:" in res.output and "2004-2040" in res.output


def test_the_schedule_record_is_what_a_worker_reads() -> None:
    from esup.cli.rules import schedule_record
    from streams.rules.schedule import parse_adoption

    content = b"rules:\n  follow_up_wd: 3\n"
    detail = {"kind": "rules", "label": "strict"}
    key, value = schedule_record(detail, content, MOMENT, "audit-9")
    a = parse_adoption(key, value)
    assert (a.kind, a.effective_from, a.audit_id, a.label) == ("rules", MOMENT, "audit-9", "strict")
    assert a.value.follow_up_wd == 3 and a.content.encode() == content


def test_a_moment_that_is_not_ahead_of_now_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    """No Kafka here: an adoption never revises what already happened (--allow-past is for event-clock workers)."""
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  notice_share: 0.5\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["rules", "adopt", str(path), "--kind", "rules", "--from", MOMENT.isoformat()])
    assert res.exit_code == 1 and "not ahead of now" in res.output, res.output
