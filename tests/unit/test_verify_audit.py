"""`esup verify`'s audit checks on their own: a decision the API did not audit is named."""

from __future__ import annotations

import json

from sinks.verify_audit import audited_message_ids, check_decisions


def test_a_decision_without_an_api_audit_record_is_named() -> None:
    details = [
        json.dumps({"message_id": "m1", "offset": 4, "partition": 0}),  # the API's record of m1
        json.dumps({"message_id": "m3", "simulated": True}),  # the simulated supervisors', as the API writes it
        json.dumps({"username": "jc-5117"}),  # a login: names no message
        "not json",
        json.dumps(["m2"]),
        json.dumps({"message_id": 2}),
    ]
    audited = audited_message_ids(details)
    assert audited == {"m1", "m3"}
    decisions = [
        {"message_id": "m1", "finding_id": "f1"},
        {"message_id": "m2", "finding_id": "f2"},  # written behind the API's back
        {"message_id": "m3", "finding_id": "f3"},
    ]
    got = check_decisions(decisions, audited)
    assert [(p.kind, p.finding_id) for p in got] == [("unaudited", "f2")]
    assert "m2" in got[0].detail
    assert check_decisions(decisions, audited | {"m2"}) == []


def _record(i: int) -> dict:
    from datetime import datetime

    from streams.rules.calendar import TZ

    return {
        "audit_id": f"a{i}",
        "at": datetime(2026, 3, 2, 9, 0, i, 250_000, tzinfo=TZ),
        "actor_id": "jc-5117",
        "role": "supervisor",
        "action": "decide",
        "method": "POST",
        "path": "/findings/f/decisions",
        "finding_id": "f",
        "status": 202,
        "detail": json.dumps({"message_id": f"m{i}"}),
        "chain": "c",
        "prev_hash": "",
        "hash": f"h{i}",
    }


def test_audit_log_rows_deleted_edited_or_inserted_behind_the_topic_are_named() -> None:
    from sinks.verify_audit import check_audit

    api = "esup-api"
    topic = {(f"a{i}", api): _record(i) for i in range(4)}
    # As ClickHouse holds them: `at` to the second.
    table = {k: {**v, "at": int(v["at"].timestamp())} for k, v in topic.items()}
    assert check_audit(topic, table, complete=True) == []
    del table[("a0", api)]
    table[("a1", api)] = {**table[("a1", api)], "status": 403}
    table[("a2", api)] = {**table[("a2", api)], "detail": json.dumps({"message_id": "forged"})}
    table[("a9", api)] = {**table[("a3", api)], "hash": "h9"}
    table[("a3", "esup-clock")] = table.pop(("a3", api))  # its writer changed in ClickHouse
    got = {(p.kind, p.finding_id) for p in check_audit(topic, table, complete=True)}
    assert got == {
        ("deleted", "a0"),
        ("edited", "a1"),
        ("edited", "a2"),
        ("inserted", "a9"),
        ("deleted", "a3"),
        ("inserted", "a3"),
    }
    # When retention removed the topic's oldest records, a row it does not hold may be older: not named.
    assert ("inserted", "a9") not in {(p.kind, p.finding_id) for p in check_audit(topic, table, complete=False)}


def test_a_record_its_writer_may_not_make_is_named_forged_with_its_topic_and_action() -> None:
    from sinks.verify_audit import check_forged

    records = [
        ("esup-api", _record(1)),  # the API's own decision record
        ("esup-clock", _record(2)),  # the clock claiming a supervisor's decision
        ("legacy", _record(3)),  # the shared topic of earlier versions: cannot be judged
        ("esup-api", _record(1)),  # a producer's retry: the same record again
    ]
    topics = {"esup-api": "esup.audit.api", "esup-clock": "esup.audit.clock", "legacy": "esup.audit"}
    got = check_forged(records, topics)
    assert [(p.kind, p.finding_id) for p in got] == [("forged", "a2")]
    assert "esup.audit.clock" in got[0].detail and "decide" in got[0].detail and "esup-clock" in got[0].detail


def test_a_forged_record_covered_by_a_harmless_one_of_the_same_id_is_still_named_and_the_rewrite_too() -> None:
    """The last copy of an audit id is what audit_log keeps: a writer posting a forged record and then an
    ordinary one under its id must not hide the forgery."""
    from sinks.verify_audit import check_forged

    forged = _record(2)
    harmless = {**forged, "action": "clock.advance", "role": "kafka:esup-clock", "actor_id": "esup-clock"}
    got = check_forged([("esup-clock", forged), ("esup-clock", harmless)], {"esup-clock": "esup.audit.clock"})
    assert [(p.kind, p.finding_id) for p in got] == [("forged", "a2"), ("rewritten", "a2")]
    assert "action" in got[1].detail and "esup.audit.clock" in got[1].detail
