"""The directory on its compacted topic: one record per entry (key kind:id), tombstones for removed entries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from directory.index import DirectoryIndex
from directory.model import Bureau, Department, Directory, Staff
from schemas.wire import WireError, describe, load_json

_KINDS: dict[str, type[Department] | type[Staff] | type[Bureau]] = {
    "department": Department,
    "staff": Staff,
    "bureau": Bureau,
}
VERSION_KEY = b"meta:version"


def records(directory: Directory) -> dict[bytes, bytes]:
    """Key → JSON value of every entry, plus the directory's version."""
    out: dict[bytes, bytes] = {VERSION_KEY: json.dumps({"version": directory.version}).encode()}
    for kind, entries in (
        ("department", directory.departments),
        ("staff", directory.staff),
        ("bureau", directory.bureaus),
    ):
        for e in entries:
            out[f"{kind}:{e.id}".encode()] = e.model_dump_json().encode()
    return out


def read_record(key: bytes, value: bytes) -> Any:
    """One record of the topic: the version (a str) or an entry; raises WireError naming the field (bounded:
    a 50,000-deep version record raised RecursionError out of the feed, which then retried it forever)."""
    kind = key.decode(errors="replace").partition(":")[0]
    if key != VERSION_KEY and kind not in _KINDS:
        raise WireError(f"<key>: {kind[:40]!r} is not a kind of directory entry")
    data = load_json(value, what=f"<{kind}>", max_bytes=64 * 1024)
    if not isinstance(data, dict):
        raise WireError(f"<{kind}>: expected a JSON object, got {type(data).__name__}")
    if key == VERSION_KEY:
        return str(data.get("version", ""))[:200]
    try:
        return _KINDS[kind].model_validate(data)
    except ValidationError as exc:
        raise describe(exc, what=f"<{kind}>") from None


def index_of(latest: dict[bytes, bytes]) -> DirectoryIndex:
    """An index of every entry that parses; a bad record is skipped, never fatal to a follower."""
    parsed: dict[bytes, Any] = {}
    for key, value in latest.items():
        try:
            parsed[key] = read_record(key, value)
        except WireError:
            continue
    return index_of_parsed(parsed)


def index_of_parsed(parsed: dict[bytes, Any]) -> DirectoryIndex:
    """The index of records already read (key kind:id → its entry, the version key → the version string)."""
    kinds: dict[str, list[Any]] = {k: [] for k in _KINDS}
    version = ""
    for key, value in parsed.items():
        if key == VERSION_KEY:
            version = value
        else:
            kinds[key.decode().partition(":")[0]].append(value)
    return DirectoryIndex(kinds["department"], kinds["staff"], kinds["bureau"], version)


@dataclass(frozen=True)
class PublishReport:
    """What ``publish_directory`` wrote: entries published, and tombstones for entries no longer in the file."""

    published: int
    deleted: int


def publish_directory(
    bootstrap: str, topic: str, directory: Directory, *, auth: dict[str, Any] | None = None
) -> PublishReport:
    """Write every entry (key kind:id) and a tombstone for each live entry no longer in the file."""
    from esup.producer import kafka_producer, read_compacted

    live = {k for k, v in read_compacted(bootstrap, topic, auth=auth).items() if v is not None}
    new = records(directory)
    removed = sorted(live - set(new))
    p = kafka_producer(bootstrap, "esup-directory", auth=auth)
    try:
        futures = [p.send(topic, key=k, value=v) for k, v in new.items()]
        futures += [p.send(topic, key=k, value=None) for k in removed]
        p.flush(timeout=60)
        for f in futures:
            f.get(timeout=30)
    finally:
        p.close(timeout=10)
    return PublishReport(len(new), len(removed))
