"""The dossier's basis: the running workers' --rules and --calendar, the catalog as published, their versions."""

from __future__ import annotations

from pathlib import Path

from loop.basis import catalog_digest, resolve, topic_catalog, worker_options
from schemas.catalog import parse_catalog

ITEM = {"code": "A1", "name": "事项", "department_id": "D1", "limits": {"decision": {"statutory": 20, "promised": 10}}}


def _pid(home: Path, name: str, args: str) -> None:
    (home / "services").mkdir(parents=True, exist_ok=True)
    (home / "services" / f"{name}.pid").write_text(f"123\nesup.cli worker --clock event {args}\n")


def test_the_workers_files_are_found_and_disagreement_is_said(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  notice_share: 0.5\n  follow_up_wd: 3\n")
    _pid(tmp_path, "worker-1", f"--web-port 6066 --rules {rules}")
    _pid(tmp_path, "worker-2", f"--web-port 6067 --rules {rules}")
    found, notes = worker_options(tmp_path)
    assert found == {"rules": rules} and notes == []
    basis = resolve(
        home=tmp_path,
        catalog_file=None,
        rules_file=None,
        calendar_file=None,
        published=lambda: (parse_catalog({"version": "7", "items": [ITEM]}), "topic t"),
    )
    assert basis.rules.notice_share == 0.5 and basis.rules.follow_up_wd == 3
    assert "running workers'" in basis.rules_source and basis.catalog_source == "topic t"
    assert basis.calendar_source.startswith("the default calendar")
    _pid(tmp_path, "worker-3", "--web-port 6068")
    found, notes = worker_options(tmp_path)
    assert "rules" not in found and any("--rules" in n for n in notes)
    # an explicit file wins over the workers'
    other = tmp_path / "other.yaml"
    other.write_text("notice_share: 0.6\n")
    basis = resolve(
        home=tmp_path,
        catalog_file=None,
        rules_file=other,
        calendar_file=None,
        published=lambda: (parse_catalog({"items": [ITEM]}), "t"),
    )
    assert basis.rules.notice_share == 0.6 and basis.rules_source == f"file {other}"


def test_no_worker_means_defaults_said_so(tmp_path: Path) -> None:
    found, notes = worker_options(tmp_path)
    assert found == {} and any("no worker" in n for n in notes)


def test_the_topics_catalog_names_its_version_and_content() -> None:
    good = parse_catalog({"items": [ITEM]}).items[0].model_dump_json().encode()
    records: dict[bytes, bytes | None] = {b"A1": good, b"GONE": None, b"BAD": b"{not json"}
    cat = topic_catalog(records, "esup.catalog", ("2026.3", "2026-03-01 09:00:00"))
    assert [i.code for i in cat.items] == ["A1"]
    assert cat.version.startswith("2026.3 (last audited publish") and catalog_digest(cat) in cat.version
    assert "not recorded" in topic_catalog(records, "esup.catalog", None).version
    changed = parse_catalog({"items": [{**ITEM, "limits": {"decision": {"statutory": 20, "promised": 12}}}]})
    assert catalog_digest(changed) != catalog_digest(cat)
