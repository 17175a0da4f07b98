"""Fair rankings, pure: cards against what the same case mix draws elsewhere in the province, small numbers shrunk.

No I/O. Counts in (``Cell``: one entity's cases and cards in one case-mix stratum), ranked rows out
(``FairRow``). The raw score (sinks/scoring.py) stays the official ranking; this is shown beside it.

The statistics, in brief (the README's "Fair rankings" says it in plain words):

* **Expected cards.** For each stratum s (a catalog item, refined by the special procedure the case went
  through where the data has it), the card rate is the rest of the province's: cards / cases of every other
  entity in the reference window (leave-one-out: the entity's own cases and cards never enter its own
  yardstick). Sparse strata borrow from their parent (item × procedure → item → all cases) with
  ``prior_cases`` pseudo-cases, so a stratum seen in 2 cases elsewhere does not set a rate of 0 or 50 %.
  Expected E = Σ_s cases_s × rate_s; observed O = the entity's cards.
* **O/E with an interval.** Exact Poisson (Garwood) limits of O divided by E.
* **Shrinkage (empirical Bayes, Poisson–gamma).** O ~ Poisson(θ·E), θ ~ Gamma(α, β) across the entities of
  the province; α, β by the method of moments (Clayton & Kaldor 1987; Marshall 1991). The posterior is
  Gamma(α + O, β + E): a department with 12 cases moves little from the province's ratio, one with 2,000
  keeps its own. Quantiles from scipy.stats.gamma (exact, maintained).
* **Rank with its uncertainty.** ``draws`` posterior draws of every θ (numpy, seeded: the same input gives
  the same output); each draw ranks the entities (1 = fewest cards for its mix); the rank range is the
  central ``level`` interval of the entity's ranks over the draws.
* **Ties.** Sorted by shrunk ratio, an entity joins the tie group of the group's first member while their
  posterior intervals overlap; otherwise it opens the next group.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import gamma

LEVEL = 0.95
DRAWS = 2000
SEED = 20260601
PRIOR_CASES = 10.0  # pseudo-cases a sparse stratum borrows from its parent
MIN_SPREAD = 0.1  # the prior's standard deviation is at least this share of its mean


@dataclass(frozen=True, order=True)
class Cell:
    """One entity's counts in one case-mix stratum: cases handled and cards drawn."""

    entity: str
    item: str
    procedure: str  # the special procedure of the case ('' for none)
    cases: int
    cards: int

    def __post_init__(self) -> None:
        if self.cases < 0 or self.cards < 0:
            raise ValueError(f"cell {self.entity}/{self.item}/{self.procedure}: negative count")


@dataclass(frozen=True)
class FairRow:
    """One entity's fair comparison: observed against expected cards, shrunk, ranked with its uncertainty."""

    entity: str
    cases: int
    observed: int
    expected: float
    ratio: float | None  # O/E; None when nothing was expected
    ratio_low: float | None
    ratio_high: float | None
    shrunk: float  # posterior mean of the ratio (empirical Bayes)
    shrunk_low: float
    shrunk_high: float
    rank: int  # by shrunk ratio, 1 = fewest cards for its case mix
    rank_low: int
    rank_high: int
    tie_group: int  # entities in one group are shown as tied

    def as_json(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return asdict(self)


Key = tuple[str, str]  # (item, procedure)


def _sum(cells: Iterable[Cell]) -> dict[str, dict[Key, tuple[int, int]]]:
    """entity -> (item, procedure) -> (cases, cards)."""
    out: dict[str, dict[Key, tuple[int, int]]] = defaultdict(dict)
    for c in sorted(cells, key=lambda c: (c.entity, c.item, c.procedure)):
        n, k = out[c.entity].get((c.item, c.procedure), (0, 0))
        out[c.entity][(c.item, c.procedure)] = (n + c.cases, k + c.cards)
    return out


def _rate(cards: float, cases: float, parent: float, prior: float) -> float:
    return (cards + prior * parent) / (cases + prior)


def expected_cards(
    entity: str,
    mix: Mapping[Key, int],
    reference: Mapping[str, Mapping[Key, tuple[int, int]]],
    prior_cases: float = PRIOR_CASES,
) -> float:
    """Cards the case mix `mix` ((item, procedure) -> cases) would draw at the reference rates of every
    entity but `entity` (leave-one-out)."""
    by_key: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    by_item: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    total = [0, 0]
    for other in sorted(reference):
        if other == entity:
            continue
        for (item, proc), (n, k) in sorted(reference[other].items()):
            for acc in (by_key[(item, proc)], by_item[item], total):
                acc[0] += n
                acc[1] += k
    if total[0] == 0:
        return 0.0
    overall = total[1] / total[0]
    out = 0.0
    for (item, proc), n in sorted(mix.items()):
        if n == 0:
            continue
        i = by_item.get(item, [0, 0])
        item_rate = _rate(i[1], i[0], overall, prior_cases)
        s = by_key.get((item, proc), [0, 0])
        out += n * _rate(s[1], s[0], item_rate, prior_cases)
    return out


def _poisson_ratio_interval(o: int, e: float, level: float) -> tuple[float | None, float | None]:
    if e <= 0:
        return None, None
    a = (1 - level) / 2
    low = 0.0 if o == 0 else float(gamma.ppf(a, o)) / e
    return low, float(gamma.ppf(1 - a, o + 1)) / e


def gamma_prior(observed: list[int], expected: list[float]) -> tuple[float, float] | None:
    """(shape, rate) of the ratios' gamma prior by the method of moments; None when nothing is expected.

    Between-entity variance = the weighted variance of O/E less what Poisson noise alone explains, but never
    below (10 % of the mean)²: few entities with few cards can show no spread beyond noise by chance, and a
    prior as narrow as a point would then claim that every entity is exactly at the province's ratio."""
    pairs = [(o, e) for o, e in zip(observed, expected, strict=True) if e > 0]
    if not pairs:
        return None
    e_sum = sum(e for _, e in pairs)
    m = sum(o for o, _ in pairs) / e_sum
    if m <= 0:
        m = 0.5 / e_sum  # no card anywhere: half a card over the province keeps the prior's mean above 0
    s2 = sum(e * (o / e - m) ** 2 for o, e in pairs) / e_sum
    tau2 = max(s2 - m / (e_sum / len(pairs)), (MIN_SPREAD * m) ** 2)
    return m * m / tau2, m / tau2


def _tie_groups(order: list[int], low: list[float], high: list[float]) -> dict[int, int]:
    groups: dict[int, int] = {}
    leader = -1
    group = 0
    for i in order:
        if leader < 0 or low[i] > high[leader] or high[i] < low[leader]:
            group += 1
            leader = i
        groups[i] = group
    return groups


def fair_rankings(
    period: Iterable[Cell],
    reference: Iterable[Cell] | None = None,
    *,
    ranked: Iterable[str] | None = None,
    level: float = LEVEL,
    draws: int = DRAWS,
    seed: int = SEED,
    prior_cases: float = PRIOR_CASES,
) -> list[FairRow]:
    """Rank the entities of one province fairly.

    `period`: the ranked period's cells; `reference`: the window whose other entities set the rates (the
    period itself when None); `ranked`: the entities to rank (e.g. one city's), default all with cases. The
    prior is estimated over every entity of `period` with cases, so a city is shrunk toward its province.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    now = _sum(period)
    ref = now if reference is None else _sum(reference)
    entities = sorted(e for e, cells in now.items() if sum(n for n, _ in cells.values()) > 0)
    cases = [sum(n for n, _ in now[e].values()) for e in entities]
    observed = [sum(k for _, k in now[e].values()) for e in entities]
    expected = [expected_cards(e, {key: n for key, (n, _) in now[e].items()}, ref, prior_cases) for e in entities]
    prior = gamma_prior(observed, expected)
    shape = np.array([(prior[0] if prior else 1.0) + o for o in observed], dtype=float)
    rate = np.array([(prior[1] if prior else 1.0) + e for e in expected], dtype=float)
    a = (1 - level) / 2
    mean = shape / rate
    low = gamma.ppf(a, shape, scale=1 / rate)
    high = gamma.ppf(1 - a, shape, scale=1 / rate)
    wanted = set(entities if ranked is None else ranked)
    idx = [i for i, e in enumerate(entities) if e in wanted]
    if not idx:
        return []
    # Draws over the ranked entities only, in id order: the same input gives the same draws.
    rng = np.random.default_rng(seed)
    sample = rng.gamma(shape[idx], 1 / rate[idx], size=(draws, len(idx)))
    ranks = sample.argsort(axis=1).argsort(axis=1) + 1
    r_low = np.quantile(ranks, a, axis=0, method="lower")
    r_high = np.quantile(ranks, 1 - a, axis=0, method="higher")
    order = sorted(range(len(idx)), key=lambda j: (mean[idx[j]], entities[idx[j]]))
    groups = _tie_groups(order, [float(low[i]) for i in idx], [float(high[i]) for i in idx])
    rows = []
    for pos, j in enumerate(order, start=1):
        i = idx[j]
        r_lo, r_hi = _poisson_ratio_interval(observed[i], expected[i], level)
        rows.append(
            FairRow(
                entity=entities[i],
                cases=cases[i],
                observed=observed[i],
                expected=expected[i],
                ratio=observed[i] / expected[i] if expected[i] > 0 else None,
                ratio_low=r_lo,
                ratio_high=r_hi,
                shrunk=float(mean[i]),
                shrunk_low=float(low[i]),
                shrunk_high=float(high[i]),
                rank=pos,
                rank_low=min(int(r_low[j]), pos),
                rank_high=max(int(r_high[j]), pos),
                tie_group=groups[j],
            )
        )
    return rows


def finite(x: float | None) -> bool:
    """True for a number that is neither None nor NaN/inf (for formatting)."""
    return x is not None and math.isfinite(x)
