"""`esup rules adopt` on a running pipeline (issue 18 part 2): the worker switches at the adopted moment.

A worker (event clock) judges cases before the moment M with the thresholds it was started with; stricter
thresholds are adopted from M through the CLI while it runs; every finding before M stays exactly as it
was, every finding from M on is the adopted rules', each carries the configuration version in effect, the
audit log has the adoption, ClickHouse has the column, and `esup verify` passes on the new hash version.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pipeline import ROOT, settle, wait_until, worker_status
from tests.integration.test_pipeline import make_pipeline  # noqa: F401 - fixture
from tests.ports import free_port

pytestmark = pytest.mark.integration

M = "2026-03-10T00:00:00+08:00"
UNTIL = "2026-06-30T00:00:00+08:00"
STRICT = "# tighter warnings from 10 March\nrules:\n  notice_share: 0.5\n  follow_up_wd: 3\n"


def _line(case: str, kind: str, when: str) -> bytes:
    return json.dumps(
        {
            "event_id": f"{case}-{kind}",
            "case_id": case,
            "item_code": "SC-BUILD-003",
            "department_id": "DZ-ZJ",
            "region_code": "511702",
            "staff_id": "s-chen",
            "kind": kind,
            "occurred_at": f"{when}:00+08:00",
            "recorded_at": f"{when}:30+08:00",
            "payload": {},
        }
    ).encode()


BEFORE = [  # published before the adoption
    _line("OLD", "apply", "2026-01-05T09:00"),
    _line("OLD", "accept", "2026-01-05T10:00"),
    _line("MID", "apply", "2026-03-02T09:00"),  # applied before M, its warnings fall after it
    _line("MID", "accept", "2026-03-02T10:00"),
]
AFTER = [
    _line("NEW", "apply", "2026-03-16T09:00"),
    _line("NEW", "accept", "2026-03-16T10:00"),
]


def _reference(lines: list[bytes], rules: str | None, schedule: str | None = None) -> dict[str, dict[str, Any]]:
    """The reference evaluation of the lines under one configuration (or, with ``schedule``, the start
    configuration and ``schedule`` adopted from M), timers run to UNTIL."""
    from schemas.catalog import load_catalog
    from schemas.config import RuleConfig, rule_config_from_mapping
    from schemas.events import parse_event
    from schemas.yamlfile import load_mapping_text
    from streams.rules import Context, WorkCalendar, evaluate

    config = rule_config_from_mapping(load_mapping_text(rules, "rules"), "rules") if rules else RuleConfig()
    ctx = Context.build(WorkCalendar(), load_catalog(ROOT / "examples/catalog.yaml"), config)
    timeline = None
    if schedule is not None:
        from streams.configs import Contexts
        from streams.rules.schedule import adoption_key, encode_adoption, parse_adoption

        moment = datetime.fromisoformat(M)
        timeline = Contexts(ctx)
        timeline.adopt(
            parse_adoption(adoption_key("rules", moment), encode_adoption("rules", schedule.encode(), "", moment, "t"))
        )
    found = evaluate([parse_event(x) for x in lines], ctx, datetime.fromisoformat(UNTIL), timeline).findings
    return {f.finding_id: json.loads(f.model_dump_json(exclude={"chain"})) for f in found}


def _differences(got: dict[str, Any], expected: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for k in sorted(set(got) | set(expected)):
        g, e = got.get(k), expected.get(k)
        if g != e:
            f = g or e or {}
            fields = {x: (g.get(x), e.get(x)) for x in f if g and e and g.get(x) != e.get(x)}
            out.append((f["case_id"], f["rule"], "only got" if e is None else "only expected" if g is None else fields))
    return out


def _moment(f: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(f["detected_at"])


def test_an_adopted_rules_file_is_live_from_its_moment_and_every_finding_carries_its_version(
    make_pipeline: Any,  # noqa: F811 - fixture
    clickhouse_client: Any,
    tmp_path: Path,
) -> None:
    p = make_pipeline(partitions=2).setup()
    port = free_port()
    p.worker(web_port=port)
    p.sink()

    def status() -> Any:
        try:
            return worker_status(port)
        except OSError:
            return None

    wait_until(lambda: (s := status()) and s["config"].get("ready"), timeout=90, what="the worker to start")
    # Hostile records on the configuration topic are refused, naming the field; the worker goes on.
    p.produce("config", [(b"rules@x", b"\xff\xfe"), (b"rules@2026-03-09T16:00:00+00:00", b'{"kind": 7}')])
    wait_until(lambda: len(status()["config"]["rejected"]) == 2, timeout=30, what="the bad records refused")
    assert status()["config"]["rejected"] == {
        "rules@x": "<record>: not UTF-8 JSON",
        "rules@2026-03-09T16:00:00+00:00": "kind: expected a string, got int",
    }

    # Before the adoption: the old cases up to just before M.
    p.publish_events(BEFORE)
    p.advance("2026-03-09T12:00:00+08:00")
    old_rules = _reference(BEFORE + AFTER, None)
    early = {k: f for k, f in old_rules.items() if _moment(f) <= datetime.fromisoformat("2026-03-09T12:00:00+08:00")}
    assert early, "the test needs findings before the adoption"
    first = wait_until(
        lambda: (lambda g: g if set(g) == set(early) else None)(p.findings()), timeout=90, what="the early findings"
    )
    assert first == early

    # The adoption, as an operator makes it.
    strict = tmp_path / "strict.yaml"
    strict.write_text(STRICT, encoding="utf-8")
    # M is in the event clock's past (March): --allow-past, as an event-clock deployment needs.
    done = p.esup(
        "rules", "adopt", str(strict), "--kind", "rules", "--from", M, "--reason", "tighter warnings", "--allow-past"
    )
    assert "workers switch at that moment" in done.stdout, done.stdout
    wait_until(lambda: status()["config"]["adopted"] == 1, timeout=30, what="the worker to read the adoption")

    p.publish_events(AFTER)
    p.advance(UNTIL)
    new_rules = _reference(BEFORE + AFTER, STRICT)
    cut = datetime.fromisoformat(M)
    # What was raised before M is the start file's; everything raised from M on is the adopted rules' — also
    # a warning the stricter rules date before M (MID's notice: half its period was used before M), raised
    # when the worker judges the case again at M: dated M (no finding of the adopted rules is dated before
    # their moment), with the adopted version and its own date in details.
    before_m = {k: f for k, f in old_rules.items() if _moment(f) < cut}

    def from_m(f: dict[str, Any]) -> dict[str, Any]:
        if _moment(f) >= cut:
            return f
        details = {**f["details"], "due_under_adopted_configuration": _moment(f).isoformat()}
        return {**f, "detected_at": cut.isoformat(), "details": details}

    expected = {**{k: from_m(f) for k, f in new_rules.items() if k not in before_m}, **before_m}
    assert any("due_under_adopted_configuration" in f["details"] for f in expected.values())  # MID's notice
    # The adopted rules change these cases after M (else this test would prove nothing).
    assert {k: f["detected_at"] for k, f in new_rules.items() if _moment(f) >= cut} != {
        k: f["detected_at"] for k, f in old_rules.items() if _moment(f) >= cut
    }
    assert _reference(BEFORE + AFTER, None, schedule=STRICT) == expected  # what `esup evaluate --schedule` gives
    got = settle(p.findings, expected, timeout=90)
    assert got == expected, _differences(got, expected)
    # Findings before M: the old ones, untouched and published once (never judged again).
    assert all(got[k] == f for k, f in first.items())
    published = Counter(json.loads(r.value)["finding_id"] for r in p.read("findings"))
    assert all(published[k] == 1 for k in first)
    # Each finding carries the version of the configuration in effect when it was raised.
    versions = {(k not in before_m, f["config_version"]) for k, f in got.items()}
    old_version, new_version = {v for after, v in versions if not after}, {v for after, v in versions if after}
    assert len(old_version) == 1 and len(new_version) == 1 and old_version != new_version

    # The audit log has the adoption; the configuration topic its record, pointing at the audit record.
    audits = [json.loads(r.value) for r in p.read(p.audit_topic("esup-adopter"))]  # the adopter's own topic
    adopt = [a for a in audits if a["action"] == "config.adopt"]
    assert len(adopt) == 1
    detail = json.loads(adopt[0]["detail"])
    version = "sha256:" + hashlib.sha256(STRICT.encode()).hexdigest()
    assert (detail["kind"], detail["version"], detail["effective_from"]) == ("rules", version, M)
    records = [json.loads(r.value) for r in p.read("config") if r.key == b"rules@2026-03-09T16:00:00+00:00"]
    assert records[-1]["audit_id"] == adopt[0]["audit_id"] and records[-1]["version"] == version

    # ClickHouse: the findings with their configuration versions, and the chain still verifies (hash v3).
    db = p.database

    def stored() -> dict[str, str]:
        rows = clickhouse_client.execute(f"SELECT finding_id, config_version FROM {db}.findings FINAL")
        return {r[0]: r[1] for r in rows}

    wait_until(lambda: set(stored()) == set(expected), timeout=90, what="the findings in ClickHouse")
    assert stored() == {k: f["config_version"] for k, f in expected.items()}
    ok = p.esup("verify", check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
