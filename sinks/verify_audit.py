"""`esup verify`'s audit checks: every decision in `loop_messages` was accepted (and audited) by the API.

A decision dismisses a finding from the rankings; only the API (and the console through it) may publish one,
and it audits each with the message id in the record's detail (api/app.py). A decision row without such a
record was written behind the API's back: into ClickHouse directly, or onto the responses topic by a
principal that should not write it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sinks.rows import COLUMNS
from sinks.verify import Problem


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
    """The message ids that ``database``'s audit_log records name (only records whose detail mentions one)."""
    rows = client.execute(f"SELECT detail FROM {database}.audit_log WHERE position(detail, 'message_id') > 0")
    return audited_message_ids(r[0] for r in rows)


def verify_decisions(client: Any, database: str) -> list[Problem]:
    """Every decision in ClickHouse without an API audit record."""
    return check_decisions(load_decisions(client, database), load_audited(client, database))


# What an audit record says (the audit_log columns but its id); `at` compared to the second (DateTime).
AUDIT_FIELDS: tuple[str, ...] = tuple(c for c in COLUMNS["audit_log"] if c != "audit_id")


def _comparable(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in AUDIT_FIELDS}
    at = out["at"]
    out["at"] = int(at.timestamp()) if isinstance(at, datetime) else int(at)
    return out


def check_audit(
    on_topic: Mapping[str, Mapping[str, Any]], in_table: Mapping[str, Mapping[str, Any]], *, complete: bool
) -> list[Problem]:
    """audit_log (``in_table``) against the audit topic's records (``on_topic``), both by audit id: a record
    missing from the table (deleted), differing from the topic's (edited), or, when the topic still holds
    everything ever written to it (``complete``), a row the topic never carried (inserted)."""
    problems: list[Problem] = []
    for audit_id in sorted(on_topic):
        want = _comparable(on_topic[audit_id])
        row = in_table.get(audit_id)
        if row is None:
            what = f"{want['action']} by {want['actor_id']}"
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
        for audit_id in sorted(set(in_table) - set(on_topic)):
            problems.append(Problem("inserted", audit_id, "audit record: in audit_log, never on the audit topic"))
    return problems


def read_audit_topic(bootstrap: str, topic: str, *, auth: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
    """The audit topic's records by audit id (as the sink converts them; what it rejects is left out), and
    whether the topic still starts at offset 0 (nothing removed by retention)."""
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
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or set())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        complete = all(offset == 0 for offset in consumer.beginning_offsets(tps).values())
        ends = consumer.end_offsets(tps)
        records: dict[str, Any] = {}
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            batch = consumer.poll(timeout_ms=1000)
            if not batch:
                break
            for rs in batch.values():
                for r in rs:
                    row = audit_row(Record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value)).row
                    if row is not None:
                        records[row["audit_id"]] = row
        return records, complete
    finally:
        consumer.close()


def load_audit_log(client: Any, database: str) -> dict[str, dict[str, Any]]:
    """``database``'s audit_log rows by audit id (the latest copy of each), `at` as Unix seconds."""
    rows = client.execute(
        "SELECT audit_id, toUnixTimestamp(at), actor_id, role, action, method, path, finding_id, status, detail, "
        f"chain, prev_hash, hash FROM {database}.audit_log FINAL"
    )
    return {r[0]: dict(zip(AUDIT_FIELDS, r[1:], strict=True)) for r in rows}
