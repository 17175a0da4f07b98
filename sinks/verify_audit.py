"""`esup verify`'s audit checks: every decision in `loop_messages` was accepted (and audited) by the API.

A decision dismisses a finding from the rankings; only the API (and the console through it) may publish one,
and it audits each with the message id in the record's detail (api/app.py). A decision row without such a
record was written behind the API's back: into ClickHouse directly, or onto the responses topic by a
principal that should not write it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

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
