"""The what-if's pure parts: comparing findings by id, the breakdowns, monthly scores and ranks, distributions."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from schemas.scoring import load_scoring
from streams.rules import WorkCalendar
from whatif.diff import GROUPINGS, breakdown, compare, consistency
from whatif.model import FindingRow, Finished
from whatif.report import Side, distribution, dumps, rank_changes, scenario_side, side_scores
from whatif.scores import counts, late_cases, monthly, region_prefix
from whatif.source import Window

JUNE = date(2026, 6, 1)


def f(
    fid: str,
    case: str = "c1",
    rule: str = "TIME_DECISION_OVERDUE",
    sev: str = "yellow",
    cat: str = "time",
    staff: str = "s1",
    dept: str = "D1",
    day: str = "2026-06-10",
    region: str = "511702",
) -> FindingRow:
    return FindingRow(fid, case, rule, cat, sev, staff, dept, region, f"{day} 10:00:00", "")


def test_compare_sorts_added_removed_and_changed_by_id() -> None:
    before = [f("b"), f("a"), f("x")]
    after = [f("c"), f("a"), dataclasses.replace(f("x"), severity="red")]
    c = compare(before, after)
    assert [r.finding_id for r in c.added] == ["c"]
    assert [r.finding_id for r in c.removed] == ["b"]
    assert [(b.severity, a.severity) for b, a in c.changed] == [("yellow", "red")]
    assert compare(before, list(reversed(before))).empty


def test_an_id_twice_with_other_content_is_refused() -> None:
    with pytest.raises(ValueError, match="finding a appears twice"):
        compare([f("a"), dataclasses.replace(f("a"), staff_id="s2")], [])


def test_breakdown_counts_each_group_and_keeps_a_few_examples() -> None:
    c = compare([f("r1", staff="s2")], [f(f"n{i}", staff="s1") for i in range(5)])
    by_staff = breakdown(c, GROUPINGS["staff"], examples=2)
    assert [(g["key"], g["added"], g["removed"], g["net"]) for g in by_staff] == [("s1", 5, 0, 5), ("s2", 0, 1, -1)]
    assert [e["finding_id"] for e in by_staff[0]["examples"]["added"]] == ["n0", "n1"]
    assert "removed" not in by_staff[0]["examples"]


def test_consistency_names_what_only_one_side_has() -> None:
    check = consistency([f("a"), f("b")], [f("b"), f("c")])
    assert not check["ok"] and (check["only_live"], check["only_replay"]) == (1, 1)
    assert check["examples"]["only_live"][0]["finding_id"] == "a"
    assert consistency([f("a")], [f("a")])["ok"]


def test_counted_findings_follow_the_loop_decisions() -> None:
    model = load_scoring()
    assert counts(model, "a", {}) and counts(model, "a", {"a": "confirmed"})
    assert not counts(model, "a", {"a": "dismissed"})
    strict = model.model_copy(update={"pending_findings_count": False})
    assert not counts(strict, "a", {}) and counts(strict, "a", {"a": "confirmed"})


def test_region_prefixes() -> None:
    assert (region_prefix("510000"), region_prefix("511700"), region_prefix("511702")) == ("51", "5117", "511702")
    with pytest.raises(ValueError):
        region_prefix("51")


def finished(case: str, staff: str, dept: str, day: str, deadline: date) -> Finished:
    return Finished(case, dept, staff, "511702", f"{day} 16:00:00", deadline)


def test_monthly_scores_by_the_city_rule_worked_by_hand() -> None:
    """D1: two yellows (−10) and three notices (−3), one case finished early (+10: 100 % early) → 97.
    D2: one red card (−10), one late case finished (0 % early) → 90. D3 has only a dismissed red: not ranked."""
    model, cal = load_scoring(), WorkCalendar()
    findings = [
        f("y1", case="c1"),
        f("y2", case="c2"),
        *(f(f"n{i}", case="c3", sev="notice", rule="TIME_DECISION_NOTICE") for i in range(3)),
        f("r1", case="c4", dept="D2", staff="s2", sev="red", rule="TIME_DECISION_RED"),
        f("r2", case="c5", dept="D3", staff="s3", sev="red", rule="TIME_DECISION_RED"),
        f("other-month", day="2026-07-01"),
    ]
    done = [
        finished("c9", "s1", "D1", "2026-06-02", date(2026, 6, 30)),  # weeks left: early
        finished("c4", "s2", "D2", "2026-06-20", date(2026, 6, 30)),  # carries a red time card: late
    ]
    decisions = {"r2": "dismissed"}
    late = late_cases(model, findings, decisions)
    assert late == {"c1", "c2", "c4"}
    got = monthly(model, cal, "department", "510000", [JUNE], findings, done, late, decisions)
    assert {k[1]: (s.score, s.rank) for k, s in got.items()} == {"D1": (97.0, 1), "D2": (90.0, 2)}
    d1 = got[(JUNE, "D1")]
    assert (d1.yellows, d1.notices, d1.cases_finished, d1.bonus, d1.on_time_rate) == (2, 3, 1, 10.0, 1.0)
    # A heading's deductions stop at its cap (time limits: 14).
    many = [f(f"y{i}") for i in range(5)]
    assert monthly(model, cal, "staff", "511702", [JUNE], many, [], set(), {})[(JUNE, "s1")].score == 86.0


def test_ties_rank_by_on_time_rate_then_by_the_smaller_id() -> None:
    model, cal = load_scoring(), WorkCalendar()
    done = [
        finished("c1", "s1", "B", "2026-06-25", date(2026, 6, 26)),
        finished("c2", "s2", "A", "2026-06-25", date(2026, 6, 26)),
    ]
    rows = [f("y", case="c2", dept="A", staff="s2"), f("y2", case="c1", dept="B", staff="s1", sev="notice")]
    got = monthly(model, cal, "department", "510000", [JUNE], rows[1:], done, {"c2"}, {})
    assert [got[(JUNE, d)].rank for d in ("B", "A")] == [1, 2]  # same score 100; B on time, A late


def test_scenario_side_replaces_only_the_window_cases() -> None:
    model, cal = load_scoring(), WorkCalendar()
    live = Side(
        model, cal, [f("a", case="in"), f("b", case="out"), f("q", case="in", rule="DQ_AHEAD_OF_RECEIPT")], [], []
    )
    scen = scenario_side(live, model, cal, {"in"}, [f("z", case="in")], [])
    assert sorted(r.finding_id for r in scen.findings) == ["b", "q", "z"]


def test_rank_changes_and_distribution() -> None:
    model, cal = load_scoring(), WorkCalendar()
    before = Side(model, cal, [f("y", dept="A")], [], [])
    b_cards = [f(f"y{i}", dept="B", staff="s2", case="c2") for i in (2, 3)]
    after = Side(model, cal, [f("y", dept="A"), *b_cards], [], [])
    b = side_scores(before, "department", "510000", [JUNE], {})
    a = side_scores(after, "department", "510000", [JUNE], {})
    moved = rank_changes("510000", b, a)
    assert [(r["entity"], r["rank_before"], r["rank_after"], r["score_after"]) for r in moved] == [("B", None, 2, 90.0)]
    d = distribution([95.0, 90.0, 100.0, 105.0, 0.0])
    assert d["bins"]["90-100"] == 2 and d["bins"]["100+"] == 2 and d["bins"]["0-10"] == 1
    assert (d["n"], d["min"], d["median"], d["max"]) == (5, 0.0, 95.0, 105.0)


def test_the_json_is_deterministic_and_keys_sorted() -> None:
    r = {"b": 1, "a": {"z": [3, 1], "y": "中"}}
    assert dumps(r) == dumps(dict(reversed(list(r.items()))))
    assert dumps(r).index('"a"') < dumps(r).index('"b"') and "中" in dumps(r)


def test_windows() -> None:
    w = Window(date(2026, 6, 15), date(2026, 8, 2))
    assert w.months() == [date(2026, 6, 1), date(2026, 7, 1), date(2026, 8, 1)]
    lo, hi = w.bounds()
    assert hi - lo == 49 * 86400
    with pytest.raises(ValueError, match="before"):
        Window(date(2026, 6, 2), date(2026, 6, 1))
    with pytest.raises(ValueError):
        Window(date(2026, 6, 1), date(2026, 6, 2), "5101")


def sample_report() -> dict[str, object]:
    from whatif.report import findings_section, scores_section

    model, cal = load_scoring(), WorkCalendar()
    before = [f("a"), f("b", staff="s2")]
    after = [f("a"), f("<c>", rule="TIME_DECISION_PROMISE_BREACHED")]
    live, scen = Side(model, cal, before, [], []), Side(model, cal, after, [], [])
    scores, _ = scores_section({"510000": (live, scen)}, [JUNE], {})
    return {
        "window": {
            "from": "2026-06-01",
            "to": "2026-06-30",
            "region": None,
            "timers_run_to": "2026-07-01T00:00:00+08:00",
            "cases": 2,
            "events": 9,
            "events_refused_by_the_contract": 0,
        },
        "configuration": {"baseline": {"catalog": "a"}, "scenario": {"catalog": "b"}, "changed": ["catalog"]},
        "check": {**consistency(before, before), "finished_cases_differ": 0},
        "findings": findings_section(compare(before, after), 2, 2),
        "scores": scores,
    }


def test_the_page_and_the_terminal_show_the_same_tables() -> None:
    import io

    from rich.console import Console

    from whatif.render import html, terminal

    report = sample_report()
    page = html(report)
    assert page == html(sample_report())  # deterministic
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "&lt;c&gt;" in page and "<c>" not in page  # ids are escaped
    assert "TIME_DECISION_PROMISE_BREACHED" in page and "yes, id for id" in page
    out = io.StringIO()
    terminal(report, Console(file=out, width=200))
    text = out.getvalue()
    assert "Findings by rule" in text and "TIME_DECISION_PROMISE_BREACHED" in text and "<c>" in text
    assert "Score and rank changes: department" in text
