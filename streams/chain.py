"""Tamper-evident findings: a content hash per finding, chained per input partition.

Design: docs/architecture.md#tamper-evident-findings.
"""

from __future__ import annotations

import hashlib
import json
import re
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


# How a content hash is computed is versioned, so rows hashed the old way still verify after an upgrade:
# version 1 (a bare hex digest) covered who, what, when, why and the evidence; version 2 (``v2:`` + hex)
# covers every field of the finding except its chain entry; version 3 (``v3:``) adds the configuration
# version (issue 18), so a v2 finding, which has none, still verifies as written. ``esup verify`` recomputes
# each finding in the version its chain entry was written with; new findings are hashed with the latest.
HASH_VERSION = 3
_PREFIX = re.compile(r"^v([0-9]+):")


def content_hash_v1(f: Mapping[str, Any]) -> str:
    """Version 1: who, what, when, why and on which evidence (length-prefixed); category, title, details,
    provisional, calendar version and schema version were left out, so edits to them went unseen."""
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


def _details(value: Any) -> Any:
    """The details object, whether published (a mapping) or stored (ClickHouse keeps it as JSON text)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def content_v2(f: Mapping[str, Any]) -> dict[str, Any]:
    """Every content field of a finding (all but its chain entry), normalised so that the finding as
    published and its row in ClickHouse agree: times as Unix seconds, provisional as a bool, details parsed."""
    return {
        "schema_version": int(f["schema_version"]),
        "finding_id": f["finding_id"],
        "case_id": f["case_id"],
        "rule": f["rule"],
        "category": f["category"],
        "severity": f["severity"],
        "title": f["title"],
        "message": f["message"],
        "staff_id": f["staff_id"],
        "department_id": f["department_id"],
        "region_code": f["region_code"],
        "item_code": f["item_code"],
        "detected_at": _seconds(f["detected_at"]),
        "deadline": _seconds(f.get("deadline")),
        "law_article": f.get("law_article"),
        "evidence_event_ids": list(f["evidence_event_ids"]),
        "calendar_version": f["calendar_version"],
        "provisional": bool(f["provisional"]),
        "details": _details(f["details"]),
    }


def content_v3(f: Mapping[str, Any]) -> dict[str, Any]:
    """Version 2's fields and the configuration version the finding was judged under."""
    return {**content_v2(f), "config_version": f.get("config_version") or ""}


def content_hash(f: Mapping[str, Any], version: int = HASH_VERSION) -> str:
    """The hash of what a finding asserts, in hash ``version`` (the latest by default; see HASH_VERSION)."""
    if version == 1:
        return content_hash_v1(f)
    if version not in (2, 3):
        raise ValueError(f"content hash version {version} is unknown")
    content = content_v2(f) if version == 2 else content_v3(f)
    # Canonical JSON (sorted keys, no spaces): unambiguous, whatever the strings hold.
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return f"v{version}:{hashlib.sha256(text.encode()).hexdigest()}"


def hash_version(content: str) -> int:
    """The version a content hash was computed with: ``vN:`` + hex, or a bare hex digest for version 1."""
    m = _PREFIX.match(content)
    return int(m.group(1)) if m else 1


def content_hash_like(reference: str, f: Mapping[str, Any]) -> str:
    """``f``'s content hash in the version ``reference`` was written with (how `esup verify` checks old rows)."""
    return content_hash(f, hash_version(reference))


def link(prev: str, seq: int, finding_id: str, content: str) -> str:
    """An entry's hash, ``H(prev | seq | finding id | content)``, the finding id length-prefixed."""
    return hashlib.sha256(f"{prev}|{seq}|{len(finding_id)}:{finding_id}|{content}".encode()).hexdigest()


def seal(
    texts: list[bytes],
    partition: int,
    head: Head,
    version: int = HASH_VERSION,
    known: Mapping[bytes, str] | None = None,
) -> tuple[list[bytes], Head]:
    """The findings (JSON) with their chain entries appended after ``head``, and the new head; their content
    hashed in ``version`` (the latest; an older one only to test that old rows still verify). ``known``: content
    hashes (latest version) computed earlier for some of these texts, e.g. when their timers were armed."""
    out: list[bytes] = []
    for text in texts:
        f = orjson.loads(text)
        content = known.get(text) if known and version == HASH_VERSION else None
        if content is None:
            content = content_hash(f, version)
        seq = head.seq + 1
        entry = link(head.hash, seq, f["finding_id"], content)
        f["chain"] = {"partition": partition, "seq": seq, "prev": head.hash, "hash": entry, "content": content}
        out.append(orjson.dumps(f))
        head = Head(seq, entry)
    return out, head
