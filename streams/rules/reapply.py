"""Withdraw-and-reapply (clock manipulation): one applicant's facts on one item, checked across cases.

Design: docs/architecture.md#withdraw-and-reapply-the-rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from schemas import events as ev
from schemas.findings import Finding
from streams.rules.calendar import local_date
from streams.rules.context import Context
from streams.rules.state import CaseState

RULE = "DQ_WITHDRAW_REAPPLY"
# Facts kept per applicant and item. Far above any honest history; past it a fact is not kept (the worker
# dead-letters it), so one runaway applicant key cannot grow a row past the record limit.
FACT_LIMIT = 200

Kind = Literal["apply", "withdraw"]


def fact_key(applicant_id: str, item_code: str) -> bytes:
    """The facts' Kafka key and the applicant row's name: each part length-prefixed, so no two pairs of
    ids, whatever characters they hold, encode alike (as finding ids are built)."""
    return "".join(f"{len(p)}:{p}" for p in (applicant_id, item_code)).encode()


@dataclass(frozen=True)
class Fact:
    """A case's application or withdrawal, with its applicant and item: what the withdraw-and-reapply check pairs."""

    kind: Kind
    case_id: str
    applicant_id: str
    item_code: str
    occurred_at: datetime
    event_id: str
    department_id: str
    region_code: str
    staff_id: str

    @property
    def key(self) -> bytes:
        """The Kafka key of the (applicant, item) this fact belongs to."""
        return fact_key(self.applicant_id, self.item_code)

    def to_dict(self) -> dict[str, Any]:
        """The fact as plain JSON values (time as ISO)."""
        return {
            "kind": self.kind,
            "case_id": self.case_id,
            "applicant_id": self.applicant_id,
            "item_code": self.item_code,
            "occurred_at": self.occurred_at.isoformat(),
            "event_id": self.event_id,
            "department_id": self.department_id,
            "region_code": self.region_code,
            "staff_id": self.staff_id,
        }

    def to_json(self) -> bytes:
        """The fact as JSON bytes."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fact:
        """The fact from :meth:`to_dict`'s output; ValueError for another kind, a missing id or a time without zone."""
        if d.get("kind") not in ("apply", "withdraw"):
            raise ValueError(f"fact.kind: {d.get('kind')!r:.40} is neither apply nor withdraw")
        strings = ("case_id", "applicant_id", "item_code", "event_id", "department_id", "region_code", "staff_id")
        for name in strings:
            if not isinstance(d.get(name), str) or not d[name]:
                raise ValueError(f"fact.{name}: missing or not a string")
        at = datetime.fromisoformat(d["occurred_at"])
        if at.tzinfo is None:
            raise ValueError("fact.occurred_at: without a timezone")
        return cls(kind=d["kind"], occurred_at=at, **{n: d[n] for n in strings})

    @classmethod
    def from_json(cls, raw: bytes) -> Fact:
        """The fact from JSON bytes; ValueError when they hold no fact."""
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("fact: not a JSON object")
        return cls.from_dict(data)

    def order(self) -> tuple[datetime, str, str]:
        """Sort key: event time, then kind (apply before withdraw), then case id."""
        return (self.occurred_at, self.kind, self.case_id)


def case_facts(applied_before: bool, withdrawn_before: bool, state: CaseState, event: ev.CaseEvent) -> list[Fact]:
    """The facts an applied event gives: the case's first application, its first withdrawal. ``*_before``:
    whether the state had them before the event. Needs the applicant's id (from the application)."""
    if state.applicant_id is None or event.event_id not in state.seen:
        return []
    kind: Kind | None = None
    if event.kind == "apply" and not applied_before and state.applied_at is not None:
        kind = "apply"
    elif event.kind == "withdraw" and not withdrawn_before and state.outcome == "withdrawn":
        kind = "withdraw"
    if kind is None:
        return []
    return [
        Fact(
            kind,
            state.case_id,
            state.applicant_id,
            state.item_code,
            event.occurred_at,
            event.event_id,
            state.department_id,
            state.region_code,
            event.staff_id,
        )
    ]


@dataclass
class Applicant:
    """What one (applicant, item) key keeps: its facts, in the order they arrived."""

    facts: list[Fact] = field(default_factory=list)

    def to_json(self) -> bytes:
        """The kept facts as JSON bytes."""
        return orjson.dumps({"facts": [f.to_dict() for f in self.facts]})

    @classmethod
    def from_json(cls, raw: bytes) -> Applicant:
        """The kept facts from :meth:`to_json`'s output."""
        return cls([Fact.from_dict(f) for f in orjson.loads(raw)["facts"]])


# A context, or the context in effect at a moment (configurations adopted from moments, streams.configs).
ContextSource = Context | Callable[[datetime], Context]


def pair_context(withdraw: Fact, apply: Fact, ctx: ContextSource) -> Context:
    """The context a pair is judged under: the one in effect at the pair's own moment, the application's (the
    finding's detected_at), whichever of the two facts arrived last (their cases may sit on other partitions)."""
    return ctx if isinstance(ctx, Context) else ctx(apply.occurred_at)


def admit(state: Applicant | None, fact: Fact, ctx: ContextSource) -> tuple[Applicant, list[Finding], bool]:
    """Keep ``fact`` and pair it with the facts kept. Returns (state, findings, over): ``over`` when the key
    already holds FACT_LIMIT facts (the fact is not kept and raises nothing). ``ctx``: a context, or the
    context in effect at a moment; each pair is judged at its own moment (`pair_context`), so the findings do
    not depend on which fact arrived first."""
    state = state if state is not None else Applicant()
    if any(f.kind == fact.kind and f.case_id == fact.case_id for f in state.facts):
        return state, [], False  # seen: a replay or a second withdrawal of the same case
    if len(state.facts) >= FACT_LIMIT:
        return state, [], True
    found: list[Finding] = []
    for other in state.facts:
        if other.kind == fact.kind or other.case_id == fact.case_id:
            continue
        withdraw, apply = (fact, other) if fact.kind == "withdraw" else (other, fact)
        f = pair_finding(withdraw, apply, pair_context(withdraw, apply, ctx))
        if f is not None:
            found.append(f)
    state.facts.append(fact)
    return state, found, False


def within(withdraw: Fact, apply: Fact, ctx: Context) -> int | None:
    """Working days from the withdrawal's day to the application's when within the window, else None."""
    if apply.occurred_at < withdraw.occurred_at:
        return None
    days = ctx.calendar.workdays_between(local_date(withdraw.occurred_at), local_date(apply.occurred_at))
    return days if days <= ctx.config.reapply_window_wd else None


def pair_finding(withdraw: Fact, apply: Fact, ctx: Context) -> Finding | None:
    """`DQ_WITHDRAW_REAPPLY` on the new case, naming its department and the staff who took the application."""
    days = within(withdraw, apply, ctx)
    if days is None or withdraw.case_id == apply.case_id:
        return None
    new = CaseState(
        case_id=apply.case_id,
        item_code=apply.item_code,
        department_id=apply.department_id,
        region_code=apply.region_code,
        responsible_staff=apply.staff_id,
        first_staff=apply.staff_id,
    )
    return ctx.finding(
        new,
        RULE,
        occurrence=f"after:{withdraw.case_id}",
        detected_at=apply.occurred_at,
        evidence=[withdraw.event_id, apply.event_id],
        message=(
            f"applicant {apply.applicant_id} withdrew case {withdraw.case_id} ({withdraw.department_id}) on "
            f"{withdraw.occurred_at.isoformat()} and applied again for item {apply.item_code} as this case "
            f"{days} working day(s) later (window {ctx.config.reapply_window_wd}): the new application "
            "restarts the statutory periods; check whether the withdrawal was the applicant's own"
        ),
        details={
            "applicant_id": apply.applicant_id,
            "withdrawn_case_id": withdraw.case_id,
            "withdrawn_at": withdraw.occurred_at.isoformat(),
            "withdraw_event_id": withdraw.event_id,
            "withdraw_department_id": withdraw.department_id,
            "withdraw_staff_id": withdraw.staff_id,
            "reapplied_at": apply.occurred_at.isoformat(),
            "apply_event_id": apply.event_id,
            "working_days": days,
            "window_wd": ctx.config.reapply_window_wd,
        },
    )


def cross_case(facts: Iterable[Fact], ctx: ContextSource) -> list[Finding]:
    """Every pair among ``facts`` (the reference evaluation's pass after its per-case jobs): `admit` in a
    fixed order, which gives the same findings as any other (the check is symmetric, and each pair is judged
    at its own moment). ``ctx``: a context, or the context in effect at a moment (a schedule's)."""
    states: dict[bytes, Applicant] = {}
    out: list[Finding] = []
    for fact in sorted(facts, key=Fact.order):
        states[fact.key], found, _ = admit(states.get(fact.key), fact, ctx)
        out += found
    return out
