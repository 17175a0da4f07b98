"""Adopted configurations and their schedule, pure: which thresholds and calendar are in effect at a moment.

`esup rules adopt FILE --kind rules|calendar --from M` publishes one record per adoption to the compacted
configuration topic, keyed by kind and moment, so every adoption stays and a worker reads the whole
schedule. For a judging step at moment t the configuration in effect is, per kind, the adoption with the
latest ``effective_from`` ≤ t, else the file the worker was started with. Nothing here reads Kafka or a
clock: records come in as bytes, moments as arguments.

Design: docs/whatif.md#adopting-a-change-esup-rules-adopt.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.config import ConfigError, RuleConfig, rule_config_from_mapping
from schemas.yamlfile import CONFIG_MAX_BYTES, load_mapping_text
from streams.rules.calendar import FIRST_YEAR, LAST_YEAR, TZ, WorkCalendar, calendar_from_mapping

KINDS = ("rules", "calendar")  # what the workers switch on; catalog and scoring: docs/whatif.md
MAX_RECORD_BYTES = 8 * CONFIG_MAX_BYTES  # the content is a JSON string: escaping may multiply its size
_FIELDS = ("kind", "version", "label", "effective_from", "content", "audit_id")


class AdoptionError(ValueError):
    """An adoption record that cannot be used; ``field`` names the culprit (``<record>`` for the whole)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = f"{field}: {reason}"


def config_version(calendar: WorkCalendar, config: RuleConfig) -> str:
    """The configuration a finding was judged under, short and stable: a digest of the calendar's version (its
    override content and label) and the thresholds as validated (a file's comments or key order do not count).
    The catalog is not in it: it is live per item through `esup catalog publish` (docs/whatif.md)."""
    text = f"{calendar.version}|{config.model_dump_json()}"
    return "cv1-" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def content_version(content: bytes) -> str:
    """A configuration file's version as `esup rules adopt` records it: ``sha256:`` and the hex of its bytes."""
    return "sha256:" + hashlib.sha256(content).hexdigest()


def adoption_key(kind: str, moment: datetime) -> bytes:
    """The record's key: kind and moment (UTC), so that each adoption stays on the compacted topic."""
    return f"{kind}@{moment.astimezone(UTC).isoformat()}".encode()


def encode_adoption(kind: str, content: bytes, label: str, effective_from: datetime, audit_id: str) -> bytes:
    """The record's value (JSON): what `parse_adoption` reads back."""
    record = {
        "kind": kind,
        "version": content_version(content),
        "label": label,
        "effective_from": effective_from.isoformat(),
        "content": content.decode("utf-8"),
        "audit_id": audit_id,
    }
    return json.dumps(record, ensure_ascii=False, sort_keys=True).encode()


@dataclass(frozen=True)
class Adoption:
    """One adopted configuration: its kind, version (content hash), label, moment, content and audit record,
    and the parsed value (a RuleConfig or a WorkCalendar)."""

    kind: str
    version: str
    label: str
    effective_from: datetime
    content: str
    audit_id: str
    value: RuleConfig | WorkCalendar = field(compare=False, repr=False)


def _text(record: dict[str, Any], name: str, limit: int) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise AdoptionError(name, f"expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise AdoptionError(name, f"longer than {limit:,} characters")
    return value


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise AdoptionError("effective_from", f"{text[:40]!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise AdoptionError("effective_from", "a time without an offset (the moment would be ambiguous)")
    try:  # the year as Beijing and UTC see it: near datetime's limits either may not exist
        year = moment.astimezone(TZ).year
        moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise AdoptionError("effective_from", f"{text[:40]} is outside the calendar range") from None
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise AdoptionError("effective_from", f"{text[:40]} is outside the calendar range {FIRST_YEAR}-{LAST_YEAR}")
    return moment


def parse_adoption(key: bytes | None, value: bytes | None) -> Adoption:
    """A record of the configuration topic, checked field by field; raises :class:`AdoptionError` and nothing
    else (bad bytes, a huge record, wrong types, a moment outside the calendar, content that does not load)."""
    if value is None:
        raise AdoptionError("<record>", "a tombstone cannot withdraw an adoption (adopt the earlier file again)")
    if len(value) > MAX_RECORD_BYTES:
        raise AdoptionError("<record>", f"{len(value):,} bytes, more than the {MAX_RECORD_BYTES:,} allowed")
    try:
        record = json.loads(value)
    except (ValueError, RecursionError):
        raise AdoptionError("<record>", "not UTF-8 JSON") from None
    if not isinstance(record, dict):
        raise AdoptionError("<record>", f"expected a JSON object, got {type(record).__name__}")
    extra = sorted(str(k)[:40] for k in record if k not in _FIELDS)
    if extra:
        raise AdoptionError(extra[0], "unknown field")
    kind = _text(record, "kind", 20)
    if kind not in KINDS:
        raise AdoptionError("kind", f"{kind[:20]!r} is not one of {', '.join(KINDS)}")
    content = _text(record, "content", CONFIG_MAX_BYTES)
    version = _text(record, "version", 80)
    if version != content_version(content.encode("utf-8", "surrogatepass")):
        raise AdoptionError("version", "is not the SHA-256 of the content")
    moment = _moment(_text(record, "effective_from", 64))
    if key != adoption_key(kind, moment):
        raise AdoptionError("<key>", f"{(key or b'')[:80]!r} is not {adoption_key(kind, moment)!r}")
    label = _text(record, "label", 200)
    audit_id = _text(record, "audit_id", 100)
    if not audit_id:
        raise AdoptionError("audit_id", "empty: an adoption is made only with its audit record")
    try:
        data = load_mapping_text(content, "content")
        loaded: RuleConfig | WorkCalendar = (
            rule_config_from_mapping(data, "content") if kind == "rules" else calendar_from_mapping(data, "content")
        )
    except (ConfigError, ValueError) as exc:  # YamlFileError is a ValueError
        raise AdoptionError("content", " ".join(str(exc).split())[:300]) from None
    return Adoption(kind, version, label, moment, content, audit_id, loaded)


@dataclass(frozen=True)
class Schedule:
    """Every adoption per kind, ordered by moment; a new record gives a new schedule (nothing changes in place)."""

    by_kind: dict[str, tuple[Adoption, ...]] = field(default_factory=dict)
    moments: dict[str, list[datetime]] = field(default_factory=dict, compare=False, repr=False)

    def adopt(self, a: Adoption) -> Schedule:
        """The schedule with ``a`` added (an adoption of the same kind and moment is replaced by it)."""
        kept = [x for x in self.by_kind.get(a.kind, ()) if x.effective_from != a.effective_from]
        ordered = tuple(sorted([*kept, a], key=lambda x: x.effective_from))
        by_kind = {**self.by_kind, a.kind: ordered}
        return Schedule(by_kind, {k: [x.effective_from for x in v] for k, v in by_kind.items()})

    def in_effect(self, kind: str, moment: datetime) -> Adoption | None:
        """The adoption of ``kind`` with the latest ``effective_from`` ≤ ``moment``; None: the start files."""
        moments = self.moments.get(kind)
        if not moments:
            return None
        i = bisect.bisect_right(moments, moment)
        return self.by_kind[kind][i - 1] if i else None

    def boundaries(self) -> list[datetime]:
        """Every moment from which some configuration changes, in order (distinct instants)."""
        return sorted({a.effective_from for adoptions in self.by_kind.values() for a in adoptions})

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_kind.values())


JUST_BEFORE = timedelta(microseconds=1)  # the last moment before a boundary: timers due then use the old config
