"""`esup verify`'s audit checks: every decision in `loop_messages` was accepted (and audited) by the API.

A decision dismisses a finding from the rankings; only the API (and the console through it) may publish one,
and it audits each with the message id in the record's detail (api/app.py). A decision row without such a
record was written behind the API's back: into ClickHouse directly, or onto the responses topic by a
principal that should not write it.

And the audit topics themselves: each writer writes its own (esup/audit_writers.py), so a record whose action
or role its writer may not make (the clock claiming a supervisor's decision) is forged; with --audit, every
audit_log row is compared with the record on its writer's topic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from esup.audit_writers import LEGACY, forgery
from esup.kafka_auth import API
from sinks.rows import COLUMNS
from sinks.verify import Problem

AuditKey = tuple[str, str]  # (audit id, writer): audit_log's key


def audited_message_ids(details: Iterable[str]) -> set[str]:
    """The message ids named by audit records' details (JSON objects); unreadable details name none."""
    ids: set[str] = set()
    for text in details:
        try:
            detail = json.loads(text)
        except (ValueError, TypeError):
            continue
        if isinstance(detail, dict) and isinstance(detail.get("message_id"), str):
            ids.add(detail["message_id"])
    return ids


def check_decisions(decisions: Iterable[Mapping[str, Any]], audited: set[str]) -> list[Problem]:
    """Each decision (message id, finding id) whose message id no audit record names."""
    return [
        Problem("unaudited", d["finding_id"], f"decision {d['message_id']}: no API audit record names it")
        for d in sorted(decisions, key=lambda d: (d["finding_id"], d["message_id"]))
        if d["message_id"] not in audited
    ]


def load_decisions(client: Any, database: str) -> list[dict[str, Any]]:
    """The decisions in ``database``'s loop_messages."""
    rows = client.execute(f"SELECT message_id, finding_id FROM {database}.loop_messages FINAL WHERE type = 'decision'")
    return [{"message_id": m, "finding_id": f} for m, f in rows]


def load_audited(client: Any, database: str) -> set[str]:
    """The message ids that ``database``'s API audit records name (only records whose detail mentions one):
    the API's topic, the shared topic of earlier versions, or the API's own insert (writer '')."""
    rows = client.execute(
        f"SELECT detail FROM {database}.audit_log WHERE position(detail, 'message_id') > 0 "
        "AND writer IN (%(api)s, %(legacy)s, '')",
        {"api": API, "legacy": LEGACY},
    )
    return audited_message_ids(r[0] for r in rows)


def verify_decisions(client: Any, database: str) -> list[Problem]:
    """Every decision in ClickHouse without an API audit record."""
    return check_decisions(load_decisions(client, database), load_audited(client, database))


# What an audit record says (the audit_log columns but its key); `at` compared to the second (DateTime).
AUDIT_FIELDS: tuple[str, ...] = tuple(c for c in COLUMNS["audit_log"] if c not in ("audit_id", "writer"))


def check_forged(every: Iterable[tuple[str, Mapping[str, Any]]], topic_of: Mapping[str, str]) -> list[Problem]:
    """Over every record as read from the audit topics, in order (``every``: (writer, row) pairs; not only each
    audit id's last copy, which a writer could use to cover a forged record with a harmless one of the same id):
    a record whose action or role its writer (the principal whose topic carries it) may not make is forged, and
    a record written again with other content under the same audit id is rewritten (an identical copy, as a
    producer's retry makes, is not). ``topic_of``: writer → its topic, to name where the record is."""
    problems: list[Problem] = []
    first: dict[AuditKey, dict[str, Any]] = {}
    for writer, r in every:
        where = topic_of.get(writer, writer)
        why = forgery(writer, r["action"], r["role"])
        if why is not None:
            problems.append(
                Problem("forged", r["audit_id"], f"audit record on {where}: {r['action']} by {r['actor_id']}: {why}")
            )
        key = (r["audit_id"], writer)
        content = _comparable(r)
        before = first.setdefault(key, content)
        if before != content:
            changed = ", ".join(k for k in AUDIT_FIELDS if before[k] != content[k])
            problems.append(
                Problem("rewritten", r["audit_id"], f"audit record on {where}: written again with other {changed}")
            )
    return problems


def _comparable(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in AUDIT_FIELDS}
    at = out["at"]
    out["at"] = int(at.timestamp()) if isinstance(at, datetime) else int(at)
    return out


def check_audit(
    on_topic: Mapping[AuditKey, Mapping[str, Any]], in_table: Mapping[AuditKey, Mapping[str, Any]], *, complete: bool
) -> list[Problem]:
    """audit_log (``in_table``) against the audit topics' records (``on_topic``), both by audit id and writer:
    a record missing from the table (deleted), differing from the topic's (edited), or, when the topics still
    hold everything ever written to them (``complete``), a row no topic carried (inserted; also a row whose
    writer was changed, which then is missing under its own)."""
    problems: list[Problem] = []
    for key in sorted(on_topic):
        audit_id, writer = key
        want = _comparable(on_topic[key])
        row = in_table.get(key)
        if row is None:
            what = f"{want['action']} by {want['actor_id']}, writer {writer}"
            problems.append(
                Problem("deleted", audit_id, f"audit record ({what}): on the audit topic, not in audit_log")
            )
            continue
        got = _comparable(row)
        changed = [k for k in AUDIT_FIELDS if got[k] != want[k]]
        if changed:
            problems.append(
                Problem("edited", audit_id, f"audit record: {', '.join(changed)} differ from the audit topic")
            )
    if complete:
        for audit_id, writer in sorted(set(in_table) - set(on_topic)):
            problems.append(
                Problem("inserted", audit_id, f"audit record (writer {writer!r}): in audit_log, never on its topic")
            )
    return problems


def read_audit_topics(
    bootstrap: str, topics: Mapping[str, str], *, auth: dict[str, Any] | None = None
) -> tuple[dict[AuditKey, Any], bool, list[tuple[str, dict[str, Any]]]]:
    """The records of the audit ``topics`` (topic → writer) by audit id and writer (the last copy of each), as
    the sink converts them (what it rejects is left out); whether every topic still starts at offset 0 (nothing
    removed by retention); and every record read, as (writer, row), in order. A topic that does not exist holds
    nothing."""
    from kafka import KafkaConsumer, TopicPartition

    from sinks.rows import Record, audit_row

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=3000,
        **(auth or {}),
    )
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in sorted(topics)
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        records: dict[AuditKey, Any] = {}
        every: list[tuple[str, dict[str, Any]]] = []
        if not tps:
            return records, True, every
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        complete = all(offset == 0 for offset in consumer.beginning_offsets(tps).values())
        ends = consumer.end_offsets(tps)
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            batch = consumer.poll(timeout_ms=1000)
            if not batch:
                break
            for rs in batch.values():
                for r in rs:
                    writer = topics[r.topic]
                    row = audit_row(Record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value), writer).row
                    if row is not None:
                        records[(row["audit_id"], writer)] = row
                        every.append((writer, row))
        return records, complete, every
    finally:
        consumer.close()


def load_audit_log(client: Any, database: str) -> dict[AuditKey, dict[str, Any]]:
    """``database``'s audit_log rows by audit id and writer (the latest copy of each), `at` as Unix seconds."""
    rows = client.execute(
        "SELECT audit_id, writer, toUnixTimestamp(at), actor_id, role, action, method, path, finding_id, status, "
        f"detail, chain, prev_hash, hash FROM {database}.audit_log FINAL"
    )
    return {(r[0], r[1]): dict(zip(AUDIT_FIELDS, r[2:], strict=True)) for r in rows}
