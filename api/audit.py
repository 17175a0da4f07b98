"""Every API action into the append-only audit_log table and onto the audit topic, hash-chained."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from datetime import datetime
from typing import Any

COLUMNS = (
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
)


class Auditor:
    """One chain per API process: each record's hash covers its content and the previous record's hash.

    ``client`` None: the topic only (the sink copies it into audit_log), for writers without a ClickHouse
    login such as the simulated supervisors (sim/respond.py)."""

    def __init__(self, client: Any | None, producer: Any, topic: str) -> None:
        self.client, self.producer, self.topic = client, producer, topic
        self.chain = uuid.uuid4().hex
        self.prev = ""
        self._lock = threading.Lock()

    def record(
        self,
        *,
        at: datetime,
        actor: str,
        role: str,
        action: str,
        method: str,
        path: str,
        finding_id: str,
        status: int,
        detail: dict[str, Any],
    ) -> dict[str, Any]:
        """Write one API action to audit_log and the audit topic, chained to the previous one; fails if either fails."""
        with self._lock:
            row: dict[str, Any] = {
                "audit_id": str(uuid.uuid4()),
                "at": at,
                "actor_id": actor,
                "role": role,
                "action": action,
                "method": method,
                "path": path,
                "finding_id": finding_id,
                "status": status,
                "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True),
                "chain": self.chain,
                "prev_hash": self.prev,
            }
            content = json.dumps(
                {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()},
                ensure_ascii=False,
                sort_keys=True,
            )
            row["hash"] = hashlib.sha256(content.encode()).hexdigest()
            self.prev = row["hash"]
            # The audit is written before the answer goes out: an action that cannot be audited fails.
            if self.client is not None:
                values = [tuple(row[c] for c in COLUMNS)]
                self.client.execute(f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES", values)
            wire = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
            self.producer.send(self.topic, key=self.chain.encode(), value=json.dumps(wire).encode()).get(timeout=30)
            return row
