"""The catalog as workers see it: items read from the compacted catalog topic, parsed once per change."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from schemas.catalog import CatalogError, CatalogItem, parse_catalog_item

log = logging.getLogger("esup.catalog")


class LiveCatalog:
    """Looks items up in a mapping of code → raw JSON (the catalog feed); a changed value is re-parsed.

    A record that cannot be used never crashes a worker: the item keeps its last good version (the one
    this worker parsed before), the record is counted and its reason listed in ``status()``.
    """

    def __init__(self, table: Mapping[bytes, bytes]) -> None:
        self._table = table
        self._parsed: dict[bytes, tuple[bytes, CatalogItem | None]] = {}  # code → (raw seen, item in use)
        self.rejected: dict[str, str] = {}  # item code → why its current record is refused
        self.bad_records = 0

    def get(self, code: str) -> CatalogItem | None:
        """The item with this code; None when never published or removed; a bad record keeps its last good version."""
        key = code.encode("utf-8", "surrogatepass")
        raw = self._table.get(key)
        if raw is None:  # never published, or removed (tombstone)
            self._parsed.pop(key, None)
            self.rejected.pop(code, None)
            return None
        return self.observe(key, raw)

    def observe(self, key: bytes, raw: bytes) -> CatalogItem | None:
        """Parse a record of item ``key`` now (the feed may call this on every record it applies)."""
        hit = self._parsed.get(key)
        if hit is not None and hit[0] == raw:
            return hit[1]
        code = key.decode("utf-8", "replace")
        try:
            item: CatalogItem | None = parse_catalog_item(raw)
            if item is not None and item.code != code:
                raise CatalogError(f"code: the record keyed {code!r} holds item {item.code!r}", fields=("code",))
            self.rejected.pop(code, None)
        except CatalogError as exc:
            item = hit[1] if hit is not None else None  # the last good version, if this worker had one
            self.bad_records += 1
            self.rejected[code] = exc.reason[:500]
            log.warning(
                "catalog item %s: bad record refused (%s); %s",
                code,
                exc.reason[:300],
                "keeping its last good version" if item else "no good version known",
            )
        self._parsed[key] = (raw, item)
        return item

    def status(self) -> dict[str, Any]:
        """For the status page: every current record checked, the bad ones listed with their reasons."""
        for key, raw in list(self._table.items()):
            self.observe(key, raw)
        for code in [c for c in self.rejected if c.encode("utf-8", "surrogatepass") not in self._table]:
            del self.rejected[code]  # removed from the catalog since
        return {"bad_records": self.bad_records, "rejected": dict(sorted(self.rejected.items()))}

    def __len__(self) -> int:
        return len(self._table)
