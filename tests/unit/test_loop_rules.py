"""The loop's deadlines on real 2026 dates: Spring Festival (14 and 28 Feb worked) and National Day."""

from __future__ import annotations

import pytest

from loop.config import LoopConfig
from loop.rules import RECOMMENDATION_RULE, RESPONSE_RULE, Watch, apply, due, next_due
from streams.rules.calendar import WorkCalendar
from tests.loop_support import decision, finding, report, response, t

CAL = WorkCalendar()
CFG = LoopConfig()


def watch(f, *msgs):  # type: ignore[no-untyped-def]
    w = Watch(f.finding_id, finding=f)
    for m in msgs:
        apply(w, m, CFG)
    return w


def test_yellow_response_deadline_counts_the_adjusted_saturday_and_skips_the_festival() -> None:
    # Detected Fri 13 Feb; 3 WD: Sat 14 Feb (调休, worked), Tue 24, Wed 25 Feb -> 24:00 of 25 Feb.
    f = finding(t(2026, 2, 13, 10))
    w = watch(f)
    assert next_due(w, CFG, CAL) == t(2026, 2, 26)
    assert due(w, t(2026, 2, 25, 23, 59), CFG, CAL)[1] == []
    _, fired = due(w, t(2026, 3, 2), CFG, CAL)
    assert [x.rule for x in fired] == [RESPONSE_RULE]
    sup = fired[0]
    assert sup.detected_at == t(2026, 2, 26) and sup.category == "supervision" and sup.severity == "red"
    assert sup.details["last_day"] == "2026-02-25" and sup.details["escalated_to_region"] == "511700"
    assert due(w, t(2026, 3, 3), CFG, CAL)[1] == []  # fires once


def test_red_response_over_national_day() -> None:
    f = finding(t(2026, 9, 30, 16), severity="red", region="511700")
    w = watch(f)
    assert next_due(w, CFG, CAL) == t(2026, 10, 9)  # 1 WD: Thu 8 Oct
    _, fired = due(w, t(2026, 10, 9), CFG, CAL)
    assert fired[0].severity == "red" and fired[0].details["escalated_to_region"] == "510000"


def test_a_response_in_time_ends_the_duty_and_a_late_one_does_not_whatever_the_order() -> None:
    f = finding(t(2026, 2, 13, 10))
    assert due(watch(f, response(f, t(2026, 2, 25, 23))), t(2026, 3, 9), CFG, CAL)[1] == []
    late = watch(f, response(f, t(2026, 2, 26, 9)))
    assert [x.detected_at for x in due(late, t(2026, 3, 9), CFG, CAL)[1]] == [t(2026, 2, 26)]
    # A decision by the deadline (the supervisor took the matter on) ends it as well.
    assert due(watch(f, decision(f, t(2026, 2, 24, 9), "confirmed")), t(2026, 3, 9), CFG, CAL)[1] == []


def test_notices_and_supervision_findings_are_not_supervised() -> None:
    for f in (finding(t(2026, 2, 13), severity="notice"), finding(t(2026, 2, 13), category="supervision")):
        assert next_due(watch(f), CFG, CAL) is None


def test_recommendation_report_deadline() -> None:
    f = finding(t(2026, 9, 20, 10))
    rec = decision(f, t(2026, 9, 29, 15), "recommendation", recommendation="整改", report_within_wd=2)
    # Issued Tue 29 Sep: 2 WD are Wed 30 Sep and Thu 8 Oct -> 24:00 of 8 Oct.
    fired = due(watch(f, rec), t(2026, 10, 20), CFG, CAL)[1]
    by_rule = {x.rule: x for x in fired}
    assert by_rule[RECOMMENDATION_RULE].detected_at == t(2026, 10, 9)
    assert by_rule[RECOMMENDATION_RULE].details["recommendation_id"] == rec.message_id
    done = watch(f, rec, report(f, t(2026, 10, 8, 18)))
    assert RECOMMENDATION_RULE not in {x.rule for x in due(done, t(2026, 10, 20), CFG, CAL)[1]}
    withdrawn = watch(f, rec, decision(f, t(2026, 9, 30, 9), "dismissed", key="d2", dismissal_reason="data_error"))
    assert RECOMMENDATION_RULE not in {x.rule for x in due(withdrawn, t(2026, 10, 20), CFG, CAL)[1]}


def test_a_message_applied_twice_counts_once_and_ids_are_deterministic() -> None:
    f = finding(t(2026, 2, 13, 10))
    r = response(f, t(2026, 2, 26, 9))
    w = watch(f, r, r)
    assert len(w.responses) == 1
    a = due(watch(f), t(2026, 3, 2), CFG, CAL)[1]
    b = due(watch(f, r), t(2026, 3, 2), CFG, CAL)[1]
    assert [x.finding_id for x in a] == [x.finding_id for x in b]


def test_naive_now_is_refused() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="aware"):
        due(watch(finding(t(2026, 2, 13))), datetime(2026, 3, 1), CFG, CAL)  # noqa: DTZ001
