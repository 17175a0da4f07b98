"""Messages to rows: every column of every table, and bad input skipped with a reason instead of a crash."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from schemas.control import DeadLetter
from schemas.events import event_to_json
from schemas.findings import Category, Finding, Severity, finding_id
from schemas.snapshots import CaseSnapshot, ClockView
from sinks.rows import COLUMNS, TABLE_OF, Record, convert
from sinks.writer import MemorySink, WriteFailed
from tests.support import at, event


def _record(value: bytes | None, *, key: bytes | None = b"C1", offset: int = 7, ts: int = 1_767_000_000_123) -> Record:
    return Record("topic", 2, offset, ts, key, value)


def _finding(**changes: object) -> Finding:
    base = Finding(
        finding_id=finding_id("C1", "FEE_ON_FREE_ITEM", "e2"),
        case_id="C1",
        rule="FEE_ON_FREE_ITEM",
        category=Category.fee,
        severity=Severity.red,
        title="免费事项收费",
        message="收取了费用",
        staff_id="s1",
        department_id="D1",
        region_code="511702",
        item_code="ITEM",
        detected_at=at("2026-03-02T09:10"),
        law_article="行政许可法 第58条",
        evidence_event_ids=["e2"],
        calendar_version="cn-2026",
        details={"amount_fen": 5, "名称": "x"},
    )
    return base.model_copy(update=changes)


def _snapshot(version: int, clocks: list[ClockView]) -> CaseSnapshot:
    return CaseSnapshot(
        case_id="C1",
        item_code="ITEM",
        department_id="D1",
        region_code="511702",
        responsible_staff="s2",
        first_staff="s1",
        stage="accepted",
        outcome=None,
        open=True,
        deemed_accepted=False,
        clocks=clocks,
        next_due=at("2026-03-31T00:00"),
        last_event_at=at("2026-03-02T10:00"),
        as_of=at("2026-03-02T10:00"),
        provisional=False,
        calendar_version="cn-2026",
        version=version,
    )


def test_every_table_row_has_exactly_its_columns() -> None:
    e = event("apply", "2026-03-02T09:00", case="C1", materials=["a"])
    clock = ClockView(
        name="decision",
        start="2026-03-02",
        deadline=at("2026-03-30T23:59:59"),
        promised_deadline=None,
        working_days_used=3,
        limit_wd=20,
        extension_wd=0,
        suspended=False,
        stopped=False,
    )
    letter = DeadLetter.of(
        reason="bad", topic="t", partition=0, offset=1, key=None, value=b"x", failed_at=datetime(2026, 3, 2, tzinfo=UTC)
    )
    cases = {
        "events": event_to_json(e).encode(),
        "findings": _finding().model_dump_json().encode(),
        "snapshots": _snapshot(3, [clock]).model_dump_json().encode(),
        "dead_letters": letter.model_dump_json().encode(),
    }
    for kind, value in cases.items():
        got = convert(kind, _record(value))  # type: ignore[arg-type]
        assert got.invalid is None and got.row is not None
        assert got.table == TABLE_OF[kind]  # type: ignore[index]
        assert tuple(got.row) == COLUMNS[got.table]


def test_event_row_keeps_the_payload_as_json_and_the_source_position() -> None:
    e = event("fee_charged", "2026-03-02T09:10", case="C1", event_id="E9", fee_code="F", amount_fen=500)
    row = convert("events", _record(event_to_json(e).encode(), offset=41)).row
    assert row is not None
    assert row["event_id"] == "E9" and row["kind"] == "fee_charged" and row["schema_version"] == 1
    assert json.loads(row["payload"]) == {"fee_code": "F", "amount_fen": 500}
    assert (row["source_partition"], row["source_offset"]) == (2, 41)
    assert row["occurred_at"] == at("2026-03-02T09:10") and row["occurred_at"].tzinfo is not None


@pytest.mark.parametrize(
    ("value", "key", "why"),
    [
        (b"\xff", b"C1", "not UTF-8"),
        (b"{}", b"C1", "discriminator 'kind'"),
        (b'{"kind": "apply"}', b"C1", "event_id"),
        (None, b"C1", "invalid JSON"),
        (b"[1]", b"C1", "expected a JSON object"),
    ],
)
def test_invalid_events_are_skipped_with_the_contract_reason(value: bytes | None, key: bytes, why: str) -> None:
    got = convert("events", _record(value, key=key))
    assert got.row is None and got.invalid is not None and why in got.invalid


def test_an_event_not_keyed_by_its_case_is_skipped_as_the_workers_dead_letter_it() -> None:
    e = event("apply", "2026-03-02T09:00", case="C1")
    got = convert("events", _record(event_to_json(e).encode(), key=b"C2"))
    assert got.row is None and got.invalid is not None and "is not the case id" in got.invalid


def test_finding_version_is_the_message_timestamp_so_the_same_message_gives_the_same_row() -> None:
    value = _finding(provisional=True, deadline=at("2026-03-30T23:59:59")).model_dump_json().encode()
    first = convert("findings", _record(value, ts=1_000))
    again = convert("findings", _record(value, ts=1_000))
    later = convert("findings", _record(value, ts=2_000))
    assert first == again
    assert first.row is not None and later.row is not None
    assert first.row["version"] == 1_000 and later.row["version"] == 2_000
    assert first.row["provisional"] == 1 and first.row["category"] == "fee" and first.row["severity"] == "red"
    assert json.loads(first.row["details"]) == {"amount_fen": 5, "名称": "x"}
    assert "名称" in first.row["details"]  # kept readable, not \\u-escaped
    assert convert("findings", _record(value, ts=-1)).row["version"] == 0  # type: ignore[index]


def test_snapshot_row_takes_deadline_and_working_days_from_the_decision_clock() -> None:
    accept = ClockView(
        name="accept",
        start="2026-03-02",
        deadline=at("2026-03-09T23:59:59"),
        promised_deadline=None,
        working_days_used=1,
        limit_wd=5,
        extension_wd=0,
        suspended=False,
        stopped=True,
    )
    decision = accept.model_copy(
        update={
            "name": "decision",
            "deadline": at("2026-03-30T23:59:59"),
            "working_days_used": 4,
            "limit_wd": 20,
            "stopped": False,
        }
    )
    row = convert("snapshots", _record(_snapshot(5, [accept, decision]).model_dump_json().encode())).row
    assert row is not None
    assert row["decision_deadline"] == at("2026-03-30T23:59:59") and row["working_days_used"] == 4
    assert row["version"] == 5 and row["open"] == 1 and row["outcome"] is None
    assert [c["name"] for c in json.loads(row["clocks"])] == ["accept", "decision"]
    assert row["updated_at"] == at("2026-03-02T10:00") and row["updated_at"].utcoffset() is not None

    no_decision = convert("snapshots", _record(_snapshot(1, [accept]).model_dump_json().encode())).row
    assert no_decision is not None
    assert no_decision["decision_deadline"] is None and no_decision["working_days_used"] == 0


def test_dead_letter_row_keeps_the_raw_bytes_and_a_readable_preview() -> None:
    raw = "不是 JSON \xff".encode("utf-8", errors="surrogatepass")[:-2] + b"\xff" * 3
    letter = DeadLetter.of(
        reason="<event>: not UTF-8",
        topic="esup.case-events",
        partition=3,
        offset=99,
        key=b"C1",
        value=raw,
        failed_at=datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
    )
    row = convert("dead_letters", _record(letter.model_dump_json().encode())).row
    assert row is not None
    assert base64.b64decode(row["value_b64"]) == raw and base64.b64decode(row["key_b64"]) == b"C1"
    assert row["value_text"].startswith("不是 JSON") and "\ufffd" in row["value_text"]
    assert (row["source_topic"], row["source_partition"], row["source_offset"]) == ("esup.case-events", 3, 99)


@pytest.mark.parametrize("kind", ["findings", "snapshots", "dead_letters"])
def test_malformed_worker_output_is_skipped_with_the_field_at_fault(kind: str) -> None:
    got = convert(kind, _record(b'{"case_id": 1}'))  # type: ignore[arg-type]
    assert got.row is None and got.invalid and ":" in got.invalid


def test_memory_sink_flush_always_clears_and_hands_back_a_failed_batch() -> None:
    sink = MemorySink()
    sink.add("findings", [{"finding_id": "a"}, {"finding_id": "b"}])
    sink.add("case_events", [{"event_id": "e"}])
    assert sink.pending == 3
    sink.fail_next = 1
    with pytest.raises(WriteFailed) as failed:
        sink.flush()
    assert sink.pending == 0
    assert {t: len(r) for t, r in failed.value.batch.items()} == {"findings": 2, "case_events": 1}
    sink.write(failed.value.batch)
    assert sink.flush() == {}
    assert len(sink.tables["findings"]) == 2 and sink.writes == 1
    with pytest.raises(KeyError):
        sink.add("nope", [{}])


# ---- hostile input (issue 10) --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["events", "findings", "snapshots", "dead_letters"])
def test_no_hostile_message_makes_a_converter_raise(kind: str) -> None:
    from tests.hostile import corpus

    for h in corpus():
        got = convert(kind, _record(h.raw, key=h.key))  # type: ignore[arg-type]
        assert got.row is None and got.invalid and ":" in got.invalid, h.name


def test_hostile_events_are_refused_naming_their_field() -> None:
    from tests.hostile import corpus

    for h in corpus():
        got = convert("events", _record(h.raw, key=h.key))
        assert got.invalid is not None and f"{h.field}: " in got.invalid, h.name


def test_a_reject_row_keeps_where_why_and_a_bounded_prefix_of_the_record() -> None:
    import hashlib

    from sinks.rows import REJECTS, reject_row

    value = b"\xff" + b"x" * 900_000
    row = reject_row("findings", Record("esup.findings", 4, 12, 0, b"k" * 5000, value), "r" * 10_000)
    assert tuple(row) == COLUMNS[REJECTS]
    assert (row["source_topic"], row["source_partition"], row["source_offset"], row["kind"]) == (
        "esup.findings",
        4,
        12,
        "findings",
    )
    assert base64.b64decode(row["value_b64"]) == value[: 64 * 1024] and row["value_length"] == len(value)
    assert row["value_sha256"] == hashlib.sha256(value).hexdigest() and len(base64.b64decode(row["key_b64"])) == 1024
    assert len(row["reason"]) < 2100 and len(row["value_text"]) == 2000 and row["value_text"][0] == "\ufffd"
    assert reject_row("events", Record("t", 0, 1, 0, None, None), "r")["key_b64"] is None


def test_our_own_topics_are_read_forward_compatibly() -> None:
    finding = json.loads(_finding().model_dump_json()) | {"added_in_v2": {"x": [1]}}
    assert convert("findings", _record(json.dumps(finding).encode())).row is not None
    clock = {
        "name": "decision",
        "start": "2026-03-02",
        "deadline": None,
        "promised_deadline": None,
        "working_days_used": 1,
        "limit_wd": 20,
        "extension_wd": 0,
        "suspended": False,
        "stopped": False,
        "added_in_v2": True,
    }
    snap = json.loads(_snapshot(2, []).model_dump_json()) | {"clocks": [clock], "added_in_v2": 1}
    assert convert("snapshots", _record(json.dumps(snap).encode())).row is not None
    # … but the fields a reader needs are still validated.
    del finding["case_id"]
    got = convert("findings", _record(json.dumps(finding).encode()))
    assert got.row is None and got.invalid == "case_id: Field required"


def test_rows_clickhouse_would_refuse_are_rejected_before_they_block_a_batch() -> None:
    old = _finding(detected_at=datetime(1960, 1, 1, tzinfo=UTC)).model_dump_json().encode()
    got = convert("findings", _record(old))
    assert got.row is None and got.invalid and got.invalid.startswith("detected_at: 1960")
    got = convert("findings", _record(_finding(schema_version=300).model_dump_json().encode()))
    assert got.row is None and got.invalid and got.invalid.startswith("schema_version: 300")


def test_a_converter_bug_becomes_a_reason_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    from sinks import rows

    def broken(record: Record) -> rows.Converted:
        raise KeyError("bug")

    monkeypatch.setitem(rows.CONVERTERS, "findings", broken)
    got = convert("findings", _record(b"{}"))
    assert got.row is None and got.invalid == "<message>: could not be converted (KeyError: 'bug')"


def test_an_audit_record_becomes_an_audit_log_row_and_a_bad_one_names_its_field() -> None:
    from sinks.rows import Record, convert

    good = {
        "audit_id": "a1",
        "at": "2026-12-01T10:00:00+08:00",
        "actor_id": "u",
        "role": "r",
        "action": "x",
        "method": "CLI",
        "path": "esup access list",
        "finding_id": "",
        "status": 0,
        "detail": "{}",
        "chain": "c",
        "prev_hash": "",
        "hash": "h",
    }
    got = convert("audit", Record("esup.audit.api", 0, 0, 0, b"c", json.dumps(good).encode()), writer="esup-api")
    assert got.table == "audit_log" and got.row is not None and got.row["at"].utcoffset().total_seconds() == 8 * 3600
    assert got.row["writer"] == "esup-api"
    # The writer is the topic's, whatever the record says; a topic of no writer gives no row.
    claims = convert(
        "audit",
        Record("esup.audit.clock", 0, 0, 0, b"c", json.dumps({**good, "writer": "esup-api"}).encode()),
        writer="esup-clock",
    )
    assert claims.row is not None and claims.row["writer"] == "esup-clock"
    nobody = convert("audit", Record("esup.audit.x", 0, 0, 0, b"c", json.dumps(good).encode()))
    assert nobody.row is None and nobody.invalid == "<topic>: 'esup.audit.x' is no writer's audit topic"
    for field, value, said in [
        ("status", "0", "status: an integer"),
        ("action", None, "action: a string"),
        ("at", "2026-12-01T10:00:00", "at: "),
        ("at", "yesterday", "at: not an ISO"),
    ]:
        bad = convert(
            "audit", Record("esup.audit", 0, 0, 0, b"c", json.dumps({**good, field: value}).encode()), writer="legacy"
        )
        assert bad.row is None and (bad.invalid or "").startswith(said), (field, bad.invalid)
    assert (
        convert("audit", Record("esup.audit", 0, 0, 0, b"c", b"[1]"), writer="legacy").invalid
        == "<record>: a JSON object expected, not list"
    )
