"""What every rule needs besides the case: calendar, catalog and thresholds, and the finding factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from schemas.catalog import Catalog, CatalogItem, Index
from schemas.config import RuleConfig
from schemas.findings import Finding, finding_id
from streams.rules.calendar import WorkCalendar
from streams.rules.registry import RULES
from streams.rules.schedule import config_version
from streams.rules.state import CaseState


class ItemLookup(Protocol):
    """Anything that finds a catalog item by code: a loaded file, or the workers' live catalog."""

    def get(self, code: str) -> CatalogItem | None:
        """The item with this code, or None when there is none."""


@dataclass(frozen=True)
class Context:
    """What every rule reads besides the case: the working-day calendar, the catalog and the thresholds."""

    calendar: WorkCalendar
    catalog: ItemLookup
    config: RuleConfig
    # Results of pure functions of (clock, this context), e.g. a clock's milestone days (clocks._milestones).
    # Lives and dies with the context: a new calendar or configuration is a new context with an empty memo.
    memo: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)
    # The configuration version every finding of this context carries (streams.rules.schedule.config_version).
    version: str = field(default="", init=False, compare=False)
    # The adopted moment from which this context is in effect (None: the start files, in effect from the
    # beginning). A finding it would date before that moment is dated at the moment instead (see `finding`).
    live_from: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", config_version(self.calendar, self.config))

    @classmethod
    def build(cls, calendar: WorkCalendar, catalog: Catalog | ItemLookup, config: RuleConfig | None = None) -> Context:
        """A context over a catalog (indexed here) or a live lookup; refuses severity overrides naming unknown rules."""
        index = Index(catalog) if isinstance(catalog, Catalog) else catalog
        config = config or RuleConfig()
        unknown = sorted(set(config.severity_overrides) - set(RULES))
        if unknown:
            raise ValueError(f"severity_overrides name unknown rules: {', '.join(unknown)}")
        return cls(calendar=calendar, catalog=index, config=config)

    def finding(
        self,
        state: CaseState,
        code: str,
        *,
        occurrence: str,
        detected_at: datetime,
        evidence: list[str],
        message: str,
        staff_id: str | None = None,
        department_id: str | None = None,
        deadline: datetime | None = None,
        provisional: bool = False,
        law_article: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Finding:
        """A finding of rule ``code`` on this case, with the rule's category, severity (after overrides) and title.

        Its id follows from the case, the rule and ``occurrence``; the article defaults to the rule's, staff and
        department to the case's.
        """
        spec = RULES[code]
        if self.live_from is not None and detected_at < self.live_from:
            # An adoption never dates a finding before its own moment: nothing before it was judged under the
            # adopted configuration. What it makes due earlier (a notice at a new share, a shorter limit already
            # passed) is raised at the moment it becomes live, true from then on; its own date stays in details.
            details = {**(details or {}), "due_under_adopted_configuration": detected_at.isoformat()}
            detected_at = self.live_from
        return Finding(
            finding_id=finding_id(state.case_id, code, occurrence),
            case_id=state.case_id,
            rule=code,
            category=spec.category,
            severity=self.config.severity_overrides.get(code, spec.severity),
            title=spec.title,
            message=message,
            staff_id=staff_id or state.responsible_staff,
            department_id=department_id or state.department_id,
            region_code=state.region_code,
            item_code=state.item_code,
            detected_at=detected_at,
            deadline=deadline,
            law_article=law_article or spec.law_article,
            evidence_event_ids=list(dict.fromkeys(evidence)),
            calendar_version=self.calendar.version,
            config_version=self.version,
            provisional=provisional,
            details=details or {},
        )
