"""Access changes on the audit topic, in the API's audit record format (api/audit.py), hash-chained per command."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any


def os_user() -> str:
    """The operator's login name for the audit record, or `uid:<n>` where the uid has none."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container with an unnamed uid)
        return f"uid:{os.getuid()}"


class AccessAudit:
    """One chain per command run: who (OS user and the principal the change was made as), when, what."""

    def __init__(self, producer: Any, topic: str, principal: str, command: str) -> None:
        self.producer, self.topic, self.principal, self.command = producer, topic, principal, command
        self.chain = uuid.uuid4().hex
        self.prev = ""

    def record(self, action: str, detail: dict[str, Any]) -> dict[str, Any]:
        """Send one access change to the audit topic, chained to the previous record, and wait for the broker's ack."""
        row: dict[str, Any] = {
            "audit_id": str(uuid.uuid4()),
            "at": datetime.now(UTC).isoformat(),
            "actor_id": os_user(),
            "role": f"kafka:{self.principal}",
            "action": action,
            "method": "CLI",
            "path": self.command,
            "finding_id": "",
            "status": 0,
            "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True),
            "chain": self.chain,
            "prev_hash": self.prev,
        }
        # The hash covers the content and the previous record, as the API's records do.
        row["hash"] = hashlib.sha256(json.dumps(row, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
        self.prev = row["hash"]
        # Sent and acknowledged before the change is reported done: an unaudited change fails loudly.
        self.producer.send(self.topic, key=self.chain.encode(), value=json.dumps(row).encode()).get(timeout=30)
        return row


def record_change(s: Any, command: str, action: str, detail: dict[str, Any], principal: str | None = None) -> None:
    """One administrative change on ``principal``'s audit topic (the admin by default), acknowledged
    by the broker; raises when it cannot be recorded (the caller undoes the change or fails loudly)."""
    from esup import kafka_auth as ka
    from esup.audit_writers import audit_topic
    from esup.producer import kafka_producer

    who = principal or ka.ADMIN
    producer = kafka_producer(s.kafka_bootstrap, "esup-audit", auth=ka.kafka_python_auth(s, who))
    try:
        AccessAudit(producer, audit_topic(s, who), who, command).record(action, detail)
    finally:
        producer.close(timeout=10)
