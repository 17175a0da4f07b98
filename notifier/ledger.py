"""The delivery ledger in ClickHouse: every intent, attempt, outcome and deferral, appended; state = latest row."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifier.routing import Delivery

TABLE = "notification_deliveries"
FINAL = ("sent", "skipped")  # a delivery in one of these states is done
_TZ = ZoneInfo("Asia/Shanghai")
_EPOCH = datetime(1970, 1, 2, tzinfo=_TZ)  # "no time": DateTime columns are not Nullable in the ledger
_COLS = (
    "delivery_id, seq, status, finding_id, severity, recipient, channel, reason, escalation, case_id, rule, "
    "address, staff_id, staff_name, department_id, department_name, head_id, head_name, bureau_id, attempt, "
    "error, next_attempt_at, payload"
)


class Ledger:
    """The delivery ledger: appends each step of each delivery and answers which are known, escalated or unfinished."""

    def __init__(self, client: Any) -> None:
        self.client = client  # a clickhouse-driver Client on the platform's database
        self._seq = 0
        self._lock = threading.Lock()

    def _next_seq(self) -> int:
        # Strictly increasing even within one microsecond, so argMax(status, seq) is the latest step.
        with self._lock:
            self._seq = max(self._seq + 1, time.time_ns() // 1000)
            return self._seq

    def _row(self, d: Delivery, status: str, *, error: str = "", payload: str = "") -> tuple[Any, ...]:
        a = d.accountable
        return (
            d.delivery_id,
            self._next_seq(),
            status,
            d.finding_id,
            d.severity,
            d.recipient,
            d.channel,
            d.reason,
            int(d.escalation),
            d.case_id,
            d.rule,
            d.address,
            a.get("staff_id", ""),
            a.get("staff_name", ""),
            a.get("department_id", ""),
            a.get("department_name", ""),
            a.get("head_id", ""),
            a.get("head_name", ""),
            a.get("bureau_id", ""),
            d.attempt,
            error[:2000],
            d.next_at or _EPOCH,
            payload,
        )

    def record(self, deliveries: list[Delivery], status: str, error: str = "") -> None:
        """One row per delivery; 'pending' rows carry the message so a restart can send it without the finding."""
        if not deliveries:
            return
        rows = [
            self._row(d, status, error=error, payload=to_payload(d) if status == "pending" else "") for d in deliveries
        ]
        self.client.execute(f"INSERT INTO {TABLE} ({_COLS}) VALUES", rows)

    def known(self, ids: list[str]) -> set[str]:
        """The delivery ids that already have an intent: a redelivered finding adds nothing."""
        if not ids:
            return set()
        rows = self.client.execute(
            f"SELECT DISTINCT delivery_id FROM {TABLE} WHERE delivery_id IN %(ids)s", {"ids": tuple(ids)}
        )
        return {str(r[0]) for r in rows}

    def case_levels(self, case_ids: list[str]) -> dict[str, int]:
        """The highest card already notified per case (1 notice, 2 yellow, 3 red): a higher one is an escalation."""
        if not case_ids:
            return {}
        rows = self.client.execute(
            f"SELECT case_id, max(multiIf(severity = 'red', 3, severity = 'yellow', 2, 1)) FROM {TABLE} "
            "WHERE status = 'pending' AND case_id IN %(ids)s GROUP BY case_id",
            {"ids": tuple(set(case_ids))},
        )
        return {str(c): int(n) for c, n in rows}

    def unfinished(self) -> list[Delivery]:
        """Deliveries whose latest step is not final: pending, deferred, failed, or 'sending' cut short by a crash."""
        rows = self.client.execute(
            f"SELECT delivery_id, argMax(status, seq) AS state, max(attempt), argMax(next_attempt_at, seq), "
            f"anyIf(payload, status = 'pending') FROM {TABLE} GROUP BY delivery_id "
            f"HAVING state NOT IN ('sent', 'skipped')"
        )
        out = []
        for _id, _state, attempt, next_at, payload in rows:
            if not payload:
                continue  # an intent row is always written first; without it there is nothing to send
            d = from_payload(payload)
            d.attempt = int(attempt)
            d.next_at = next_at.replace(tzinfo=_TZ) if next_at.tzinfo is None else next_at
            out.append(d)
        return out

    def states(self) -> dict[str, tuple[str, int]]:
        """delivery id → (latest status, attempts), for status pages and tests."""
        rows = self.client.execute(
            f"SELECT delivery_id, argMax(status, seq), max(attempt) FROM {TABLE} GROUP BY delivery_id"
        )
        return {str(i): (str(s), int(a)) for i, s, a in rows}


def to_payload(d: Delivery) -> str:
    """A delivery as the JSON its 'pending' row keeps, without the attempt count and the next attempt's time."""
    fields = {k: v for k, v in d.__dict__.items() if k not in ("attempt", "next_at")}
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)


def from_payload(payload: str) -> Delivery:
    """The delivery kept in a 'pending' row's payload (attempt and next time are read from the latest row)."""
    return Delivery(**json.loads(payload))
