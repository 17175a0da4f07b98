"""Tamper-evident findings: a content hash per finding, chained per input partition.

Design: docs/architecture.md#tamper-evident-findings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

GENESIS = "0" * 64


@dataclass(frozen=True)
class Head:
    """A partition's chain head: the last entry's sequence number and hash (0 and GENESIS before the first)."""

    seq: int = 0
    hash: str = GENESIS


def _seconds(moment: Any) -> str:
    """A moment as whole Unix seconds (ClickHouse keeps DateTime to the second)."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, int):
        return str(moment)
    when = moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))
    return str(int(when.timestamp()))


def content_hash(f: Mapping[str, Any]) -> str:
    """The hash of what a finding asserts: who, what, when, why and on which evidence (length-prefixed)."""
    parts = [
        f["finding_id"],
        f["case_id"],
        f["rule"],
        f["severity"],
        f["staff_id"],
        f["department_id"],
        f["region_code"],
        f["item_code"],
        _seconds(f["detected_at"]),
        _seconds(f.get("deadline")),
        f.get("law_article") or "",
        f["message"],
        *f["evidence_event_ids"],
    ]
    return hashlib.sha256("".join(f"{len(p)}:{p}" for p in parts).encode()).hexdigest()


def link(prev: str, seq: int, finding_id: str, content: str) -> str:
    """An entry's hash, ``H(prev | seq | finding id | content)``, the finding id length-prefixed."""
    return hashlib.sha256(f"{prev}|{seq}|{len(finding_id)}:{finding_id}|{content}".encode()).hexdigest()


def seal(texts: list[bytes], partition: int, head: Head) -> tuple[list[bytes], Head]:
    """The findings (JSON) with their chain entries appended after ``head``, and the new head."""
    out: list[bytes] = []
    for text in texts:
        f = orjson.loads(text)
        content = content_hash(f)
        seq = head.seq + 1
        entry = link(head.hash, seq, f["finding_id"], content)
        f["chain"] = {"partition": partition, "seq": seq, "prev": head.hash, "hash": entry, "content": content}
        out.append(orjson.dumps(f))
        head = Head(seq, entry)
    return out, head
