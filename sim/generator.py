"""Pure generation: arrivals over the calendar, one case per arrival, all events in time order, the ground truth.

Every case draws from its own random stream (seed and case number): its story depends on its number, its
arrival and the options, not on the cases before it. Nothing here touches Kafka or files.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from schemas.catalog import Catalog, CatalogItem
from schemas.config import RuleConfig
from sim.case import CaseBuilder
from sim.catalog import UNKNOWN_ITEM, build_catalog, demand, department_kind, unknown_item
from sim.clock import TZ, Thresholds
from sim.lifecycle import Profile, build_case
from sim.province import County, Province, build_province
from sim.reapply import KIND as REAPPLY
from sim.reapply import reapply
from sim.truth import Expected
from sim.violations import KINDS, draw, rates
from streams.rules.calendar import WorkCalendar


@dataclass(frozen=True)
class Options:
    """The simulation's settings: seed, start, how many cases over how long (or a live rate), violations, province."""

    seed: int = 1
    start: datetime = datetime(2026, 1, 5, tzinfo=TZ)
    cases: int | None = 1000  # None: a live province that never ends
    days: int = 60  # calendar days over which a finite run's applications arrive
    cases_per_day: float = 200.0  # a live province's applications per working day
    violation_rate: float = 0.2
    rates: Mapping[str, float] = field(default_factory=dict)  # per-kind overrides
    cities: int = 3
    counties: int = 4
    online_share: float = 0.12  # applications made online, any day and hour
    id_prefix: str = ""
    profile: Profile = field(default_factory=Profile)
    rules: RuleConfig = field(default_factory=RuleConfig)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.cases is not None and self.cases < 0:
            raise ValueError("cases must be >= 0")
        rates(self.violation_rate, self.rates)  # validates


@dataclass
class SimCase:
    """One simulated case by arrival number, with the applicant's new case when it was withdrawn and reapplied."""

    number: int
    builder: CaseBuilder
    followup: CaseBuilder | None = None  # withdraw_reapply: the applicant's new case for the same item

    @property
    def builders(self) -> list[CaseBuilder]:
        """The case's builders: the case and, if any, its reapplication."""
        return [self.builder] if self.followup is None else [self.builder, self.followup]

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of the case followed by those of its reapplication, if any."""
        return self.builder.events if self.followup is None else self.builder.events + self.followup.events


class Simulation:
    """A province, its catalog, and its cases in order of arrival."""

    def __init__(self, options: Options, calendar: WorkCalendar | None = None) -> None:
        self.options = options
        self.calendar = calendar or WorkCalendar()
        self.province: Province = build_province(options.seed, options.cities, options.counties)
        self.catalog: Catalog = build_catalog()
        r = options.rules
        self.thresholds = Thresholds.of(
            r.notice_share,
            r.follow_up_wd,
            backdating_hours=r.backdating_hours,
            batch_min_events=r.batch_min_events,
            batch_window_minutes=r.batch_window_minutes,
            suspension_share=r.suspension_share,
        )
        self.rates = rates(options.violation_rate, options.rates)
        self._items = self.catalog.by_code()
        self._demand = demand()

    # ---- arrivals ---------------------------------------------------------------------------------------

    def arrivals(self) -> Iterator[datetime]:
        """Application moments in time order: office hours on working days, online ones any time."""
        o = self.options
        rnd = random.Random(f"{o.seed}:arrivals")
        day = o.start.astimezone(TZ).date()
        if o.cases is not None:
            days = [day + timedelta(days=i) for i in range(max(o.days, 1))]
            weights = [1.0 if self.calendar.is_workday(d) else o.online_share for d in days]
            per_day = dict.fromkeys(days, 0)
            for d in rnd.choices(days, weights, k=o.cases):
                per_day[d] += 1
            for d in days:
                yield from self._day(rnd, d, per_day[d])
            return
        while True:  # live: a Poisson-like count per day, forever
            mean = o.cases_per_day * (1.0 if self.calendar.is_workday(day) else o.online_share)
            yield from (t for t in self._day(rnd, day, max(0, round(rnd.gauss(mean, math.sqrt(mean))))) if t >= o.start)
            day += timedelta(days=1)

    def _day(self, rnd: random.Random, day: date, n: int) -> list[datetime]:
        work = self.calendar.is_workday(day)
        out = []
        for _ in range(n):
            if work and rnd.random() >= self.options.online_share:
                minute = rnd.randint(0, 8 * 60) if rnd.random() < 0.95 else rnd.randint(0, 30)  # 09:00-17:00
                out.append(datetime.combine(day, time(9), TZ) + timedelta(minutes=minute))
            else:
                out.append(datetime.combine(day, time(7), TZ) + timedelta(minutes=rnd.randint(0, 15 * 60)))
        return sorted(out)

    # ---- cases ------------------------------------------------------------------------------------------

    def cases(self) -> Iterator[SimCase]:
        """The cases in order of arrival, each with its item, county and violation (if any) drawn from its own seed."""
        counties = self.province.counties
        weights = [c.weight for c in counties]
        for number, arrival in enumerate(self.arrivals(), start=1):
            rnd = random.Random(f"{self.options.seed}:case:{number}")
            kind = draw(rnd, self.rates)
            item, known = self._item(rnd, kind)
            county = rnd.choices(counties, weights)[0]
            case = SimCase(number, self._build(number, arrival, county, item, known, kind, rnd))
            if kind == REAPPLY:
                again = random.Random(f"{self.options.seed}:case:{number}:reapply")
                case.followup = reapply(
                    case.builder, again, county, self.options.profile, self.options.rules.reapply_window_wd
                )
            yield case

    def _item(self, rnd: random.Random, kind: str | None) -> tuple[CatalogItem, bool]:
        if kind == "unknown_item":
            return unknown_item(), False
        fits = [c for c in self._demand if kind is None or KINDS[kind].fits(self._items[c])]
        return self._items[rnd.choices(fits, [self._demand[c] for c in fits])[0]], True

    def _build(
        self,
        number: int,
        arrival: datetime,
        county: County,
        item: CatalogItem,
        known: bool,
        kind: str | None,
        rnd: random.Random,
    ) -> CaseBuilder:
        office = county.offices[department_kind(item)]
        case_id = f"{self.options.id_prefix}{county.region_code}-{arrival:%Y%m%d}-{number:06d}"
        b = CaseBuilder(case_id, item, office, rnd, self.calendar, self.thresholds, known_item=known, violation=kind)
        build_case(b, arrival, county, self.options.profile)
        return b

    def events(self, cases: Iterator[SimCase]) -> Iterator[dict[str, Any]]:
        """Every event of every case in order of occurrence (a case's first event is its arrival)."""
        heap: list[tuple[str, int, int, dict[str, Any]]] = []
        for case in cases:
            first = case.events[0]["occurred_at"]
            while heap and heap[0][0] < first:
                yield heapq.heappop(heap)[3]
            for n, event in enumerate(case.events):
                # ISO strings in one offset (+08:00) sort as the moments they name.
                heapq.heappush(heap, (event["occurred_at"], case.number, n, event))
        while heap:
            yield heapq.heappop(heap)[3]


def default_at(cases: list[SimCase]) -> datetime:
    """The first midnight after every event and after every injected lapse has shown."""
    last = max((max(b.last_day, b.horizon or b.last_day) for c in cases for b in c.builders), default=date(2026, 1, 1))
    return datetime.combine(last + timedelta(days=1), time(0), TZ)


def ground_truth(cases: list[SimCase], at: datetime) -> list[Expected]:
    """Every finding the cases must raise with the timers run to ``at``; clean cases must raise none."""
    out: list[Expected] = []
    for case in cases:
        for b in case.builders:
            found = b.finish(at)
            if b.violation is None and found:
                raise AssertionError(f"clean case {b.case_id} expects {[e.rule for e in found]}")
            out += found
    return out


__all__ = ["UNKNOWN_ITEM", "Options", "SimCase", "Simulation", "default_at", "ground_truth"]
