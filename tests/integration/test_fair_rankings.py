"""Fair rankings on the real ClickHouse: the reader's cells against the definition applied to the rows inserted,
and `esup rankings --fair` beside the official raw ranking.

The rows are built from a small list of cases and cards; `oracle` applies the definition (sinks/fair_reader.py
docstring) to that list in plain Python, so the expected cells are never written by hand.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from esup.cli import main
from esup.stack.servers import Provided
from sinks.fair import Cell, fair_rankings
from sinks.fair_reader import read
from tests.integration.analytics_db import cli_env, fresh_database, insert, refresh_board

pytestmark = pytest.mark.integration

DB = "esup_test_fair"
TZ = ZoneInfo("Asia/Shanghai")
JUNE, MAY = date(2026, 6, 1), date(2026, 5, 1)
_ids = itertools.count(1)


@dataclass(frozen=True)
class Case:
    case_id: str
    dept: str
    staff: str
    region: str
    item: str
    procedure: str  # '' none
    first: date
    last: date
    open: bool


@dataclass(frozen=True)
class Card:
    case_id: str
    dept: str
    staff: str
    region: str
    day: date
    severity: str = "yellow"
    dismissed: bool = False


def t(d: date, hour: int = 10) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=TZ)


def province_rows() -> tuple[list[Case], list[Card]]:
    """Two provinces; hard land-use items with hearings, simple registrations, and every edge of the definition."""
    cases: list[Case] = []
    cards: list[Card] = []

    def add(dept: str, region: str, item: str, proc: str, n: int, staff: str, first: date = date(2026, 6, 2)) -> None:
        for _ in range(n):
            cid = f"{dept}-c{next(_ids)}"
            cases.append(Case(cid, dept, staff, region, item, proc, first, date(2026, 6, 20), False))

    add("LAND-1", "511702", "LAND", "hearing", 6, "s-l1")
    add("LAND-1", "511702", "LAND", "", 4, "s-l1")
    add("REG-1", "511703", "REG", "", 20, "s-r1")
    add("REG-2", "510104", "REG", "", 15, "s-r2")
    add("REG-2", "510104", "LAND", "", 3, "s-r2")
    add("MIX-1", "510105", "LAND", "hearing", 2, "s-m1")
    add("MIX-1", "510105", "REG", "", 8, "s-m1")
    add("GZ-1", "520102", "REG", "", 5, "s-g1")  # another province: its own reference
    add("GZ-2", "520103", "LAND", "", 3, "s-g2")
    # May's cases (the reference window), one still open in June with no event in it (a timer's case).
    add("LAND-1", "511702", "LAND", "hearing", 3, "s-l1", first=date(2026, 5, 4))
    add("REG-1", "511703", "REG", "", 6, "s-r1", first=date(2026, 5, 6))
    may = cases[-9:]
    cases[-9:] = [
        Case(c.case_id, c.dept, c.staff, c.region, c.item, c.procedure, c.first, date(2026, 5, 25), False) for c in may
    ]
    cases.append(Case("REG-2-open", "REG-2", "s-r2", "510104", "REG", "", date(2026, 4, 20), date(2026, 4, 22), True))

    def carded(dept: str, k: int, day: date, **kw: Any) -> None:
        for c in [c for c in cases if c.dept == dept][:k]:
            cards.append(Card(c.case_id, dept, c.staff, c.region, day, **kw))

    carded("LAND-1", 5, date(2026, 6, 8))
    carded("LAND-1", 2, date(2026, 6, 15), severity="red")
    carded("REG-1", 1, date(2026, 6, 9))
    carded("REG-2", 2, date(2026, 6, 10))
    carded("MIX-1", 2, date(2026, 6, 11))
    carded("GZ-2", 1, date(2026, 6, 12))
    cards.append(Card("REG-2-open", "REG-2", "s-r2", "510104", date(2026, 6, 16), severity="red"))
    cards.append(Card(may[0].case_id, "LAND-1", "s-l1", "511702", date(2026, 5, 20)))  # May: reference only
    cards.append(Card(may[4].case_id, "REG-1", "s-r1", "511703", date(2026, 5, 21)))
    # Costs nothing (dismissed), not a card (notice, below), no licensing case (complaint): none counts.
    cards.append(Card(cases[12].case_id, "REG-1", "s-r1", "511703", date(2026, 6, 9), dismissed=True))
    cards.append(Card("CMP-77", "REG-1", "s-r1", "511703", date(2026, 6, 9)))
    # A card addressed to another staff member than the case's responsible one: the case counts for both.
    cards.append(Card(cases[13].case_id, "REG-1", "s-x", "511703", date(2026, 6, 12)))
    return cases, cards


def oracle(cases: list[Case], cards: list[Card], kind: str, start: date, end: date) -> list[Cell]:
    """The definition, plainly: a case counts when open in [start, end) or carded there; cards that count."""
    who = (lambda x: x.dept) if kind == "department" else (lambda x: x.staff)
    by_id = {c.case_id: c for c in cases}
    pairs: set[tuple[str, str]] = set()
    n_cards: Counter[tuple[str, str]] = Counter()
    for c in cases:
        if c.first < end and (c.open or c.last >= start):
            pairs.add((who(c), c.case_id))
    for k in cards:
        if start <= k.day < end and not k.dismissed and k.case_id in by_id:
            pairs.add((who(k), k.case_id))
            n_cards[(who(k), k.case_id)] += 1
    cells: Counter[tuple[str, str, str]] = Counter()
    counted: Counter[tuple[str, str, str]] = Counter()
    for entity, cid in pairs:
        key = (entity, by_id[cid].item, by_id[cid].procedure)
        cells[key] += 1
        counted[key] += n_cards[(entity, cid)]
    return sorted(Cell(e, i, p, n, counted[(e, i, p)]) for (e, i, p), n in cells.items())


def table_rows(cases: list[Case], cards: list[Card]) -> dict[str, list[dict[str, Any]]]:
    snapshots, events, findings, messages = [], [], [], []
    for c in cases:
        snapshots.append(
            {
                "case_id": c.case_id,
                "item_code": c.item,
                "department_id": c.dept,
                "region_code": c.region,
                "responsible_staff": c.staff,
                "first_staff": c.staff,
                "stage": "accepted" if c.open else "concluded",
                "outcome": None if c.open else "granted",
                "open": int(c.open),
                "deemed_accepted": 0,
                "decision_deadline": t(date(2026, 7, 30)),
                "working_days_used": 0,
                "next_due": None,
                "last_event_at": t(c.last),
                "provisional": 0,
                "calendar_version": "test",
                "clocks": "[]",
                "updated_at": t(c.last),
                "version": 1,
            }
        )
        steps = [("apply", c.first, "{}")]
        if c.procedure:
            steps.append(("suspend", c.first, json.dumps({"procedure": c.procedure, "reason": "r"})))
        if c.last > c.first:
            steps.append(("review" if c.open else "approve", c.last, "{}"))
        for n, (kind, day, payload) in enumerate(steps):
            events.append(
                {
                    "event_id": f"{c.case_id}-{n}",
                    "case_id": c.case_id,
                    "kind": kind,
                    "schema_version": 1,
                    "item_code": c.item,
                    "department_id": c.dept,
                    "region_code": c.region,
                    "staff_id": c.staff,
                    "occurred_at": t(day, 9 + n),
                    "recorded_at": t(day, 9 + n),
                    "payload": payload,
                    "source_partition": 0,
                    "source_offset": n,
                }
            )
    notice = Card(cases[14].case_id, "REG-1", "s-r1", "511703", date(2026, 6, 9), severity="notice")
    for k in [*cards, notice]:
        fid = f"F{next(_ids)}"
        findings.append(
            {
                "finding_id": fid,
                "schema_version": 1,
                "case_id": k.case_id,
                "rule": "TIME_X",
                "category": "time",
                "severity": k.severity,
                "title": "t",
                "message": "m",
                "staff_id": k.staff,
                "department_id": k.dept,
                "region_code": k.region,
                "item_code": "",
                "detected_at": t(k.day),
                "deadline": None,
                "law_article": None,
                "evidence_event_ids": [],
                "calendar_version": "test",
                "provisional": 0,
                "details": "{}",
                "version": 1,
            }
        )
        if k.dismissed:
            messages.append(
                {
                    "message_id": f"m-{fid}",
                    "finding_id": fid,
                    "type": "decision",
                    "schema_version": 1,
                    "actor_id": "sup",
                    "department_id": "",
                    "at": t(k.day, 15),
                    "kind": "",
                    "outcome": "dismissed",
                    "reason": "data error",
                    "dismissal_reason": "data_error",
                    "recommendation": "",
                    "report_within_wd": 0,
                    "measure": "",
                    "target_kind": "",
                    "target_id": "",
                    "text": "",
                    "attachments": "[]",
                    "body": "{}",
                    "source_partition": 0,
                    "source_offset": 0,
                }
            )
    return {"case_snapshots": snapshots, "case_events": events, "findings": findings, "loop_messages": messages}


@pytest.fixture(scope="module")
def province() -> tuple[list[Case], list[Card]]:
    return province_rows()


def fill(client: Any, cases: list[Case], cards: list[Card]) -> None:
    """Insert the province's rows (also on the current engine: test_current_clickhouse)."""
    for table, rows in table_rows(cases, cards).items():
        if table == "loop_messages":  # the loop's table, not the sink's: a plain INSERT (as test_loop_rankings)
            cols = list(rows[0])
            client.execute(
                f"INSERT INTO loop_messages ({', '.join(cols)}) VALUES", [tuple(r[k] for k in cols) for r in rows]
            )
        else:
            insert(client, table, rows)


@pytest.fixture(scope="module")
def client(clickhouse_server: Provided, province: tuple[list[Case], list[Card]]) -> Iterator[Any]:
    c = fresh_database(clickhouse_server.address, DB)
    fill(c, *province)
    refresh_board(c)
    yield c
    c.disconnect()


@pytest.mark.parametrize("kind", ["department", "staff"])
def test_the_reader_gives_the_definitions_cells(
    client: Any, province: tuple[list[Case], list[Card]], kind: str
) -> None:
    got = read(client, kind, "month", JUNE, history=2)
    assert sorted(got.period) == oracle(*province, kind, JUNE, date(2026, 7, 1))
    assert sorted(got.reference) == sorted(
        oracle(*province, kind, MAY, JUNE) + oracle(*province, kind, JUNE, date(2026, 7, 1))
    )
    june = {c.entity: c for c in got.period}
    if kind == "department":
        assert got.regions["GZ-1"] == "520102" and got.departments["LAND-1"] == "LAND-1"
        assert "REG-2" in june  # the open case from April, quiet in June, still counts
    else:
        assert "s-x" in june and got.departments["s-x"] == "REG-1"
    only = read(client, kind, "month", JUNE, province="52")
    assert {got.regions[c.entity][:2] for c in only.period} == {"52"}


def _cli(server: Provided, *args: str) -> Any:
    run = CliRunner().invoke(
        main, ["rankings", "--at", "2026-06-20", "--database", DB, *args], env=cli_env(server.address)
    )
    assert run.exit_code == 0, run.output
    return run.output


def test_esup_rankings_fair_json_is_the_pure_ranking_beside_the_raw_one(
    client: Any, clickhouse_server: Provided, province: tuple[list[Case], list[Card]]
) -> None:
    fair = json.loads(_cli(clickhouse_server, "--region", "510000", "--fair", "--history", "2", "--json"))
    raw = {r["id"]: r for r in json.loads(_cli(clickhouse_server, "--region", "510000", "--json"))}
    june = [c for c in oracle(*province, "department", JUNE, date(2026, 7, 1)) if c.entity[:2] != "GZ"]
    ref = [
        c
        for c in oracle(*province, "department", MAY, JUNE) + oracle(*province, "department", JUNE, date(2026, 7, 1))
        if c.entity[:2] != "GZ"
    ]
    expected = fair_rankings(june, ref)
    compared = [e for e in fair if e["rank"] is not None]
    assert [e["id"] for e in compared] == [r.entity for r in expected]
    for e, r in zip(compared, expected, strict=True):
        assert (e["observed"], e["rank"], e["rank_low"], e["rank_high"], e["tie_group"]) == (
            r.observed,
            r.rank,
            r.rank_low,
            r.rank_high,
            r.tie_group,
        )
        assert e["expected"] == pytest.approx(r.expected) and e["shrunk"] == pytest.approx(r.shrunk)
        assert (e["raw_rank"], e["raw_score"]) == (raw[e["id"]]["rank"], raw[e["id"]]["score"])
    # Every raw row is there: those without a licensing case to compare come last, without fair figures.
    assert {e["id"] for e in fair} == set(raw) | {r.entity for r in expected}


def test_a_city_is_ranked_against_its_province(client: Any, clickhouse_server: Provided) -> None:
    whole = {e["id"]: e for e in json.loads(_cli(clickhouse_server, "--region", "510000", "--fair", "--json"))}
    city = json.loads(_cli(clickhouse_server, "--region", "511700", "--fair", "--json"))
    ids = [e["id"] for e in city if e["rank"] is not None]
    assert sorted(ids) == ["LAND-1", "REG-1"]
    for e in city:
        if e["rank"] is not None:
            assert e["expected"] == pytest.approx(whole[e["id"]]["expected"])  # the province's rates
            assert 1 <= e["rank_low"] <= e["rank_high"] <= 2


def test_esup_rankings_fair_table_explains_itself(client: Any, clickhouse_server: Provided) -> None:
    out = _cli(clickhouse_server, "--fair", "--by", "staff")
    lines = out.splitlines()
    assert lines[0].startswith("fair staff ranking, month from 2026-06-01, each province")
    assert lines[1].split()[:6] == ["fair", "range", "tie", "staff", "department", "raw"]
    assert "the official ranking is the raw score" in out
    assert any(line.split()[3:5] == ["s-x", "REG-1"] for line in lines[3:] if len(line.split()) > 5)
