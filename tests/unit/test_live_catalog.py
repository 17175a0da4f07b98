"""The workers' live catalog: a bad record keeps the item's last good version, is counted and listed."""

from __future__ import annotations

import json

from schemas.catalog import CatalogItem
from streams.catalog import LiveCatalog
from tests.hostile import corpus


def _item(code: str, name: str = "n") -> bytes:
    return json.dumps({"code": code, "name": name, "department_id": "D"}).encode()


def test_a_bad_record_keeps_the_last_good_version_and_is_reported() -> None:
    table = {b"A": _item("A", "first")}
    live = LiveCatalog(table)
    first = live.get("A")
    assert isinstance(first, CatalogItem) and first.name == "first"
    table[b"A"] = b'{"code": "A", "name": ' + b"1" * 5000 + b"}"
    assert live.get("A") is first and live.get("A") is first  # parsed once per change
    assert live.bad_records == 1 and live.rejected["A"].startswith("name: integer of 5000 digits")
    table[b"A"] = _item("A", "fixed")
    fixed = live.get("A")
    assert fixed is not None and fixed.name == "fixed" and "A" not in live.rejected


def test_every_hostile_record_is_refused_without_raising() -> None:
    table: dict[bytes, bytes] = {}
    live = LiveCatalog(table)
    for h in corpus():
        table[b"X"] = h.raw
        assert live.get("X") is None
    assert live.bad_records == len(corpus())


def test_a_record_under_another_code_is_refused() -> None:
    live = LiveCatalog({b"A": _item("B")})
    assert live.get("A") is None and live.rejected["A"].startswith("code: ")


def test_status_lists_bad_records_never_looked_up_and_forgets_removed_items() -> None:
    table = {b"A": _item("A"), b"B": b"[" * 50_000, b"C": b"{}"}
    live = LiveCatalog(table)
    status = live.status()
    assert status["bad_records"] == 2 and sorted(status["rejected"]) == ["B", "C"]
    assert "nested more than" in status["rejected"]["B"] and "code: Field required" in status["rejected"]["C"]
    del table[b"B"]
    assert sorted(live.status()["rejected"]) == ["C"]
