"""`esup verify`'s checks on their own: an untouched chain passes; each kind of tampering is named."""

from __future__ import annotations

import json

from sinks.verify import Entry, check_chain, check_findings
from streams.chain import Head, seal


def _finding(i: int) -> dict:
    return {
        "finding_id": f"f{i}",
        "case_id": f"C{i}",
        "rule": "TIME_DECISION_RED",
        "severity": "red",
        "staff_id": "s1",
        "department_id": "D1",
        "region_code": "511702",
        "item_code": "ITEM",
        "detected_at": "2026-03-02T00:00:00+08:00",
        "deadline": None,
        "law_article": "第42条",
        "message": "late",
        "evidence_event_ids": [f"e{i}"],
    }


def _chain(n: int, partition: int = 0) -> tuple[list[Entry], list[dict], Head]:
    texts, head = seal([json.dumps(_finding(i)).encode() for i in range(n)], partition, Head())
    sealed = [json.loads(t) for t in texts]
    entries = [
        Entry(
            partition, f["chain"]["seq"], f["finding_id"], f["chain"]["content"], f["chain"]["prev"], f["chain"]["hash"]
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
