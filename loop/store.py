"""Loop messages into ClickHouse (table loop_messages, migration 0020): rows built here, one INSERT per flush."""

from __future__ import annotations

import json
from typing import Any

from loop.contract import Decision, RecommendationReport, Response

COLUMNS = (
    "message_id",
    "finding_id",
    "type",
    "schema_version",
    "actor_id",
    "department_id",
    "at",
    "kind",
    "outcome",
    "reason",
    "dismissal_reason",
    "recommendation",
    "report_within_wd",
    "measure",
    "target_kind",
    "target_id",
    "text",
    "attachments",
    "body",
    "source_partition",
    "source_offset",
)


def message_row(msg: Response | Decision | RecommendationReport, partition: int, offset: int) -> tuple[Any, ...]:
    """A loop message as a loop_messages row: its common columns, the type's own fields, and its full JSON body."""
    d = msg.model_dump(mode="json")
    row = {c: "" for c in COLUMNS} | {
        "message_id": msg.message_id,
        "finding_id": msg.finding_id,
        "type": msg.type,
        "schema_version": 1,
        "actor_id": msg.actor_id,
        "at": msg.at,
        "report_within_wd": 0,
        "attachments": "[]",
        "body": json.dumps(d, ensure_ascii=False, sort_keys=True),
        "source_partition": partition,
        "source_offset": offset,
    }
    for key in (
        "department_id",
        "kind",
        "outcome",
        "reason",
        "dismissal_reason",
        "recommendation",
        "measure",
        "target_kind",
        "target_id",
        "text",
    ):
        if d.get(key) is not None:
            row[key] = str(d[key])
    if isinstance(msg, Decision) and msg.report_within_wd:
        row["report_within_wd"] = msg.report_within_wd
    if not isinstance(msg, Decision):
        row["attachments"] = json.dumps(d["attachments"], ensure_ascii=False)
    return tuple(row[c] for c in COLUMNS)


class MessageStore:
    """Buffers rows; ``flush()`` is the only I/O and always clears (a replayed message keeps one row: FINAL)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.rows: list[tuple[Any, ...]] = []

    def add(self, msg: Response | Decision | RecommendationReport, partition: int, offset: int) -> None:
        """Buffer a message's row until the next flush."""
        self.rows.append(message_row(msg, partition, offset))

    def flush(self) -> None:
        """Insert the buffered rows in one INSERT; the buffer is cleared first."""
        rows, self.rows = self.rows, []
        if rows:
            self.client.execute(f"INSERT INTO loop_messages ({', '.join(COLUMNS)}) VALUES", rows)
