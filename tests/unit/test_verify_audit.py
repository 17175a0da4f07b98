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
