"""The loop contract: versioned messages, reasons that name the field, idempotent ids, JSON Schema."""

from __future__ import annotations

import json

import pytest

from loop.config import LoopConfigError, load_loop_config
from loop.contract import LoopMessageError, loop_json_schema, message_id, parse_message
from tests.loop_support import decision, finding, response, t


def test_round_trip_and_ids() -> None:
    f = finding(t(2026, 2, 13, 10))
    r = response(f, t(2026, 2, 24, 9))
    assert parse_message(r.model_dump_json().encode()) == r
    assert message_id("F", "response", "k") == message_id("F", "response", "k") != message_id("F", "response", "j")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "complaint"}, "kind"),
        ({"at": "2026-02-24T09:00:00"}, "at"),
        ({"attachments": [{"name": "a.pdf", "sha256": "xyz", "size_bytes": 1}]}, "attachments.0.sha256"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_errors_name_the_field(change: dict[str, object], field: str) -> None:
    raw = json.loads(response(finding(t(2026, 2, 13)), t(2026, 2, 24)).model_dump_json()) | change
    with pytest.raises(LoopMessageError) as err:
        parse_message(json.dumps(raw))
    assert err.value.reason.startswith(field + ":")


def test_bad_bytes_and_unknown_types() -> None:
    for raw, start in [(b"\xff", "<message>: not UTF-8"), (b"[1]", "<message>: expected"), (b"{}", "type:")]:
        with pytest.raises(LoopMessageError, match=start):
            parse_message(raw)


def test_decision_needs_the_fields_of_its_outcome() -> None:
    f = finding(t(2026, 2, 13))
    with pytest.raises(ValueError, match="dismissal_reason"):
        decision(f, t(2026, 2, 24), "dismissed")
    with pytest.raises(ValueError, match="measure"):
        decision(f, t(2026, 2, 24), "accountability", measure="reminder_talk")
    ok = decision(f, t(2026, 2, 24), "accountability", measure="reminder_talk", target_kind="head", target_id="DZ-1")
    assert ok.target_kind == "head"


def test_json_schema_has_the_three_types() -> None:
    schema = loop_json_schema()
    assert schema["title"] == "LoopMessage v1"
    assert {"Response", "Decision", "RecommendationReport"} <= set(schema["$defs"])


def test_config_default_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = load_loop_config()
    assert cfg.response_wd == {"yellow": 3, "red": 1} and cfg.measure_label("public_criticism") == "通报批评"
    bad = tmp_path / "loop.yaml"
    bad.write_text("loop: {response_wd: {yellow: 0}}", encoding="utf-8")
    with pytest.raises(LoopConfigError, match="response_wd"):
        load_loop_config(bad)
