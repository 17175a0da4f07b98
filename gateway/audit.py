"""Gateway credential use onto the audit topic, in the API's hash-chained record format (api/audit.py)."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from datetime import datetime
from typing import Any

from api.audit import COLUMNS


class GatewayAuditor:
    """One chain per gateway process; the records carry the token's id, never the token."""

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer, self.topic = producer, topic
        self.chain = uuid.uuid4().hex
        self.prev = ""
        self._lock = threading.Lock()

    def record(
        self,
        *,
        at: datetime,
        department_id: str | None,
        token_id: str | None,
        status: int,
        detail: dict[str, Any],
        path: str = "/v1/events",
    ) -> Any:
        """Send one record; returns the send future (the caller waits for it before answering)."""
        with self._lock:
            row: dict[str, Any] = {
                "audit_id": str(uuid.uuid4()),
                "at": at.isoformat(),
                "actor_id": f"gateway-token:{token_id}" if token_id else "anonymous",
                "role": "department" if department_id else "",
                "action": "gateway.ingest",
                "method": "POST",
                "path": path,
                "finding_id": "",
                "status": status,
                "detail": json.dumps(
                    {"department_id": department_id, "token_id": token_id, **detail}, ensure_ascii=False, sort_keys=True
                ),
                "chain": self.chain,
                "prev_hash": self.prev,
            }
            content = json.dumps(row, ensure_ascii=False, sort_keys=True)
            row["hash"] = hashlib.sha256(content.encode()).hexdigest()
            self.prev = row["hash"]
            if set(row) != set(COLUMNS):  # the API's reader (and audit_log) take these columns
                raise ValueError(f"audit row columns {sorted(row)} are not audit_log's")
            return self.producer.send(self.topic, key=self.chain.encode(), value=json.dumps(row).encode())
