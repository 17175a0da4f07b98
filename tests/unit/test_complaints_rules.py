"""The complaint cards: each at its working-day moment (across Spring Festival 2026), once, in any arrival order."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from complaints import repeat
from complaints.config import ComplaintsConfig, ComplaintsConfigError, load_complaints_config
from complaints.contract import ComplaintMessage, Received
from complaints.rules import Complaint, apply, due, next_due, pending
from schemas.findings import Category, Severity
from streams.rules.calendar import WorkCalendar
from tests.complaints_support import msg, t

CAL = WorkCalendar()
CFG = load_complaints_config()
EPS = timedelta(seconds=1)


def complaint(*messages: ComplaintMessage, cid: str = "CP-1") -> Complaint:
    c = Complaint(cid)
    for m in messages:
        apply(c, m)
    return c


def cards(c: Complaint) -> dict[str, tuple[object, ...]]:
    return {f.rule: (moment, f.severity, f.category) for moment, f in pending(c, CFG, CAL)}


def test_default_config() -> None:
    assert (CFG.dispatch_wd, CFG.handle_wd, CFG.red_wd, CFG.max_extensions, CFG.unsatisfied_red) == (3, 5, 10, 2, 2)
    with pytest.raises(ValueError, match="red_wd"):
        ComplaintsConfig(handle_wd=5, red_wd=5)


def test_bad_config_file_names_the_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "c.yaml"
    bad.write_text("complaints: {dispatch_wd: 0}", encoding="utf-8")
    with pytest.raises(ComplaintsConfigError, match="dispatch_wd"):
        load_complaints_config(bad)


def test_dispatch_late_across_spring_festival() -> None:
    # Received Fri 13 Feb; Sat 14 Feb is a 调休 working day, 15-23 Feb the holiday: days 14, 24, 25 → 24:00 of 25th.
    c = complaint(msg("CP-1", "received", t(2026, 2, 13, 10)))
    moment, severity, category = cards(c)["CMP_DISPATCH_LATE"]
    assert moment == t(2026, 2, 26) and severity == Severity.notice and category == Category.complaint_handling
    assert due(c, t(2026, 2, 26) - EPS, CFG, CAL)[1] == []
    (f,) = due(c, t(2026, 2, 26), CFG, CAL)[1]
    assert f.details["last_day"] == "2026-02-25" and f.deadline == t(2026, 2, 26)
    assert f.case_id == "CP-1" and f.department_id == "DZ-1" and f.region_code == "511702"
    assert f.evidence_event_ids == [c.of(Received)[0].message_id]
    assert due(c, t(2026, 3, 1), CFG, CAL)[1] == []  # once
    # Dispatched on the last day (at 23:59) is in time.
    ok = complaint(msg("CP-1", "received", t(2026, 2, 13, 10)), msg("CP-1", "dispatched", t(2026, 2, 25, 23, 59)))
    assert "CMP_DISPATCH_LATE" not in cards(ok)


def test_reply_yellow_then_red_with_an_extension() -> None:
    # Dispatched Mon 2 Mar: 5 WD → Mon 9 Mar 24:00; 10 WD → Mon 16 Mar 24:00.
    base = [msg("CP-1", "received", t(2026, 3, 2, 9)), msg("CP-1", "dispatched", t(2026, 3, 2, 15))]
    got = cards(complaint(*base))
    assert got["CMP_REPLY_LATE"][:2] == (t(2026, 3, 10), Severity.yellow)
    assert got["CMP_REPLY_LATE_RED"][:2] == (t(2026, 3, 17), Severity.red)
    # An extension of 2 WD granted before the yellow limit moves both limits.
    ext = msg("CP-1", "extended", t(2026, 3, 5), extra_wd=2)
    got = cards(complaint(*base, ext))
    assert got["CMP_REPLY_LATE"][0] == t(2026, 3, 12) and got["CMP_REPLY_LATE_RED"][0] == t(2026, 3, 19)
    # One granted after the yellow limit has passed moves only the red one.
    late_ext = msg("CP-1", "extended", t(2026, 3, 11), extra_wd=2)
    got = cards(complaint(*base, late_ext))
    assert got["CMP_REPLY_LATE"][0] == t(2026, 3, 10) and got["CMP_REPLY_LATE_RED"][0] == t(2026, 3, 19)
    # A reply between the limits: yellow only.
    got = cards(complaint(*base, msg("CP-1", "replied", t(2026, 3, 12))))
    assert "CMP_REPLY_LATE" in got and "CMP_REPLY_LATE_RED" not in got


def test_reply_across_a_holiday() -> None:
    # Dispatched Thu 12 Feb: 13, 14 (调休 Sat), 24, 25, 26 → yellow at 27 Feb 00:00.
    c = complaint(msg("CP-1", "received", t(2026, 2, 12, 9)), msg("CP-1", "dispatched", t(2026, 2, 12, 10)))
    assert cards(c)["CMP_REPLY_LATE"][0] == t(2026, 2, 27)


def test_reopening_starts_a_new_round() -> None:
    c = complaint(
        msg("CP-1", "received", t(2026, 3, 2, 9)),
        msg("CP-1", "dispatched", t(2026, 3, 2, 10)),
        msg("CP-1", "replied", t(2026, 3, 4)),
        msg("CP-1", "evaluated", t(2026, 3, 5), rating="unsatisfied"),
        msg("CP-1", "reopened", t(2026, 3, 6, 9)),
    )
    rounds = [(m, f.rule) for m, f in pending(c, CFG, CAL)]
    assert (t(2026, 3, 14), "CMP_REPLY_LATE") in rounds  # Fri 6 Mar + 5 WD = Fri 13 Mar
    assert all(m > t(2026, 3, 6) for m, r in rounds if r.startswith("CMP_REPLY"))


def test_third_extension_is_red() -> None:
    base = [msg("CP-1", "received", t(2026, 3, 2, 9)), msg("CP-1", "dispatched", t(2026, 3, 2, 10))]
    exts = [msg("CP-1", "extended", t(2026, 3, 3 + i), key=str(i), extra_wd=1) for i in range(3)]
    assert "CMP_EXTENDED_TOO_OFTEN" not in cards(complaint(*base, *exts[:2]))
    moment, severity, _ = cards(complaint(*base, *exts))["CMP_EXTENDED_TOO_OFTEN"]
    assert moment == t(2026, 3, 5) and severity == Severity.red


def test_second_unsatisfied_is_red_and_final_unsatisfied_is_satisfaction() -> None:
    base = [
        msg("CP-1", "received", t(2026, 3, 2, 9)),
        msg("CP-1", "dispatched", t(2026, 3, 2, 10)),
        msg("CP-1", "replied", t(2026, 3, 3)),
        msg("CP-1", "evaluated", t(2026, 3, 4), rating="unsatisfied"),
    ]
    assert "CMP_UNSATISFIED_AGAIN" not in cards(complaint(*base))
    again = msg("CP-1", "evaluated", t(2026, 3, 9), key="2", rating="unsatisfied")
    closed = msg("CP-1", "closed", t(2026, 3, 10))
    got = cards(complaint(*base, again, closed))
    assert got["CMP_UNSATISFIED_AGAIN"] == (t(2026, 3, 9), Severity.red, Category.complaint_handling)
    assert got["CMP_UNSATISFIED_FINAL"] == (t(2026, 3, 10), Severity.yellow, Category.satisfaction)
    happy = msg("CP-1", "evaluated", t(2026, 3, 9), key="2", rating="satisfied")
    assert "CMP_UNSATISFIED_FINAL" not in cards(complaint(*base, happy, closed))


@pytest.mark.parametrize(
    ("category", "heading", "severity"),
    [
        ("attitude", Category.attitude, Severity.yellow),
        ("efficiency", Category.attitude, Severity.yellow),
        ("fees", Category.integrity, Severity.yellow),
        ("misconduct", Category.integrity, Severity.red),
    ],
)
def test_substantiated_by_category(category: str, heading: Category, severity: Severity) -> None:
    c = complaint(
        msg("CP-1", "received", t(2026, 3, 2, 9), category=category, case_id="DZ-2026-7"),
        msg("CP-1", "dispatched", t(2026, 3, 2, 10)),
        msg("CP-1", "replied", t(2026, 3, 3)),
        msg("CP-1", "closed", t(2026, 3, 4), substantiated=True, finding="属实"),
    )
    (f,) = [f for _, f in pending(c, CFG, CAL) if f.rule == "CMP_SUBSTANTIATED"]
    assert (f.category, f.severity, f.detected_at) == (heading, severity, t(2026, 3, 4))
    # A complaint about a case joins that case's evidence; the id stays on the complaint.
    assert f.case_id == "DZ-2026-7" and f.details["complaint_id"] == "CP-1"


def test_order_and_duplicates_do_not_matter() -> None:
    ms = [
        msg("CP-1", "received", t(2026, 3, 2, 9)),
        msg("CP-1", "dispatched", t(2026, 3, 5, 10)),
        *[msg("CP-1", "extended", t(2026, 3, 6 + i), key=str(i), extra_wd=1) for i in range(3)],
        msg("CP-1", "evaluated", t(2026, 3, 20), rating="unsatisfied"),
    ]
    want = sorted(f.finding_id for _, f in pending(complaint(*ms), CFG, CAL))
    rng = random.Random(7)
    for _ in range(20):
        shuffled = ms * 2
        rng.shuffle(shuffled)
        c = complaint(*shuffled)
        assert sorted(f.finding_id for _, f in pending(c, CFG, CAL)) == want
    assert next_due(complaint(*ms), CFG, CAL) == t(2026, 3, 8)  # the third extension (Sun 8 Mar)


def test_repeated_substantiated_against_one_staff_member() -> None:
    def sub(i: int, day: int, staff: str = "s-9") -> Complaint:
        cid = f"CP-{i}"
        return complaint(
            msg(cid, "received", t(2026, 3, day, 9), staff_id=staff, department_id="DZ-9"),
            msg(cid, "closed", t(2026, 3, day, 17), substantiated=True, finding="属实"),
            cid=cid,
        )

    two = [sub(1, 2), sub(2, 9)]
    assert repeat.pending(two, CFG, CAL) == []
    three = [*two, sub(3, 16)]
    got = repeat.pending(three, CFG, CAL)
    assert {(f.details["subject_kind"], f.details["subject_id"]) for _, f in got} == {
        ("staff", "s-9"),
        ("department", "DZ-9"),
    }
    assert all(m == t(2026, 3, 16, 17) and f.severity == Severity.red for m, f in got)
    # A fourth within the period is the same wave; others outside the period never add up.
    assert len(repeat.pending([*three, sub(4, 20)], CFG, CAL)) == 2
    far = [sub(1, 2), sub(2, 9), complaint(*[m for m in sub(3, 1).messages.values()], cid="CP-3")]
    assert len(repeat.pending(far, ComplaintsConfig(repeat={"count": 3, "days": 5}), CAL)) == 0
    fired: set[str] = set()
    assert len(repeat.due(three, fired, t(2026, 3, 16, 17), CFG, CAL)) == 2
    assert repeat.due(three, fired, t(2026, 4, 1), CFG, CAL) == []
