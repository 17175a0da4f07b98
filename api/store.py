"""The API's reads from ClickHouse (readonly=1 on every query) and its writes to Kafka (acks=all)."""

from __future__ import annotations

import json
from typing import Any

from loop.contract import Decision, RecommendationReport, Response
from schemas.findings import Finding

_FINDING_COLS = (
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
    "config_version",
)
READONLY = {"readonly": 1}


class FindingsReader:
    """Reads findings and their loop messages from ClickHouse, read-only."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def select(self, where: str, params: dict[str, Any], limit: int = 1) -> list[Finding]:
        """The latest findings matching a WHERE clause (with %(name)s parameters), newest first."""
        rows = self.client.execute(
            f"SELECT {', '.join(_FINDING_COLS)} FROM findings FINAL WHERE {where} "
            f"ORDER BY detected_at DESC, finding_id LIMIT {int(limit)}",
            params,
            settings=READONLY,
        )
        out = []
        for r in rows:
            d = dict(zip(_FINDING_COLS, r, strict=True))
            d["details"] = json.loads(d["details"] or "{}")
            d["provisional"] = bool(d["provisional"])
            out.append(Finding.model_validate(d))
        return out

    def get(self, finding_id: str) -> Finding | None:
        """The finding with this id, or None."""
        found = self.select("finding_id = %(id)s", {"id": finding_id})
        return found[0] if found else None

    def visible(self, department_id: str | None, region_prefix: str | None, limit: int) -> list[Finding]:
        """The newest findings of a department, or else of the regions under a region-code prefix."""
        if department_id is not None:
            return self.select("department_id = %(d)s", {"d": department_id}, limit)
        return self.select("startsWith(region_code, %(r)s)", {"r": region_prefix or ""}, limit)

    def messages(self, finding_id: str) -> list[dict[str, Any]]:
        """A finding's loop messages, oldest first."""
        rows = self.client.execute(
            "SELECT body FROM loop_messages FINAL WHERE finding_id = %(id)s ORDER BY at, message_id",
            {"id": finding_id},
            settings=READONLY,
        )
        return [json.loads(r[0]) for r in rows]


class Publisher:
    """Publishes loop messages onto the loop topic."""

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer, self.topic = producer, topic

    def publish(self, msg: Response | Decision | RecommendationReport) -> tuple[int, int]:
        """Send keyed by finding id and wait for every in-sync replica; returns (partition, offset)."""
        meta = self.producer.send(self.topic, key=msg.finding_id.encode(), value=msg.model_dump_json().encode()).get(
            timeout=30
        )
        return meta.partition, meta.offset
