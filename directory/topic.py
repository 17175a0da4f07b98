"""The directory on its compacted topic: one record per entry (key kind:id), tombstones for removed entries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from directory.index import DirectoryIndex
from directory.model import Bureau, Department, Directory, Staff

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


def index_of(latest: dict[bytes, bytes]) -> DirectoryIndex:
    """An index of every entry that parses; a bad record is skipped, never fatal to a follower."""
    parsed: dict[str, list[Any]] = {k: [] for k in _KINDS}
    version = ""
    for key, value in latest.items():
        kind, _, _ = key.decode(errors="replace").partition(":")
        try:
            if key == VERSION_KEY:
                version = str(json.loads(value).get("version", ""))
            elif kind in _KINDS:
                parsed[kind].append(_KINDS[kind].model_validate_json(value))
        except (ValidationError, ValueError, AttributeError):
            continue
    return DirectoryIndex(parsed["department"], parsed["staff"], parsed["bureau"], version)


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
