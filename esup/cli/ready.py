"""After `esup services up`: wait, showing progress, until the backfilled province ranks the current month."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from esup.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Progress:
    """One reading of the start-up's progress: simulator phase, what ClickHouse holds, workers' lag, ranking."""

    phase: str  # the simulator's: backfill, then live once the workers have applied the backfill
    latest_event: datetime | None  # the latest event time ClickHouse holds
    events: int
    lag: int | None  # the workers' lag on case events (None: not known yet)
    ranked: int  # departments ranked for the current month
    named: int  # of which with a name

    @property
    def done(self) -> bool:
        """Whether the province is ready: live, and every department ranked this month has a name."""
        return self.phase == "live" and self.ranked > 0 and self.named == self.ranked

    @property
    def settled(self) -> bool:
        """Live and nothing left to apply: if the month still ranks nothing, it has only just begun."""
        return self.phase == "live" and self.lag == 0

    def line(self, elapsed_s: float) -> str:
        """The reading as one progress line, with the seconds since waiting began."""
        latest = f"{self.latest_event:%Y-%m-%d %H:%M}" if self.latest_event else "-"
        lag = "-" if self.lag is None else f"{self.lag:,}"
        return (
            f"  {elapsed_s:5.0f}s  {self.phase}: events up to {latest} ({self.events:,} in ClickHouse), "
            f"workers' lag {lag}, this month {self.ranked} departments ranked ({self.named} named)"
        )


def phase(s: Settings) -> str:
    """The simulator's phase from its phase file, or "starting" before it has written one."""
    from sim.run import PHASE_FILE

    try:
        return str(json.loads((s.home / "sim" / PHASE_FILE).read_text(encoding="utf-8"))["phase"])
    except (OSError, ValueError, KeyError):
        return "starting"


def measure(s: Settings, client: object, now: datetime) -> Progress:
    """One look at the simulator's phase, ClickHouse and the workers' consumer group."""
    from esup.kafka_auth import OPERATOR, kafka_python_auth
    from esup.lag import group_lag
    from sinks.rankings import fetch, period_start

    ch = client
    latest, events = ch.execute("SELECT max(occurred_at), count() FROM case_events")[0]  # type: ignore[attr-defined]
    try:
        rows = group_lag(
            s.kafka_bootstrap, {s.worker_app_id: [s.topic_case_events]}, auth=kafka_python_auth(s, OPERATOR)
        )
        mine = [r for r in rows if r.topic == s.topic_case_events]
        lag: int | None = sum(r.lag for r in mine) if mine and all(r.committed is not None for r in mine) else None
    except Exception:  # Kafka busy: ask again next time
        lag = None
    ranked = fetch(ch, "department", "month", period_start("month", now.date()))
    has_events = int(events) > 0 and latest is not None
    return Progress(
        phase(s),
        latest.astimezone(TZ) if has_events else None,
        int(events),
        lag,
        len(ranked),
        sum(1 for r in ranked if r.department_name),
    )


def wait_until_ranked(
    s: Settings, *, timeout_s: float, every_s: float = 5.0, grace_s: float = 60.0, say: Callable[[str], None] = print
) -> Progress | None:
    """Poll until the province is live and the current month is ranked with names; None on timeout.

    Also returns once it has been live with nothing to apply for ``grace_s`` (the first hours of a month
    may have nothing to rank yet): then ``done`` is false.
    """
    from sinks.clickhouse import connect

    client = connect(s, role="reader")
    started = time.monotonic()
    settled_at: float | None = None
    try:
        while True:
            last = measure(s, client, datetime.now(TZ))
            say(last.line(time.monotonic() - started))
            if last.done:
                return last
            settled_at = (settled_at or time.monotonic()) if last.settled else None
            if settled_at is not None and time.monotonic() - settled_at > grace_s:
                return last
            if time.monotonic() - started > timeout_s:
                return None
            time.sleep(every_s)
    finally:
        client.disconnect()
