"""The catalog as workers see it: items read from the compacted catalog topic, parsed once per change."""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import ValidationError

from schemas.catalog import CatalogItem


class LiveCatalog:
    """Looks items up in a mapping of code → raw JSON (a Faust global table); a changed value is re-parsed."""

    def __init__(self, table: Mapping[bytes, bytes]) -> None:
        self._table = table
        self._parsed: dict[bytes, tuple[bytes, CatalogItem | None]] = {}

    def get(self, code: str) -> CatalogItem | None:
        key = code.encode()
        raw = self._table.get(key)
        if raw is None:
            return None
        hit = self._parsed.get(key)
        if hit is not None and hit[0] == raw:
            return hit[1]
        try:
            item: CatalogItem | None = CatalogItem.model_validate(json.loads(raw))
        except (ValueError, ValidationError):
            item = None  # a bad record is refused at publish time; never crash a worker on one
        self._parsed[key] = (raw, item)
        return item

    def __len__(self) -> int:
        return len(self._table)
