"""`esup whatif` on the real ClickHouse over a small simulated province judged by the real rules engine.

The sink tables are filled as the live pipeline would leave them (the engine's findings and final snapshots
through sinks.rows); then: an unchanged configuration changes nothing and its replay equals the live findings
id for id; the Python scores equal the views; a planted change (one item's promised decision limit 5 → 3
working days) adds and removes exactly what the simulator's own oracle of legal periods predicts; the report
is byte-identical run to run; `--store` writes the scenario tables; a tampered live table is reported.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from esup.stack.servers import Provided
from schemas.catalog import Catalog
from schemas.config import RuleConfig
from schemas.events import parse_event
from schemas.scoring import load_scoring
from sim.case import TIMER_RULES
from sim.catalog import write_catalog
from sim.generator import Options, SimCase, Simulation
from sinks.rows import Record, convert
from sinks.scoring import KINDS, rankings_view
from sinks.writer import ClickHouseSink
from streams.rules import Context, WorkCalendar, evaluate
from streams.rules.snapshot import snapshot
from tests.integration.analytics_db import cli_env, fresh_database
from whatif.model import BEIJING
from whatif.report import Side, dumps, side_scores
from whatif.run import Configuration, whatif
from whatif.source import Window, score_inputs

pytestmark = pytest.mark.integration

DB = "esup_test_whatif"
WINDOW = Window(date(2026, 6, 1), date(2026, 11, 30))
START = datetime(2026, 6, 1, tzinfo=BEIJING)


@dataclasses.dataclass
class Province:
    """The simulated province, its catalog, its cases (with the oracle's periods) and the timers' end."""

    sim: Simulation
    cases: list[SimCase]
    at: datetime
    client: Any
    url: str


def _rows(kind: Any, pairs: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    out = []
    for offset, (key, value) in enumerate(pairs):
        c = convert(kind, Record("t", 0, offset, 1_780_000_000_000, key.encode(), value.encode()))
        assert c.row is not None, c.invalid
        out.append((c.table, c.row))
    return out


@pytest.fixture(scope="module")
def province(clickhouse_server: Provided) -> Iterator[Province]:
    sim = Simulation(Options(seed=11, start=START, cases=400, days=45, violation_rate=0.3))
    cases = list(sim.cases())
    events = [parse_event(json.dumps(e)) for e in sim.events(iter(cases))]
    at = max(e.occurred_at for e in events)  # what the workers' event clock reaches (whatif's default too)
    ctx = Context.build(WorkCalendar(), sim.catalog, RuleConfig())
    result = evaluate(events, ctx, at)
    client = fresh_database(clickhouse_server.address, DB)
    sink = ClickHouseSink(client)
    rows = _rows("events", [(e.case_id, e.model_dump_json()) for e in events])
    rows += _rows("findings", [(f.case_id, f.model_dump_json()) for f in result.findings])
    rows += _rows("snapshots", [(s.case_id, snapshot(s, at, ctx).model_dump_json()) for s in result.states.values()])
    for table, row in rows:
        sink.add(table, [row])
    sink.flush()
    yield Province(sim, cases, at, client, clickhouse_server.address)
    client.execute(f"DROP DATABASE IF EXISTS {DB}")


def config(items: Catalog, **sources: str) -> Configuration:
    return Configuration(
        items,
        RuleConfig(),
        WorkCalendar(),
        load_scoring(),
        {"catalog": "sim", "rules": "built-in", "calendar": "built-in", "scoring": "built-in", **sources},
    )


def planted(catalog: Catalog, code: str) -> Catalog:
    """The catalog with item ``code``'s promised decision limit set to 3 working days."""
    items = []
    for item in catalog.items:
        if item.code == code:
            assert item.limits.decision is not None and item.limits.decision.promised == 5
            decision = item.limits.decision.model_copy(update={"promised": 3})
            item = item.model_copy(update={"limits": item.limits.model_copy(update={"decision": decision})})
        items.append(item)
    return Catalog(version="planted", items=items)


def five_day_item(p: Province) -> str:
    """The item with a promised decision limit of 5 working days that has the most simulated cases."""
    fives = {i.code for i in p.sim.catalog.items if i.limits.decision and i.limits.decision.promised == 5}
    used = Counter(b.item.code for c in p.cases for b in c.builders if b.item.code in fives)
    assert used, "the simulation has no case of an item with a 5-day promise"
    return sorted(used, key=lambda code: (-used[code], code))[0]


def oracle(p: Province, code: str) -> dict[str, set[tuple[str, str]]]:
    """What the simulator's oracle (sim/clock.py, counting day by day) says the 3-day promise adds, removes and
    moves: each decision period of the item's cases walked with the old and the new promise."""
    out: dict[str, set[tuple[str, str]]] = {"added": set(), "removed": set(), "changed": set()}
    for case in p.cases:
        for b in case.builders:
            if b.item.code != code:
                continue
            for clock in (c for c in b.periods if c.name == "decision"):
                stricter = dataclasses.replace(clock, promised=3)

                def fired(c: Any, b: Any = b) -> dict[str, tuple[datetime, Any]]:
                    return {m.name: (m.at, m.deadline) for m in c.milestones(b.cal, b.th, p.at)}

                old, new = fired(clock), fired(stricter)
                rule = TIMER_RULES["decision"]
                out["added"] |= {(b.case_id, rule[n]) for n in new.keys() - old.keys()}
                out["removed"] |= {(b.case_id, rule[n]) for n in old.keys() - new.keys()}
                out["changed"] |= {(b.case_id, rule[n]) for n in old.keys() & new.keys() if old[n] != new[n]}
    return out


def test_an_unchanged_configuration_changes_nothing_and_replays_the_live_findings(province: Province) -> None:
    base = config(province.sim.catalog)
    result = whatif(province.client, WINDOW, base, base, jobs=2, at=province.at)
    r = result.report
    assert r["window"]["cases"] > 300 and r["window"]["events"] > 1000
    check = r["check"]
    assert check["ok"], check["examples"]
    assert check["only_live"] == check["only_replay"] == check["content_differs"] == check["finished_cases_differ"] == 0
    live = province.client.execute("SELECT count() FROM findings FINAL")[0][0]
    assert r["findings"]["baseline"] == r["findings"]["scenario"] == live > 0
    assert (r["findings"]["added"], r["findings"]["removed"], r["findings"]["changed"]) == (0, 0, 0)
    for kind in KINDS:
        assert r["scores"][kind]["moved"] == 0 and r["scores"][kind]["entities"] > 0
        d = r["scores"][kind]["distribution"]
        assert d["before"] == d["after"] and d["before"]["n"] > 0


@pytest.mark.parametrize("kind", KINDS)
def test_the_python_scores_equal_the_ranking_views(province: Province, kind: Any) -> None:
    model = load_scoring()
    got = score_inputs(province.client, WINDOW, model, "510000")
    side = Side(model, WorkCalendar(), got.findings, got.finished, got.late_findings)
    mine = side_scores(side, kind, "510000", WINDOW.months(), got.decisions)
    entity = "department_id" if kind == "department" else "staff_id"
    views = province.client.execute(
        f"SELECT period_start, {entity}, department_id, score, rank, on_time_rate FROM {rankings_view(kind)} "
        "WHERE period = 'month' AND level = 'province' AND region = '510000'"
    )
    expected = {(m, e): (d, s, r, t) for m, e, d, s, r, t in views if m in WINDOW.months()}
    assert len(expected) > 5
    assert {k: (s.department_id, s.score, s.rank, s.on_time_rate) for k, s in mine.items()} == expected


def test_a_stricter_promise_adds_exactly_what_the_oracle_predicts(province: Province) -> None:
    code = five_day_item(province)
    base = config(province.sim.catalog)
    new = config(planted(province.sim.catalog, code), catalog="planted")
    result = whatif(province.client, WINDOW, base, new, jobs=2, at=province.at)
    predicted = oracle(province, code)
    c = result.changes
    got = {
        "added": {(f.case_id, f.rule) for f in c.added},
        "removed": {(f.case_id, f.rule) for f in c.removed},
        "changed": {(a.case_id, a.rule) for _, a in c.changed},
    }
    assert predicted["added"], "the planted change should add findings"
    assert got == predicted
    # A promise breach where the case took more than 3 (+ extension) working days; a notice moves or goes.
    assert "TIME_DECISION_PROMISE_BREACHED" in {f.rule for f in c.added}
    assert {f.rule for f in [*c.added, *c.removed]} <= {"TIME_DECISION_PROMISE_BREACHED", "TIME_DECISION_NOTICE"}
    assert len(c.added) == len(got["added"])  # one finding per case and rule
    r = result.report
    assert r["check"]["ok"]
    assert r["configuration"]["changed"] == ["catalog"]
    by_rule = {g["key"]: g for g in r["findings"]["by_rule"]}
    for rule in ("TIME_DECISION_PROMISE_BREACHED", "TIME_DECISION_NOTICE"):
        n = sum(r == rule for _, r in predicted["added"])
        assert by_rule.get(rule, {"added": 0})["added"] == n
    assert sum(g["added"] for g in r["findings"]["by_department"]) == len(c.added)
    assert r["scores"]["department"]["moved"] > 0  # yellow cards cost points


def test_the_report_is_byte_identical_run_to_run(province: Province) -> None:
    code = five_day_item(province)
    base = config(province.sim.catalog)
    new = config(planted(province.sim.catalog, code), catalog="planted")
    one = dumps(whatif(province.client, WINDOW, base, new, jobs=1, at=province.at).report)
    two = dumps(whatif(province.client, WINDOW, base, new, jobs=3, at=province.at).report)
    assert one == two


def test_the_command_writes_json_html_and_stores_the_scenario(province: Province, tmp_path: Path) -> None:
    from esup.cli import main

    code = five_day_item(province)
    base_file = write_catalog(province.sim.catalog, tmp_path / "catalog.yaml")
    new_file = tmp_path / "planted.yaml"
    data = yaml.safe_load(base_file.read_text(encoding="utf-8"))
    for item in data["items"]:
        if item["code"] == code:
            item["limits"]["decision"]["promised"] = 3
    new_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = {**cli_env(province.url), "ESUP_CLICKHOUSE_DATABASE": DB}
    # The live tables were filled without adoptions: the baseline takes none (not the shared stack's config topic).
    args = ["whatif", "--catalog", str(new_file), "--base-catalog", str(base_file), "--no-base-schedule"]
    args += ["--from", "2026-06-01"]
    args += ["--to", "2026-11-30", "--region", "510000", "--jobs", "2", "--at", province.at.isoformat()]
    args += ["--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"), "--store", "promise-3wd"]
    res = CliRunner().invoke(main, args, env=env)
    assert res.exit_code == 0, res.output
    assert "TIME_DECISION_PROMISE_BREACHED" in res.output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["findings"]["added"] > 0 and report["configuration"]["changed"] == ["catalog"]
    assert report["configuration"]["scenario"]["catalog"].startswith("planted.yaml sha256:")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "TIME_DECISION_PROMISE_BREACHED" in page
    assert "<script" not in page and "http" not in page.split("</style>")[1]
    ((runs, ok, added),) = province.client.execute(
        "SELECT count(), min(baseline_ok), sum(findings_added) FROM whatif_runs WHERE scenario = 'promise-3wd'"
    )
    assert (runs, ok, added) == (1, 1, report["findings"]["added"])
    assert province.client.execute(
        "SELECT count() FROM whatif_findings WHERE scenario = 'promise-3wd' AND side = 'added'"
    ) == [(report["findings"]["added"],)]
    moved = province.client.execute(
        "SELECT count() FROM whatif_scores WHERE scenario = 'promise-3wd' AND kind = 'department' "
        "AND (rank_before != rank_after OR score_before != score_after)"
    )
    assert moved == [(report["scores"]["department"]["moved"],)]


def test_a_live_finding_the_replay_does_not_make_is_reported(province: Province, tmp_path: Path) -> None:
    """Last in the module: it adds a finding by hand to the live table. The command says so and exits 1."""
    from esup.cli import main

    (case_id,) = province.client.execute("SELECT any(case_id) FROM case_events")[0]
    row = {
        "finding_id": "forged-1",
        "schema_version": 1,
        "case_id": case_id,
        "rule": "FEE_DUPLICATE",
        "category": "fee",
        "severity": "yellow",
        "title": "t",
        "message": "m",
        "staff_id": "s",
        "department_id": "d",
        "region_code": "510100",
        "item_code": "i",
        "detected_at": datetime(2026, 7, 1, tzinfo=BEIJING),
        "deadline": None,
        "law_article": None,
        "evidence_event_ids": [],
        "calendar_version": "v",
        "provisional": 0,
        "details": "{}",
        "version": 1,
        "content_hash": "",
        "chain_partition": -1,
        "chain_seq": 0,
        "config_version": "",
    }
    sink = ClickHouseSink(province.client)
    sink.add("findings", [row])
    sink.flush()
    base_file = write_catalog(province.sim.catalog, tmp_path / "catalog.yaml")
    env = {**cli_env(province.url), "ESUP_CLICKHOUSE_DATABASE": DB}
    args = [
        "whatif",
        "--base-catalog",
        str(base_file),
        "--no-base-schedule",
        "--from",
        "2026-06-01",
        "--to",
        "2026-11-30",
    ]
    args += ["--quiet"]
    res = CliRunner().invoke(
        main, [*args, "--at", province.at.isoformat(), "--json", str(tmp_path / "r.json")], env=env
    )
    assert res.exit_code == 1, res.output
    assert "1 only live" in res.output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [e["finding_id"] for e in report["check"]["examples"]["only_live"]] == ["forged-1"]
