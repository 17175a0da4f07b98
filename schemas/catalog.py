"""The licensing-item catalog (行政许可事项目录): limits, fees and conditions for each item, loaded from YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.wire import WireError, read_model

# Statutory defaults of the Administrative Licensing Law, in working days (art. 82).
LAW_ACCEPT_WD = 5  # art. 32(4)
LAW_DECISION_WD = 20  # art. 42 ¶1
LAW_EXTENSION_WD = 10  # art. 42 ¶1
LAW_JOINT_DECISION_WD = 45  # art. 42 ¶2
LAW_JOINT_EXTENSION_WD = 15  # art. 42 ¶2
LAW_DELIVERY_WD = 10  # art. 44

Days = Annotated[int, Field(ge=1, le=365)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageLimit(_Strict):
    """A stage's statutory limit and the department's promised (承诺) limit, in working days."""

    statutory: Days
    promised: Days | None = None

    @model_validator(mode="after")
    def _promise_not_looser(self) -> StageLimit:
        if self.promised is not None and self.promised > self.statutory:
            raise ValueError(f"promised limit {self.promised} exceeds the statutory {self.statutory}")
        return self


class Limits(_Strict):
    """An item's stage limits: acceptance, decision, certificate delivery and, where set, preliminary review."""

    accept: StageLimit = StageLimit(statutory=LAW_ACCEPT_WD)
    # None means the law's default: 20 WD, or 45 WD for joint handling (art. 42).
    decision: StageLimit | None = None
    delivery: StageLimit = StageLimit(statutory=LAW_DELIVERY_WD)
    # Preliminary review by a lower office (art. 43); only clocked where the item sets it.
    review: StageLimit | None = None


class StepLimits(_Strict):
    """环节时限: the department's promised working days for its internal steps after acceptance. Each runs as its
    own clock (notice, then a yellow card), even while the overall promise still holds."""

    review: Days | None = None  # 承办 → 审核: from acceptance to the review
    decision: Days | None = None  # 审核 → 批准: from the review to the decision


class Fee(_Strict):
    """A fee an item may charge (收费): its code, the published standard in fen and its legal basis (arts. 58-59)."""

    code: str = Field(min_length=1)
    name: str = ""
    standard_fen: int = Field(ge=0, description="published standard amount in fen")
    basis: str = Field(default="", description="the law or regulation that allows the fee (art. 58)")


class DeemedApproval(_Strict):
    """超时默认: no decision by the deadline counts as approval — local policy, so it records its basis."""

    basis: str = Field(min_length=1, description="the legal basis, e.g. a local government rule")


class CatalogItem(_Strict):
    """One licensing item (许可事项): its department, limits, fees, required materials and conditions."""

    code: str = Field(min_length=1)
    name: str
    department_id: str
    limits: Limits = Limits()
    max_extension: Days | None = None  # default: 10 WD, or 15 WD for joint handling
    joint_handling: bool = False  # 统一办理/联合办理/集中办理 (art. 42 ¶2)
    deemed_approval: DeemedApproval | None = None
    fees: list[Fee] = Field(default_factory=list)  # empty: free of charge (art. 58)
    separate_review_approval: bool = False  # reviewer and approver must be different staff
    required_materials: list[str] = Field(default_factory=list)
    required_conditions: list[str] = Field(default_factory=list)
    issues_certificate: bool = True
    steps: StepLimits = StepLimits()
    # Shortest plausible time from application to decision: an item needing an inspection cannot be decided in
    # ten minutes, so a faster decision suggests the case was handled off the system and entered afterwards.
    min_decision_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 60)

    @model_validator(mode="after")
    def _check(self) -> CatalogItem:
        codes = [f.code for f in self.fees]
        if len(codes) != len(set(codes)):
            raise ValueError(f"item {self.code}: duplicate fee codes")
        return self

    @property
    def decision_limit(self) -> StageLimit:
        """The decision period: the item's own, else the law's 20 working days, or 45 for joint handling (art. 42)."""
        if self.limits.decision is not None:
            return self.limits.decision
        return StageLimit(statutory=LAW_JOINT_DECISION_WD if self.joint_handling else LAW_DECISION_WD)

    @property
    def extension_limit(self) -> int:
        """Most working days one extension may add: the item's own, else 10, or 15 for joint handling (art. 42)."""
        if self.max_extension is not None:
            return self.max_extension
        return LAW_JOINT_EXTENSION_WD if self.joint_handling else LAW_EXTENSION_WD

    def fee(self, code: str) -> Fee | None:
        """The item's fee with this code, or None when the code is not in its published list (art. 59)."""
        for f in self.fees:
            if f.code == code:
                return f
        return None


class Catalog(_Strict):
    """The whole catalog: its version and its items, whose codes are unique."""

    version: str = "1"
    items: list[CatalogItem]

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        seen: set[str] = set()
        for item in self.items:
            if item.code in seen:
                raise ValueError(f"duplicate item code {item.code}")
            seen.add(item.code)
        return self

    def by_code(self) -> dict[str, CatalogItem]:
        """The items keyed by their code."""
        return {i.code: i for i in self.items}


class CatalogError(WireError):
    """A catalog, or one catalog record, that cannot be used; the message names the item and field."""


def parse_catalog_item(raw: bytes | bytearray | str) -> CatalogItem:
    """One item record of the catalog topic; raises :class:`CatalogError` only, whatever the bytes.

    The topic is ours (`esup catalog publish`): fields a newer publisher added are ignored.
    """
    try:
        return read_model(CatalogItem, raw, what="<catalog item>", max_bytes=256 * 1024)
    except WireError as exc:
        raise CatalogError(exc.reason, fields=exc.fields) from None


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog YAML file; errors name the item and field."""
    try:  # a file that is not YAML (or not UTF-8) is a bad catalog, named, not a traceback
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: not a YAML catalog: {' '.join(str(exc).split())}") from None
    return parse_catalog(data, source=str(path))


def parse_catalog(data: Any, source: str = "<catalog>") -> Catalog:
    """Validate a decoded catalog mapping; raises :class:`CatalogError` naming ``source`` and each bad field."""
    if not isinstance(data, dict):
        raise CatalogError(f"{source}: expected a mapping with 'items'")
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise CatalogError(f"{source}: " + "; ".join(lines)) from None


class Index:
    """Fast lookup of items by code, used by the engine."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._items = catalog.by_code()

    def get(self, code: str) -> CatalogItem | None:
        """The item with this code, or None when the catalog does not list it."""
        return self._items.get(code)

    def __len__(self) -> int:
        return len(self._items)
