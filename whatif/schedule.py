"""The adoption schedule each side of a what-if is judged under (pure: records and files come in as values).

The baseline follows the live schedule: the configuration topic's records checked and applied in turn as a
worker's configuration feed applies them (streams/config_feed.py), or the adoptions of a schedule file, or
none. The proposal is, by default, the proposed files in force for the whole window and the baseline's
adoptions of every kind not proposed; with a schedule file of its own, its start files plus exactly those
adoptions (docs/whatif.md#adopted-configurations).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.configs import Contexts
from streams.rules import Context
from streams.rules.schedule import KINDS, Adoption, AdoptionError, Schedule, parse_adoption

Record = tuple[bytes | None, bytes | None, int | None]  # key, value, broker timestamp (ms)


@dataclass(frozen=True)
class SideSchedule:
    """The adoptions one side is judged under, where they came from, and the records the workers refuse too."""

    source: str  # "config topic NAME", "file NAME sha256:…", "none (…)", …
    adoptions: tuple[Adoption, ...] = ()  # by moment, then kind
    refused: dict[str, str] = field(default_factory=dict)  # record key → why (as a worker's status page lists it)
    # Records whose moment is before the broker received them (`esup rules adopt --allow-past`): followed, as an
    # event-clock worker does; a live (wall-clock) worker refuses them (streams/config_feed.py).
    published_after_their_moment: tuple[str, ...] = ()

    def signature(self) -> tuple[tuple[str, str, str], ...]:
        """What the side is judged under, apart from where it was read: (kind, moment, version) per adoption."""
        return tuple((a.kind, a.effective_from.astimezone(UTC).isoformat(), a.version) for a in self.adoptions)

    def timeline(self, ctx: Context) -> Contexts | None:
        """The configurations in effect at each moment over the start context ``ctx``; None without adoptions."""
        if not self.adoptions:
            return None
        contexts = Contexts(ctx)
        for a in self.adoptions:
            contexts.adopt(a)
        return contexts

    def describe(self, ctx: Context) -> dict[str, Any]:
        """For the report: the source, the start configuration's version, and each adoption with the version of
        the configuration in effect from its moment (what the findings judged from then carry)."""
        timeline = self.timeline(ctx)
        return {
            "source": self.source,
            "start_config_version": ctx.version,
            "adoptions": [
                {
                    "kind": a.kind,
                    "from": a.effective_from.isoformat(),
                    "version": a.version,
                    "label": a.label,
                    "audit_id": a.audit_id,
                    "config_version": timeline.at(a.effective_from).version if timeline else ctx.version,
                }
                for a in self.adoptions
            ],
            "refused": [{"record": k, "reason": r} for k, r in sorted(self.refused.items())],
            "published_after_their_moment": list(self.published_after_their_moment),
        }


def _ordered(schedule: Schedule) -> tuple[Adoption, ...]:
    every = [a for adoptions in schedule.by_kind.values() for a in adoptions]
    return tuple(sorted(every, key=lambda a: (a.effective_from, a.kind)))


def from_records(
    records: Iterable[Record], source: str, *, refuse_before_receipt: timedelta | None = None
) -> SideSchedule:
    """The schedule the configuration topic's records give a worker that has read them all, in order: each
    checked field by field (streams.rules.schedule.parse_adoption); a bad one is refused, naming the field, and
    changes nothing (an earlier good record of the same key stays); a later good one of a refused key clears it.

    ``refuse_before_receipt`` (the workers' clock offset) judges as wall-clock workers do: a record dated before
    the broker received it is refused (streams/config_feed.py). Without it, as event-clock workers do: it is
    followed and listed in ``published_after_their_moment``."""
    schedule = Schedule()
    refused: dict[str, str] = {}
    early: dict[str, None] = {}
    for key, value, timestamp_ms in records:
        name = (key or b"").decode("utf-8", "replace")[:80]
        try:
            a = parse_adoption(key, value)
            published = _received(timestamp_ms)
            if refuse_before_receipt is not None:
                if published is None:
                    raise AdoptionError("timestamp", "the record has no broker timestamp")
                if a.effective_from < published + refuse_before_receipt:
                    raise AdoptionError(
                        "effective_from",
                        f"{a.effective_from.isoformat()} is before the record was published "
                        f"({(published + refuse_before_receipt).isoformat()}): an adoption takes effect ahead, "
                        "never in the past",
                    )
        except AdoptionError as exc:
            refused[name] = exc.reason[:300]
            continue
        refused.pop(name, None)
        if published is not None and a.effective_from < published:
            early[name] = None
        else:
            early.pop(name, None)
        schedule = schedule.adopt(a)
    return SideSchedule(source, _ordered(schedule), refused, tuple(sorted(early)))


def _received(timestamp_ms: int | None) -> datetime | None:
    """The broker's timestamp as a time; None when there is none or it is out of datetime's range."""
    if not timestamp_ms or timestamp_ms <= 0:
        return None
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (OverflowError, ValueError, OSError):
        return None


def from_adoptions(adoptions: Iterable[Adoption], source: str) -> SideSchedule:
    """A schedule from a file's adoptions (a later entry of the same kind and moment replaces an earlier one)."""
    schedule = Schedule()
    for a in adoptions:
        schedule = schedule.adopt(a)
    return SideSchedule(source, _ordered(schedule))


def proposal(base: SideSchedule, proposed: Iterable[str], own: SideSchedule | None = None) -> SideSchedule:
    """The proposal's schedule. ``own`` (its --schedule file): exactly those adoptions over its start files.
    Else the proposed files (``proposed``: the kinds given a file) are in force for the whole window, so the
    baseline's adoptions of those kinds are dropped; the other kinds follow the baseline's schedule."""
    if own is not None:
        return own
    replaced = sorted(set(proposed) & set(KINDS))
    kept = tuple(a for a in base.adoptions if a.kind not in replaced)
    source = f"the baseline's ({base.source})"
    if len(kept) != len(base.adoptions):
        source += f" without its {' and '.join(replaced)} adoptions: the proposed file in force for the whole window"
    return SideSchedule(source, kept)
