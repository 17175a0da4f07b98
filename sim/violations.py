"""The violations the simulator injects: one kind per case, each needing an item it can happen on."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from schemas.catalog import CatalogItem


@dataclass(frozen=True)
class Kind:
    """A kind of violation: its finding category, which items it can happen on, and a note on what it is."""

    category: str
    fits: Callable[[CatalogItem], bool] = lambda item: True
    note: str = ""


def _fees(i: CatalogItem) -> bool:
    return bool(i.fees)


KINDS: dict[str, Kind] = {
    # time limits
    "late_accept": Kind("time", note="acceptance after its promise or after 5 WD (deemed accepted)"),
    "late_review": Kind("time", lambda i: i.limits.review is not None, "preliminary review late (art. 43)"),
    "late_decision": Kind("time", lambda i: i.deemed_approval is None, "decision after a warning (art. 42)"),
    "abandoned": Kind("time", lambda i: i.deemed_approval is None, "accepted, then never decided"),
    "deemed_approval": Kind(
        "time",
        lambda i: i.deemed_approval is not None and i.issues_certificate,
        "never decided on an item with 超时默认",
    ),
    "late_delivery": Kind("time", lambda i: i.issues_certificate, "certificate late or never (art. 44)"),
    "late_step": Kind(
        "time",
        lambda i: i.steps.review is not None and i.deemed_approval is None,
        "the 承办→审核 step past its promise (环节超时)",
    ),
    # fees (arts. 58-59)
    "fee_on_free_item": Kind("fee", lambda i: not i.fees),
    "fee_not_listed": Kind("fee", _fees),
    "fee_over_standard": Kind("fee", _fees),
    "fee_duplicate": Kind("fee", _fees),
    # procedure
    "stage_skipped": Kind("procedure", lambda i: not i.required_conditions, "approved without a review"),
    "stage_order": Kind("procedure", note="materials requested again after acceptance"),
    "after_conclusion": Kind("procedure", note="a fee charged after the case was closed"),
    "same_reviewer_approver": Kind("procedure", lambda i: i.separate_review_approval),
    "supplement_repeated": Kind("procedure", note="一次性告知 broken"),
    # On an item with 超时默认 the deadline approves the case: there is nothing left to extend.
    "extension_late": Kind("procedure", lambda i: i.deemed_approval is None),
    "extension_excess": Kind("procedure"),
    "extension_no_approver": Kind("procedure"),
    "extension_repeated": Kind("procedure"),
    "extension_not_notified": Kind("procedure"),
    "suspension_no_reason": Kind("procedure", note="clock paused without a procedure, then resumed"),
    "suspension_not_notified": Kind("procedure"),
    "resume_without_suspension": Kind("procedure"),
    "not_delivered": Kind("procedure", lambda i: i.issues_certificate, "concluded without the certificate"),
    "refusal_no_reason": Kind("procedure", note="不予受理/不予许可 without reasons (art. 38 ¶2)"),
    "refusal_no_remedy": Kind("procedure", note="refused without telling of the right to review or litigation"),
    # conditions (art. 38)
    "materials_missing": Kind("condition", lambda i: bool(i.required_materials)),
    "conditions_unmet": Kind("condition", lambda i: bool(i.required_conditions)),
    "refused_qualified": Kind("condition", lambda i: bool(i.required_materials), "a complete application refused"),
    # first-inquiry responsibility
    "no_referral": Kind("first_inquiry", note="'not our business' without a referral"),
    # data quality
    "backdated": Kind("data_quality"),
    "future_dated": Kind("data_quality"),
    "unknown_item": Kind("data_quality", note="an item code missing from the catalog"),
    "apply_after_decision": Kind("data_quality", note="体外循环: application recorded only after the decision"),
    "batch_entered": Kind("data_quality", note="体外循环: the whole case entered at once, days later"),
    "implausibly_fast": Kind(
        "data_quality", lambda i: i.min_decision_minutes is not None, "decided minutes after the application"
    ),
    "suspension_excessive": Kind("data_quality", note="special procedures longer than the decision period"),
    "supplement_restart": Kind("data_quality", note="materials requested again after acceptance, then supplied"),
    "withdraw_reapply": Kind(
        "data_quality",
        note="withdrawn, then the same applicant applies again for the item "
        "within days: a second case (sim/reapply.py)",
    ),
}


def rates(violation_rate: float, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Probability per case of each kind: ``violation_rate`` shared evenly, then any per-kind override."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown violation kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    out = {k: violation_rate / len(KINDS) for k in KINDS} | overrides
    if any(r < 0 for r in out.values()) or sum(out.values()) > 1 + 1e-9:
        total = sum(out.values())
        raise ValueError(f"violation rates must be >= 0 and add up to at most 1 (they add up to {total:.3f})")
    return out


def draw(rnd: random.Random, table: Mapping[str, float]) -> str | None:
    """One kind, or None for a clean case."""
    x = rnd.random()
    for kind, rate in table.items():
        if x < rate:
            return kind
        x -= rate
    return None
