"""Where simulated events go: a JSON Lines file, or Kafka paced in real time, accelerated, or as fast as possible.

Events leave in order of occurrence, so a worker on the event clock sees the same history `esup evaluate`
reads from the file (a back-dated event is sent when it occurred; only its ``recorded_at`` tells).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from schemas.control import Tick

if TYPE_CHECKING:
    from esup.settings import Settings


def parse_speed(text: str) -> float | None:
    """'max' → None (no pacing), 'realtime' → 1, '600' or '600x' → 600 times faster than real time."""
    t = text.strip().lower()
    if t == "max":
        return None
    if t == "realtime":
        return 1.0
    try:
        speed = float(t.removesuffix("x"))
    except ValueError:
        raise ValueError(f"speed {text!r}: expected 'realtime', 'max' or an acceleration factor such as 600") from None
    if speed <= 0:
        raise ValueError("speed must be positive")
    return speed


class Pacer:
    """Maps simulated time onto the wall clock, ``speed`` times faster than real time (None: no pacing).

    With ``catch_up``, a run that starts in the past goes at ``speed`` until it reaches the present and
    in real time from then on: simulated time is the earlier of the accelerated clock and the real one.
    ``speed`` None with ``catch_up`` is a backfill: as fast as possible up to the present, then real time.
    """

    def __init__(
        self,
        speed: float | None,
        origin: datetime,
        *,
        catch_up: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.speed = speed
        self.origin = origin
        self.catch_up = catch_up
        self.clock, self.wall = clock, wall
        self.started = clock()
        self._waited = False  # a backfill has had to wait for the wall clock: it is at the present

    @property
    def live(self) -> bool:
        """Whether simulated time follows a clock (a backfill only once it has reached the present)."""
        return self.speed is not None or self._waited

    @property
    def present(self) -> bool:
        """Whether a catch-up run has reached the present and goes on in real time."""
        if not self.catch_up:
            return False
        if self.speed is None:
            return self._waited
        return self.origin + timedelta(seconds=(self.clock() - self.started) * self.speed) >= self.wall()

    def sim_now(self, lag_s: float = 0.0) -> datetime:
        """Simulated time now (or ``lag_s`` wall seconds ago)."""
        if self.speed is None:
            if self.catch_up:
                return (self.wall() - timedelta(seconds=lag_s)).astimezone(self.origin.tzinfo)
            return datetime.max.replace(tzinfo=self.origin.tzinfo)
        fast = self.origin + timedelta(seconds=(self.clock() - self.started - lag_s) * self.speed)
        if not self.catch_up:
            return fast
        return min(fast, (self.wall() - timedelta(seconds=lag_s)).astimezone(self.origin.tzinfo))

    def wait_s(self, moment: datetime) -> float:
        """Wall seconds until ``moment`` is due (0 when it is)."""
        if self.speed is None:
            if not self.catch_up:
                return 0.0
            wait = (moment - self.wall()).total_seconds()
            self._waited = self._waited or wait > 0
            return max(0.0, wait)
        fast = self.origin + timedelta(seconds=(self.clock() - self.started) * self.speed)
        wait = (moment - fast).total_seconds() / self.speed
        if self.catch_up:
            wait = max(wait, (moment - self.wall()).total_seconds())
        return max(0.0, wait)


class Writer(Protocol):
    """Where a run's events go, one at a time: a JSON-lines file or Kafka."""

    def write(self, event: dict[str, Any]) -> None:
        """Write one event."""

    def close(self) -> None:
        """Write what is pending and release the file or connection."""


class JsonlWriter:
    """Writes each event as one compact JSON line to ``path`` (its folder created if missing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh: IO[str] = path.open("w", encoding="utf-8")

    def write(self, event: dict[str, Any]) -> None:
        """Append the event as one JSON line."""
        self._fh.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


class KafkaWriter:
    """Sends each event through the department producer (validated, keyed by case id, acks=all)."""

    def __init__(self, bootstrap: str, topic: str, *, producer: Any = None, auth: dict[str, Any] | None = None) -> None:
        from esup.producer import DepartmentProducer

        self._producer = DepartmentProducer(bootstrap, topic, producer=producer, auth=auth)
        self._pending: list[Any] = []
        self.sent = 0
        self.failed = 0

    def write(self, event: dict[str, Any]) -> None:
        """Send the event; every 5000 sends, count the ones settled so far."""
        self._pending.append(self._producer_for(event).send(event))
        if len(self._pending) >= 5000:
            self._settle(wait=False)

    def _producer_for(self, event: dict[str, Any]) -> Any:
        return self._producer

    def _producers(self) -> list[Any]:
        return [self._producer]

    def _settle(self, *, wait: bool) -> None:
        keep = []
        for f in self._pending:
            if wait:
                try:
                    f.get(timeout=60)
                except Exception:  # the future re-raises the broker's or the client's error
                    self.failed += 1
                    continue
            elif not f.is_done:
                keep.append(f)
                continue
            elif f.failed():
                self.failed += 1
                continue
            self.sent += 1
        self._pending = keep

    def close(self) -> None:
        """Flush and close the producers, waiting for every send to be counted as sent or failed."""
        for p in self._producers():
            p.flush()
        self._settle(wait=True)
        for p in self._producers():
            p.close()


class DepartmentKafkaWriter(KafkaWriter):
    """Each department's events to its own ingestion topic, logged in as that department (dept-<id>).

    As a real province runs: a department's system may write only its own topic, and the bridge binds
    each event to it. Producers are made on a department's first event (a province has ~135).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._by_department: dict[str, Any] = {}
        self._pending = []
        self.sent = 0
        self.failed = 0

    def _producer_for(self, event: dict[str, Any]) -> Any:
        dept = str(event["department_id"])
        found = self._by_department.get(dept)
        if found is None:
            from esup.kafka_auth import department_principal, kafka_python_auth
            from esup.producer import DepartmentProducer, kafka_producer
            from esup.topics import ingest_topic

            s = self.settings
            producer = kafka_producer(
                s.kafka_bootstrap, f"esup-sim-{dept}", auth=kafka_python_auth(s, department_principal(dept))
            )
            found = self._by_department[dept] = DepartmentProducer(
                s.kafka_bootstrap, ingest_topic(s, dept), producer=producer
            )
        return found

    def _producers(self) -> list[Any]:
        return list(self._by_department.values())


class Ticker:
    """Moves the event clock of every partition to the simulated time (for workers run with --clock event).

    It ticks to where simulated time stood ``lag_s`` wall seconds ago, so events sent just before are
    (almost surely) applied before the timers they may stop run.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        every_s: float,
        lag_s: float = 3.0,
        ready: Callable[[], bool] | None = None,
        on_present: Callable[[], None] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> None:
        from esup.producer import kafka_producer

        self.topic, self.every_s, self.lag_s = topic, every_s, lag_s
        # After a backfill: no tick until the workers have applied it, or a tick would run timers past
        # events still queued on their partitions (ticks and events are different topics).
        self.ready = ready
        self.on_present = on_present  # called once, at the first tick in real time after a catch-up
        self._producer = kafka_producer(bootstrap, "esup-simulator-ticks", auth=auth)
        self._partitions = sorted(self._producer.partitions_for(topic) or [])
        if not self._partitions:
            raise LookupError(f"topic {topic} does not exist: run `esup topics create`")
        self._last = 0.0
        self.sent = 0

    def maybe(self, pacer: Pacer) -> None:
        """Tick when ``every_s`` has passed and the run is live (after a backfill, once the workers are ready)."""
        now = time.monotonic()
        if now - self._last < self.every_s or not pacer.live:
            return
        self._last = now
        if self.ready is not None:
            if not self.ready():
                return
            self.ready = None
        at = pacer.sim_now(self.lag_s)
        for p in self._partitions:
            self._producer.send(self.topic, partition=p, value=Tick(partition=p, now=at).model_dump_json().encode())
        self.sent += 1
        if self.on_present is not None and pacer.present:
            self.on_present()
            self.on_present = None

    def close(self) -> None:
        """Flush the ticks and close the producer."""
        self._producer.flush(timeout=30)
        self._producer.close(timeout=10)


class Progress:
    """A line on stderr every ``every_s`` seconds: how far the run has come and how fast it goes."""

    def __init__(self, every_s: float = 5.0, out: IO[str] | None = None, total: int | None = None) -> None:
        self.every_s, self.out, self.total = every_s, out or sys.stderr, total
        self.started = self._last = time.monotonic()
        self.events = 0
        self.cases = 0

    def update(self, event: dict[str, Any], *, force: bool = False) -> None:
        """Write the progress line when ``every_s`` has passed since the last one (or when ``force``)."""
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        rate = self.events / max(now - self.started, 1e-9)
        of = f" of {self.total:,}" if self.total else ""
        self.out.write(
            f"esup simulate: {self.events:,} events, {self.cases:,}{of} cases; simulated time "
            f"{event['occurred_at'][:16]}; {rate:,.0f} events/s\n"
        )
        self.out.flush()


def stream(
    events: Iterable[dict[str, Any]],
    writers: list[Writer],
    pacer: Pacer,
    progress: Progress,
    stop: threading.Event,
    *,
    ticker: Ticker | None = None,
) -> int:
    """Send every event when its time comes; returns how many were sent (fewer when stopped)."""
    last: dict[str, Any] | None = None
    for event in events:
        moment = datetime.fromisoformat(event["occurred_at"])
        while (wait := pacer.wait_s(moment)) > 0:
            if ticker is not None:
                ticker.maybe(pacer)
            if stop.wait(min(wait, 0.5)):
                return progress.events
        if stop.is_set():
            break
        for w in writers:
            w.write(event)
        progress.events += 1
        progress.cases += event["event_id"].endswith("-01")  # a case's first event (sim.case numbers them)
        if ticker is not None:
            ticker.maybe(pacer)
        progress.update(event)
        last = event
    if last is not None:
        progress.update(last, force=True)
    return progress.events
