"""`esup verify`'s checks on their own: an untouched chain passes; each kind of tampering is named."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sinks.verify import Entry, check_chain, check_findings
from streams.chain import HASH_VERSION, Head, seal
from streams.rules.calendar import TZ

MARCH = datetime(2026, 3, 1, tzinfo=TZ)


def _finding(i: int) -> dict:
    return {
        "schema_version": 1,
        "finding_id": f"f{i}",
        "case_id": f"C{i}",
        "rule": "TIME_DECISION_RED",
        "category": "time",
        "severity": "red",
        "title": "decision late",
        "staff_id": "s1",
        "department_id": "D1",
        "region_code": "511702",
        "item_code": "ITEM",
        "detected_at": (MARCH + timedelta(days=i)).isoformat(),  # one a day
        "deadline": None,
        "law_article": "第42条",
        "message": "late",
        "evidence_event_ids": [f"e{i}"],
        "calendar_version": "cn-2026",
        "provisional": False,
        "details": {"working_days": 20, "over": 3},
    }


def _chain(n: int, partition: int = 0, version: int = HASH_VERSION) -> tuple[list[Entry], list[dict], Head]:
    texts, head = seal([json.dumps(_finding(i)).encode() for i in range(n)], partition, Head(), version)
    sealed = [json.loads(t) for t in texts]
    entries = [
        Entry(
            partition,
            f["chain"]["seq"],
            f["finding_id"],
            f["chain"]["content"],
            f["chain"]["prev"],
            f["chain"]["hash"],
            int(datetime.fromisoformat(f["detected_at"]).timestamp()),
        )
        for f in sealed
    ]
    rows = [{**f, "chain_partition": partition, "chain_seq": f["chain"]["seq"]} for f in sealed]
    return entries, rows, head


def test_an_untouched_chain_and_its_findings_pass() -> None:
    entries, rows, head = _chain(5)
    assert check_chain(entries, {0: head}) == [] and check_findings(entries, rows) == []


def test_deleted_edited_and_inserted_findings_are_named() -> None:
    entries, rows, _ = _chain(5)
    rows = [r for r in rows if r["finding_id"] != "f1"]  # deleted
    rows[1] = {**rows[1], "message": "nothing happened"}  # edited (f2)
    rows.append({**_finding(99), "chain_partition": -1, "chain_seq": 0})  # inserted
    got = {(p.kind, p.finding_id) for p in check_findings(entries, rows)}
    assert got == {("deleted", "f1"), ("edited", "f2"), ("inserted", "f99")}


def test_a_gap_an_edited_entry_and_a_rewritten_chain_are_named() -> None:
    entries, _, head = _chain(5, partition=1_000_000)
    gap = [e for e in entries if e.seq != 3]
    assert any("entries 3..2" in p.detail or "deleted" in p.detail for p in check_chain(gap, {1_000_000: head}))
    edited = [*entries[:2], Entry(**{**entries[2].__dict__, "content": "0" * 64}), *entries[3:]]
    assert any("edited" in p.detail for p in check_chain(edited, {1_000_000: head}))
    assert check_chain(entries, {1_000_000: Head(5, "f" * 64)})[0].detail.endswith("(rewritten)")
    assert "not in ClickHouse" in check_chain(entries[:3], {1_000_000: head})[0].detail


def _stored(row: dict) -> dict:
    """A finding as `load_findings` reads it back from ClickHouse: details as JSON text, provisional 0/1."""
    return {
        **row,
        "details": json.dumps(row["details"], ensure_ascii=False, sort_keys=True),
        "provisional": int(row["provisional"]),
    }


def test_an_edit_to_any_content_field_is_named() -> None:
    """Every field of the finding but its chain entry is covered: moving a deduction to another scoring
    heading (category), or changing its title, details, provisional flag or calendar version, shows."""
    entries, rows, _ = _chain(1)
    stored = _stored(rows[0])
    assert check_findings(entries, [stored]) == []  # as ClickHouse holds it, untouched
    edits = {
        "category": "data_quality",
        "title": "nothing",
        "details": '{"over": 0, "working_days": 20}',
        "provisional": 1,
        "calendar_version": "cn-2025",
        "schema_version": 2,
        "message": "nothing happened",
        "law_article": None,
        "deadline": 1_772_000_000,
    }
    for column, value in edits.items():
        got = check_findings(entries, [{**stored, column: value}])
        assert [(p.kind, p.finding_id) for p in got] == [("edited", "f0")], column
    got = check_findings(entries, [{**stored, "details": "not json"}])  # unreadable: edited, not a crash
    assert [(p.kind, p.finding_id) for p in got] == [("edited", "f0")]


def test_findings_hashed_the_old_way_verify_by_their_own_version() -> None:
    """Rows written before version 2 still pass, and what version 1 covered is still checked."""
    entries, rows, head = _chain(3, version=1)
    assert all(len(e.content) == 64 for e in entries)  # bare hex: version 1
    stored = [_stored(r) for r in rows]
    assert check_chain(entries, {0: head}) == [] and check_findings(entries, stored) == []
    stored[1] = {**stored[1], "message": "nothing happened"}
    assert [(p.kind, p.finding_id) for p in check_findings(entries, stored)] == [("edited", "f1")]
    new_entries, _, _ = _chain(1)
    assert new_entries[0].content.startswith("v3:")  # new findings use the full hash


def test_a_content_hash_of_an_unknown_version_is_named() -> None:
    entries, rows, _ = _chain(1)
    forged = [Entry(**{**entries[0].__dict__, "content": "v9:" + "0" * 64})]
    assert "version 9" in check_findings(forged, rows)[0].detail


def test_from_a_date_only_findings_detected_since_must_be_there() -> None:
    """`esup verify --from T` reads the findings detected from T on; those before T are not missing."""
    entries, rows, _ = _chain(6)  # f0 on 1 March … f5 on 6 March
    since = MARCH + timedelta(days=3)
    recent = [r for r in rows if datetime.fromisoformat(r["detected_at"]) >= since]  # what load_findings reads
    assert [r["finding_id"] for r in recent] == ["f3", "f4", "f5"]
    assert check_findings(entries, recent, since) == []
    gone = [r for r in recent if r["finding_id"] != "f4"]
    assert [(p.kind, p.finding_id) for p in check_findings(entries, gone, since)] == [("deleted", "f4")]
    # Without a bound every finding must be there.
    assert {p.finding_id for p in check_findings(entries, recent)} == {"f0", "f1", "f2"}


def test_every_chain_the_platform_writes_has_its_head_checked() -> None:
    """The workers' chains, the loop's and the complaint cards' (any `{group}/…` head) are all checked:
    cutting the tail off the complaints chain is named; another installation's heads are not mixed in."""
    from complaints.service import COMPLAINTS_CHAIN
    from loop.service import LOOP_CHAIN
    from sinks.verify import fold_heads

    entries, _, head = _chain(4, partition=COMPLAINTS_CHAIN)
    loop_entries, _, loop_head = _chain(2, partition=LOOP_CHAIN)

    def record(group: str, partition: int, h: Head) -> bytes:
        return json.dumps({"group": group, "partition": partition, "seq": h.seq, "hash": h.hash}).encode()

    values = [
        record("esup", 0, Head(1, "a" * 64)),
        record("esup/loop", LOOP_CHAIN, loop_head),
        record("esup/complaints", COMPLAINTS_CHAIN, Head(3, entries[2].hash)),
        record("esup/complaints", COMPLAINTS_CHAIN, head),  # the latest wins
        record("other", 7, Head(9, "b" * 64)),  # another installation's workers
        record("esup-other/complaints", 8, Head(9, "b" * 64)),
        b"not json",
        None,
    ]
    heads = fold_heads(values, "esup")
    assert heads == {0: Head(1, "a" * 64), LOOP_CHAIN: loop_head, COMPLAINTS_CHAIN: head}
    assert check_chain(entries + loop_entries, {k: v for k, v in heads.items() if k != 0}) == []
    cut = check_chain(entries[:2] + loop_entries, {k: v for k, v in heads.items() if k != 0})
    assert [p.detail for p in cut] == [
        f"partition {COMPLAINTS_CHAIN}: entries 3..4 are not in ClickHouse (deleted, or the sink is behind)"
    ]


def test_the_configuration_version_is_covered_from_hash_version_3_and_old_findings_still_verify() -> None:
    """Findings sealed with version 2 (before the field) verify as written, with or without the new column;
    from version 3 an edit to the configuration version a finding was judged under is named."""
    entries, rows, _ = _chain(2, version=2)
    assert all(e.content.startswith("v2:") for e in entries)
    stored = [{**_stored(r), "config_version": ""} for r in rows]  # the column's default on old rows
    assert check_findings(entries, stored) == []
    entries, rows, _ = _chain(2)
    stored = [_stored(r) for r in rows]
    assert check_findings(entries, stored) == []
    stored[0] = {**stored[0], "config_version": "cv1-0000000000000000"}
    assert [(p.kind, p.finding_id) for p in check_findings(entries, stored)] == [("edited", "f0")]
