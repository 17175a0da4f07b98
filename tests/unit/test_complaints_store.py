"""Complaint rows for ClickHouse: the sealed contact stays out, only its hash goes in; texts are masked."""

from __future__ import annotations

import pytest

from complaints.store import COLUMNS, mask, mask_bytes, message_row
from tests.complaints_support import SEALED, msg, t


@pytest.mark.parametrize(
    "clear",
    [
        "13912345678",
        "139-1234-5678",
        "+86 139 1234 5678",
        "028-85551234",
        "51010319900101123X",
        "510103199001011234",
        "zhang.san@example.com",
    ],
)
def test_mask_hides_phones_ids_and_mail(clear: str) -> None:
    masked = mask(f"请回电{clear}谢谢")
    assert clear not in masked and masked.startswith("请回电") and masked.endswith("谢谢")


def test_mask_leaves_ordinary_numbers() -> None:
    assert mask("办件号 2026-001, 收费 200 元, 等了 15 天") == "办件号 2026-001, 收费 200 元, 等了 15 天"


def test_row_keeps_the_hash_and_not_the_seal() -> None:
    m = msg("CP-1", "received", t(2026, 3, 2, 9), text="张窗口让我请客 13912345678")
    row = dict(zip(COLUMNS, message_row(m, 2, 40), strict=True))
    assert row["contact_hash"] == SEALED.contact_hash
    assert SEALED.sealed not in repr(row) and "13912345678" not in row["text"]
    got = (row["type"], row["category"], row["substantiated"], row["source_offset"])
    assert got == ("received", "attitude", -1, 40)
    closed = dict(
        zip(COLUMNS, message_row(msg("CP-1", "closed", t(2026, 3, 9), substantiated=True), 0, 1), strict=True)
    )
    assert closed["substantiated"] == 1 and closed["text"] == "不属实"


def test_dead_letter_bytes_are_masked() -> None:
    assert b"13912345678" not in mask_bytes('{"text": "13912345678", "x": "\xff"}'.encode())
