"""Kafka messages to ClickHouse rows: pure functions, one per topic kind, that never raise on bad input."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from schemas.control import MAX_KEPT_KEY_BYTES, MAX_KEPT_VALUE_BYTES, MAX_REASON_CHARS, read_dead_letter
from schemas.events import EventError, parse_event
from schemas.findings import Finding
from schemas.snapshots import CaseSnapshot
from schemas.wire import WireError, read_model

Row = dict[str, Any]
Kind = Literal["events", "findings", "snapshots", "dead_letters", "audit"]

# Column lists in DDL order (sinks/migrations). Columns with a DEFAULT the sink leaves to the server
# (case_events.ingested_at, dead_letters.ingested_at) are not listed.
COLUMNS: dict[str, tuple[str, ...]] = {
    "case_events": (
        "event_id",
        "case_id",
        "kind",
        "schema_version",
        "item_code",
        "department_id",
        "region_code",
        "staff_id",
        "occurred_at",
        "recorded_at",
        "payload",
        "source_partition",
        "source_offset",
    ),
    "findings": (
        "finding_id",
        "schema_version",
        "case_id",
        "rule",
        "category",
        "severity",
        "title",
        "message",
        "staff_id",
        "department_id",
        "region_code",
        "item_code",
        "detected_at",
        "deadline",
        "law_article",
        "evidence_event_ids",
        "calendar_version",
        "provisional",
        "details",
        "version",
        "content_hash",
        "config_version",
        "chain_partition",
        "chain_seq",
    ),
    # Every revision of every finding, as the chain holds it (streams/chain.py; `esup verify`).
    "finding_chain": (
        "chain_partition",
        "chain_seq",
        "finding_id",
        "content_hash",
        "prev_hash",
        "chain_hash",
        "case_id",
        "rule",
        "severity",
        "detected_at",
        "body",
    ),
    "case_snapshots": (
        "case_id",
        "item_code",
        "department_id",
        "region_code",
        "responsible_staff",
        "first_staff",
        "stage",
        "outcome",
        "open",
        "deemed_accepted",
        "decision_deadline",
        "working_days_used",
        "next_due",
        "last_event_at",
        "provisional",
        "calendar_version",
        "clocks",
        "updated_at",
        "version",
    ),
    "dead_letters": (
        "source_topic",
        "source_partition",
        "source_offset",
        "reason",
        "key_b64",
        "value_b64",
        "value_text",
        "failed_at",
        "value_length",
        "value_sha256",
        "truncated",
    ),
    # Who did what, when: every writer's hash-chained records on its audit topic (api/audit.py's format), and
    # the writer: the principal whose topic the record came from (esup/audit_writers.py), never the record's say.
    "audit_log": (
        "audit_id",
        "at",
        "actor_id",
        "role",
        "action",
        "method",
        "path",
        "finding_id",
        "status",
        "detail",
        "chain",
        "prev_hash",
        "hash",
        "writer",
    ),
    "sink_rejects": (
        "source_topic",
        "source_partition",
        "source_offset",
        "kind",
        "reason",
        "key_b64",
        "value_b64",
        "value_length",
        "value_sha256",
        "value_text",
    ),
}

TABLE_OF: dict[Kind, str] = {
    "events": "case_events",
    "findings": "findings",
    "snapshots": "case_snapshots",
    "dead_letters": "dead_letters",
    "audit": "audit_log",
}

# The clock the rankings use; the snapshot table keeps its deadline and working days as columns.
DECISION_CLOCK = "decision"
# Enough of a rejected message to read it in a dashboard; the whole of it stays in value_b64.
TEXT_PREVIEW_CHARS = 2000
# What the sink cannot convert goes here, never skipped (sinks/migrations/0003_sink_rejects.sql).
REJECTS = "sink_rejects"
# Our own topics carry messages larger than events (a snapshot with every clock); still bounded.
MAX_OWN_MESSAGE_BYTES = 4 << 20
# Values ClickHouse would refuse, failing the whole batch again and again: DateTime is a UInt32.
_DATETIME_YEARS = (1971, 2105)
_INT_RANGES = {
    "schema_version": (0, 255),
    "working_days_used": (-(2**31), 2**31 - 1),
    "version": (0, 2**64 - 1),
    "source_partition": (-(2**31), 2**31 - 1),
    "source_offset": (-(2**63), 2**63 - 1),
    "value_length": (0, 2**64 - 1),
}


@dataclass(frozen=True)
class Record:
    """The parts of a consumed Kafka message the conversion needs (kafka-python's record is untyped)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Converted:
    """A row for one table, or the reason the message gives none."""

    table: str
    row: Row | None = None
    invalid: str | None = None
    also: tuple[tuple[str, Row], ...] = ()  # rows for other tables the same message gives


def event_row(record: Record) -> Converted:
    """A case event as the workers accept it; anything they dead-letter is skipped here (and counted)."""
    try:
        e = parse_event(record.value if record.value is not None else b"")
    except EventError as exc:
        return Converted("case_events", invalid=exc.reason)
    if record.key != e.case_id.encode():
        # The workers dead-letter an event not keyed by its case, so the archive leaves it out too.
        return Converted("case_events", invalid=f"key {record.key!r} is not the case id {e.case_id!r}")
    return Converted(
        "case_events",
        {
            "event_id": e.event_id,
            "case_id": e.case_id,
            "kind": e.kind,
            "schema_version": e.schema_version,
            "item_code": e.item_code,
            "department_id": e.department_id,
            "region_code": e.region_code,
            "staff_id": e.staff_id,
            "occurred_at": e.occurred_at,
            "recorded_at": e.recorded_at,
            "payload": e.payload.model_dump_json(),
            "source_partition": record.partition,
            "source_offset": record.offset,
        },
    )


def finding_row(record: Record) -> Converted:
    """A finding, and its entry in the findings chain. Its version is its revision: the chain's sequence
    number, set by the worker in the finding's transaction (never the producer's timestamp, which any
    client can set); a finding without a chain entry (written before chains) falls back to the timestamp.
    """
    try:
        f = read_model(Finding, record.value or b"", what="<finding>", max_bytes=MAX_OWN_MESSAGE_BYTES)
    except WireError as exc:
        return Converted("findings", invalid=exc.reason)
    c = f.chain
    row = {
        "finding_id": f.finding_id,
        "schema_version": f.schema_version,
        "case_id": f.case_id,
        "rule": f.rule,
        "category": f.category.value,
        "severity": f.severity.value,
        "title": f.title,
        "message": f.message,
        "staff_id": f.staff_id,
        "department_id": f.department_id,
        "region_code": f.region_code,
        "item_code": f.item_code,
        "detected_at": f.detected_at,
        "deadline": f.deadline,
        "law_article": f.law_article,
        "evidence_event_ids": list(f.evidence_event_ids),
        "calendar_version": f.calendar_version,
        "provisional": int(f.provisional),
        "details": json.dumps(f.details, ensure_ascii=False, sort_keys=True),
        "version": c.seq if c else max(record.timestamp_ms, 0),
        "content_hash": c.content if c else "",
        "config_version": f.config_version,
        "chain_partition": c.partition if c else -1,
        "chain_seq": c.seq if c else 0,
    }
    if c is None:
        return Converted("findings", row)
    entry = {
        "chain_partition": c.partition,
        "chain_seq": c.seq,
        "finding_id": f.finding_id,
        "content_hash": c.content,
        "prev_hash": c.prev,
        "chain_hash": c.hash,
        "case_id": f.case_id,
        "rule": f.rule,
        "severity": f.severity.value,
        "detected_at": f.detected_at,
        "body": (record.value or b"").decode("utf-8", "replace"),
    }
    return Converted("findings", row, also=(("finding_chain", entry),))


def snapshot_row(record: Record) -> Converted:
    """A case snapshot; its version is the state's sequence number, so the latest state per case wins."""
    try:
        s = read_model(CaseSnapshot, record.value or b"", what="<snapshot>", max_bytes=MAX_OWN_MESSAGE_BYTES)
    except WireError as exc:
        return Converted("case_snapshots", invalid=exc.reason)
    decision = next((c for c in s.clocks if c.name == DECISION_CLOCK), None)
    return Converted(
        "case_snapshots",
        {
            "case_id": s.case_id,
            "item_code": s.item_code,
            "department_id": s.department_id,
            "region_code": s.region_code,
            "responsible_staff": s.responsible_staff,
            "first_staff": s.first_staff,
            "stage": s.stage,
            "outcome": s.outcome,
            "open": int(s.open),
            "deemed_accepted": int(s.deemed_accepted),
            "decision_deadline": decision.deadline if decision else None,
            "working_days_used": decision.working_days_used if decision else 0,
            "next_due": s.next_due,
            "last_event_at": s.last_event_at,
            "provisional": int(s.provisional),
            "calendar_version": s.calendar_version,
            "clocks": json.dumps([c.model_dump(mode="json") for c in s.clocks], ensure_ascii=False),
            "updated_at": s.as_of,
            "version": s.version,
        },
    )


def dead_letter_row(record: Record) -> Converted:
    """A dead letter, with its raw bytes as the worker kept them (base64) and a readable preview beside them."""
    try:
        d = read_dead_letter(record.value)
    except WireError as exc:
        return Converted("dead_letters", invalid=exc.reason)
    raw = d.raw()
    return Converted(
        "dead_letters",
        {
            "source_topic": d.source_topic,
            "source_partition": d.source_partition,
            "source_offset": d.source_offset,
            "reason": d.reason,
            "key_b64": d.key_b64,
            "value_b64": d.value_b64,
            "value_text": raw.decode("utf-8", errors="replace")[:TEXT_PREVIEW_CHARS],
            "failed_at": d.failed_at,
            # Letters from before these fields existed hold the whole message.
            "value_length": len(raw) if d.value_length is None else d.value_length,
            "value_sha256": d.value_sha256 or hashlib.sha256(raw).hexdigest(),
            "truncated": int(d.truncated),
        },
    )


def audit_row(record: Record, writer: str | None = None) -> Converted:
    """An audit record as written, stamped with its ``writer`` (the principal whose topic it came from); a
    record missing a field or with a wrong type is rejected naming it, and so is one from a topic of no writer."""
    if writer is None:
        return Converted("audit_log", invalid=f"<topic>: {record.topic!r} is no writer's audit topic")
    try:
        data = json.loads(record.value or b"")
    except ValueError as exc:
        return Converted("audit_log", invalid=f"<record>: not JSON ({exc})")
    if not isinstance(data, dict):
        return Converted("audit_log", invalid=f"<record>: a JSON object expected, not {type(data).__name__}")
    row: Row = {}
    for column in COLUMNS["audit_log"]:
        if column == "writer":  # the topic's, whatever the record says
            row[column] = writer
            continue
        value = data.get(column)
        if column == "status":
            if not isinstance(value, int) or isinstance(value, bool):
                return Converted("audit_log", invalid=f"status: an integer expected, not {value!r:.80}")
        elif not isinstance(value, str):
            return Converted("audit_log", invalid=f"{column}: a string expected, not {value!r:.80}")
        row[column] = value
    try:
        at = datetime.fromisoformat(row["at"])
    except ValueError:
        return Converted("audit_log", invalid=f"at: not an ISO time: {row['at']!r:.80}")
    if at.tzinfo is None:
        return Converted("audit_log", invalid=f"at: {row['at']!r:.80} has no UTC offset")
    row["at"] = at
    return Converted("audit_log", row)


CONVERTERS: dict[str, Callable[[Record], Converted]] = {
    "events": event_row,
    "findings": finding_row,
    "snapshots": snapshot_row,
    "dead_letters": dead_letter_row,
}


def convert(kind: Kind, record: Record, *, writer: str | None = None) -> Converted:
    """The row a message of a topic of this kind gives, or why none; never raises. ``writer``: for an audit
    topic, the principal whose topic it is (esup/audit_writers.py)."""
    table = TABLE_OF.get(kind, REJECTS)
    try:
        got = audit_row(record, writer) if kind == "audit" else CONVERTERS[kind](record)
    except Exception as exc:  # a converter bug must not stop the sink: the record is rejected, visibly
        return Converted(table, invalid=f"<message>: could not be converted ({type(exc).__name__}: {exc})")
    if got.row is not None:
        unfit = _unfit(got.row)
        if unfit:
            return Converted(got.table, invalid=unfit)
    return got


def _unfit(row: Row) -> str | None:
    """Why ClickHouse would refuse this row (and with it, forever, the whole batch), if it would."""
    for column, value in row.items():
        if isinstance(value, datetime) and not _DATETIME_YEARS[0] <= value.year <= _DATETIME_YEARS[1]:
            return f"{column}: {value.isoformat()} is outside what a ClickHouse DateTime holds"
        bounds = _INT_RANGES.get(column)
        if bounds and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
            return f"{column}: {value} is outside the column's range {bounds[0]}..{bounds[1]}"
    return None


def reject_row(kind: str, record: Record, reason: str) -> Row:
    """The sink_rejects row of a record the sink could not convert: where it was, why, and (a prefix of) it."""
    value = record.value or b""
    key = record.key
    if len(reason) > MAX_REASON_CHARS:
        reason = f"{reason[:MAX_REASON_CHARS]}… ({len(reason) - MAX_REASON_CHARS} more characters)"
    return {
        "source_topic": record.topic,
        "source_partition": record.partition,
        "source_offset": record.offset,
        "kind": kind,
        "reason": reason.encode("utf-8", "backslashreplace").decode("utf-8"),
        "key_b64": base64.b64encode(key[:MAX_KEPT_KEY_BYTES]).decode() if key is not None else None,
        "value_b64": base64.b64encode(value[:MAX_KEPT_VALUE_BYTES]).decode(),
        "value_length": len(value),
        "value_sha256": hashlib.sha256(value).hexdigest(),
        "value_text": value[: TEXT_PREVIEW_CHARS * 4].decode("utf-8", errors="replace")[:TEXT_PREVIEW_CHARS],
    }
