"""`esup notifier run`: findings in (read_committed, own group), deliveries out, every step in the ledger.

Design: docs/architecture.md#the-notifiers-order-of-work.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from directory.feed import DirectoryFeed
from notifier.channels import Channel, ChannelError
from notifier.config import NotifierConfig
from notifier.ledger import Ledger
from notifier.routing import Delivery, backoff, plan, quiet_until
from schemas.findings import SEVERITY_RANK, Finding, read_finding
from schemas.wire import WireError

log = logging.getLogger("esup.notifier")
_TZ = ZoneInfo("Asia/Shanghai")


class Notifier:
    """The notifier: reads committed findings, records their deliveries in the ledger, then sends what is due."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        group: str,
        config: NotifierConfig,
        auth: dict[str, Any] | None = None,
        channels: Mapping[str, Channel],
        ledger: Ledger,
        feed: DirectoryFeed,
        sync_directory: Callable[[Any], object] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(_TZ),
    ) -> None:
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.auth = auth or {}  # the notifier's login (esup.kafka_auth)
        self.config = config
        self.channels = channels
        self.ledger = ledger
        self.feed = feed
        self.sync_directory = sync_directory
        self.now = now
        self.queue: dict[str, Delivery] = {}
        self.paused: dict[str, tuple[datetime, int]] = {}  # channel → (until, consecutive failures)
        self.counts = {"findings": 0, "planned": 0, "sent": 0, "failed": 0, "deferred": 0, "skipped": 0}
        self._synced = -1
        self._fault_after = int(os.environ.get("ESUP_NOTIFIER_TEST_KILL_AFTER_SENT", "0") or 0)

    # ---- intake ------------------------------------------------------------------------------------------

    def intake(self, findings: list[Finding]) -> list[Delivery]:
        """Plan and record the deliveries of a batch of findings; returns the new ones (also queued)."""
        index = self.feed.index()
        levels = self.ledger.case_levels([f.case_id for f in findings])
        planned: dict[str, Delivery] = {}
        for f in findings:
            rank = SEVERITY_RANK[f.severity]
            before = levels.get(f.case_id, 0)
            for d in plan(f, index, self.config, escalation=0 < before < rank):
                planned.setdefault(d.delivery_id, d)
            levels[f.case_id] = max(before, rank)
        known = self.ledger.known(list(planned))
        new = [d for i, d in planned.items() if i not in known]
        now = self.now()
        for d in new:
            d.next_at = now
        self.ledger.record(new, "pending")
        for d in new:
            self.queue[d.delivery_id] = d
        self.counts["findings"] += len(findings)
        self.counts["planned"] += len(new)
        return new

    # ---- delivery ----------------------------------------------------------------------------------------

    def deliver_due(self, budget_s: float = 1.0) -> int:
        """Send what is due, channel pauses and quiet hours permitting, for at most about budget_s seconds."""
        started = time.monotonic()
        now = self.now()
        done = 0
        for d in sorted(self.queue.values(), key=lambda x: (x.next_at or now, x.delivery_id)):
            if time.monotonic() - started > budget_s:
                break
            if d.next_at is not None and d.next_at > now:
                continue
            paused = self.paused.get(d.channel)
            if paused is not None and paused[0] > now:
                continue
            quiet = quiet_until(self.config.quiet_hours, d.channel, d.severity, now, self.config.timezone)
            if quiet is not None:
                d.next_at = quiet
                self.ledger.record([d], "deferred")
                self.counts["deferred"] += 1
                continue
            done += self._send(d)
        return done

    def _send(self, d: Delivery) -> int:
        channel = self.channels.get(d.channel)
        d.attempt += 1
        if channel is None:
            self._finish(d, "skipped", f"channel {d.channel} is not configured")
            return 0
        self.ledger.record([d], "sending")  # first: a crash after this is visible to the next run
        try:
            channel.send(d)
        except ChannelError as exc:
            failures = self.paused.get(d.channel, (self.now(), 0))[1] + 1
            wait = timedelta(seconds=backoff(failures, self.config.retry.initial_s, self.config.retry.max_s))
            d.next_at = self.now() + wait
            self.paused[d.channel] = (d.next_at, failures)
            self.ledger.record([d], "failed", str(exc))
            self.counts["failed"] += 1
            log.warning(
                "%s to %s failed (attempt %d; channel paused %.0f s): %s",
                d.channel,
                d.recipient,
                d.attempt,
                wait.total_seconds(),
                exc,
            )
            return 0
        except ValueError as exc:  # no address for this person: nothing will ever make it deliverable
            self._finish(d, "skipped", str(exc))
            return 0
        self.paused.pop(d.channel, None)
        self._finish(d, "sent")
        if self._fault_after and self.counts["sent"] >= self._fault_after:
            os.kill(os.getpid(), signal.SIGKILL)  # test-only: die right after a send was recorded
        return 1

    def _finish(self, d: Delivery, status: str, error: str = "") -> None:
        self.ledger.record([d], status, error)
        self.queue.pop(d.delivery_id, None)
        self.counts[status] += 1

    # ---- the loop ----------------------------------------------------------------------------------------

    def _consumer(self) -> Any:
        from kafka import KafkaConsumer

        return KafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id="esup-notifier",
            # The workers write findings inside transactions: only committed ones are real.
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
            allow_auto_create_topics=False,
            **self.auth,
        )

    def run(self, stop: threading.Event, ready_timeout_s: float = 30.0) -> None:
        """Consume findings and deliver until ``stop`` is set.

        It first reloads the ledger's unfinished deliveries; after a Kafka or ClickHouse failure it starts over from
        the committed offsets.
        """
        if not self.feed.wait_ready(ready_timeout_s):
            log.warning(
                "directory %s not loaded after %.0f s; notifying with ids only", self.feed.topic, ready_timeout_s
            )
        self.queue = {d.delivery_id: d for d in self.ledger.unfinished()}
        log.info("notifier started: %d unfinished deliveries from the ledger", len(self.queue))
        while not stop.is_set():
            consumer = None
            try:
                consumer = self._consumer()
                while not stop.is_set():
                    self._step(consumer)
            except Exception:
                # Kafka or ClickHouse away: start over from the committed offsets; nothing was committed
                # for findings whose deliveries were not recorded.
                log.exception("notifier loop failed; restarting in 2 s")
                stop.wait(2.0)
            finally:
                if consumer is not None:
                    consumer.close(autocommit=False)

    def _step(self, consumer: Any) -> None:
        due = any(d.next_at is None or d.next_at <= self.now() for d in self.queue.values())
        batch = consumer.poll(timeout_ms=50 if due else 500)
        findings = []
        for records in batch.values():
            for r in records:
                try:
                    findings.append(read_finding(r.value))
                except WireError as exc:  # the reason names the field; the record is skipped, the rest goes on
                    log.warning(
                        "skipping a record of %s that is not a finding (partition %s, offset %s): %s",
                        self.topic,
                        r.partition,
                        r.offset,
                        exc.reason,
                    )
        if batch:
            self.intake(findings)
            consumer.commit()
        if self.sync_directory is not None and self.feed.changes != self._synced and self.feed.ready.is_set():
            self._synced = self.feed.changes
            self.sync_directory(self.feed.index())
        self.deliver_due()
