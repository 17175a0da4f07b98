"""A partition's rows saved on local disk at a planned stop, so that the next take-over reads one file instead
of the changelog — used only while the changelog has not moved since (docs/architecture.md, "Planned restarts").

The file is what the changelog partition holds up to offset ``end`` (its read_committed end right after our
last commit): every row (key, stored bytes), the partition's watermark and chain head, and each case's next
due moment on ``basis`` so that the index needs no row parsed. Layout, little-endian::

    header   magic "ESUPSNAP", version, partition, end, count, chain seq, chain hash, topic, basis, watermark,
             the distinct due moments (ISO 8601; timers bunch at a few 24:00s)
    columns  count × u32 key length, count × u32 row length, count × u32 due tag
             (0: no timer, 1: unknown — read the row as the changelog path does, 2 + i: the i-th moment)
    blobs    the keys, then the rows, back to back
    digest   blake2b-256 of everything before it

A file that is not exactly this (truncated, a flipped byte, another version, topic or partition, lengths that
do not add up) is refused with a `SnapshotError` naming what is wrong; reading never raises anything else.
The digest catches a damaged file, not a forged one: the file is written by the worker, owner-only (0600 in
a 0700 directory), like the worker's code and credentials.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
import sys
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate, pairwise
from pathlib import Path
from urllib.parse import quote

from streams.chain import Head

_U32 = "I" if array("I").itemsize == 4 else "L"  # a 4-byte unsigned column item on this platform
MAGIC = b"ESUPSNAP"
VERSION = 1
_FIXED = struct.Struct("<8sHIQQQ64sHHHI")  # magic, version, partition, end, count, chain seq, chain hash,
#                                             len(topic), len(basis), len(watermark), number of moments
_DIGEST = 32
NO_TIMER, UNKNOWN = 0, 1  # due tags; 2 + i is the i-th moment


class Unknown:
    """A case whose due moment the writer does not know: the reader takes it from the row (`UNKNOWN_DUE`)."""


UNKNOWN_DUE = Unknown()
Due = datetime | None | Unknown


class SnapshotError(ValueError):
    """A snapshot file that cannot be used; the message says what is wrong with it."""


@dataclass
class Snapshot:
    """A partition's rows as of changelog offset ``end``, with its meta and each row's due tag."""

    topic: str
    partition: int
    end: int
    basis: str
    watermark: datetime | None
    chain: Head
    rows: dict[bytes, bytes]
    dues: dict[bytes, datetime | None]  # rows whose due moment is known (the others: read from the row)


def path_for(root: Path, group: str, topic: str, partition: int) -> Path:
    """Where a partition's snapshot lives: ``<root>/<group>/<changelog topic>-<partition>.snap``."""
    return root / quote(group, safe="") / f"{quote(topic, safe='')}-{partition}.snap"


def write(
    path: Path,
    *,
    topic: str,
    partition: int,
    end: int,
    basis: str,
    watermark: datetime | None,
    chain: Head,
    rows: Mapping[bytes, bytes],
    due: Callable[[bytes], Due],
) -> int:
    """Write the snapshot atomically (a private temporary file, fsync, rename; 0600 in a 0700 directory);
    returns its size in bytes."""
    keys = list(rows)
    values = list(rows.values())
    moments: dict[tuple[datetime, object], int] = {}
    texts: list[bytes] = []
    tags = array(_U32, bytes(4 * len(keys)))
    for i, key in enumerate(keys):
        d = due(key)
        if d is None:
            continue
        if isinstance(d, Unknown):
            tags[i] = UNKNOWN
            continue
        tag = moments.get((d, d.tzinfo))
        if tag is None:
            tag = moments[(d, d.tzinfo)] = 2 + len(texts)
            texts.append(d.isoformat().encode())  # ~32 bytes: its length fits the one-byte prefix
        tags[i] = tag
    mark = watermark.isoformat().encode() if watermark is not None else b""
    fixed = _FIXED.pack(
        MAGIC,
        VERSION,
        partition,
        end,
        len(keys),
        chain.seq,
        chain.hash.encode(),
        len(topic.encode()),
        len(basis.encode()),
        len(mark),
        len(texts),
    )
    head = b"".join([fixed, topic.encode(), basis.encode(), mark, *(bytes([len(t)]) + t for t in texts)])
    columns = [_le(array(_U32, map(len, keys))), _le(array(_U32, map(len, values))), _le(tags)]
    chunks = [head, *columns, b"".join(keys), b"".join(values)]
    digest = hashlib.blake2b(digest_size=_DIGEST)
    for chunk in chunks:
        digest.update(chunk)
    chunks.append(digest.digest())
    _private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)
    return sum(map(len, chunks))


def read(path: Path, *, topic: str, partition: int, end: int) -> Snapshot:
    """The snapshot at ``path`` if it is one of ``topic``'s ``partition`` standing exactly at ``end`` (the
    changelog's read_committed end now); SnapshotError naming the defect otherwise, never another error."""
    try:
        with path.open("rb") as f:
            fixed = f.read(_FIXED.size)
            if len(fixed) < _FIXED.size:
                raise SnapshotError(f"truncated: {len(fixed)} bytes, shorter than the {_FIXED.size}-byte header")
            head = _Head.parse(fixed)
            if head.version != VERSION:
                raise SnapshotError(f"format version {head.version}, this worker reads version {VERSION}")
            if head.partition != partition:
                raise SnapshotError(f"a snapshot of partition {head.partition}, not {partition}")
            if head.end != end:
                raise SnapshotError(
                    f"stands at changelog offset {head.end}, the changelog ends at {end} (it moved on since)"
                )
            # Mapped, not read: a partition's file is tens of MB, and a block that size read in a worker's
            # executor thread stays in that thread's malloc arena after it is freed (~50 bytes a row of RSS).
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except SnapshotError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: mmap of an emptied file
        raise SnapshotError(f"unreadable: {exc}") from None
    try:
        return _parse(data, head, topic)
    except SnapshotError:
        raise
    except Exception as exc:  # bytes that are not what they claim: refused, never raised through
        raise SnapshotError(f"malformed: {type(exc).__name__}: {str(exc)[:200]}") from None
    finally:
        data.close()


@dataclass(frozen=True)
class _Head:
    version: int
    partition: int
    end: int
    count: int
    chain_seq: int
    chain_hash: bytes
    lengths: tuple[int, int, int]  # topic, basis, watermark
    moments: int

    @classmethod
    def parse(cls, fixed: bytes) -> _Head:
        magic, version, partition, end, count, seq, chash, lt, lb, lw, moments = _FIXED.unpack(fixed)
        if magic != MAGIC:
            raise SnapshotError(f"not a snapshot file (starts with {magic!r})")
        return cls(version, partition, end, count, seq, chash, (lt, lb, lw), moments)


def _parse(data: mmap.mmap, head: _Head, topic: str) -> Snapshot:
    if len(data) < _FIXED.size + _DIGEST:
        raise SnapshotError(f"truncated: {len(data)} bytes, no room for the digest")
    with memoryview(data) as view, view[:-_DIGEST] as signed:
        digest = hashlib.blake2b(signed, digest_size=_DIGEST).digest()
    if digest != data[-_DIGEST:]:
        raise SnapshotError("checksum mismatch: the file is damaged or truncated")
    pos = _FIXED.size
    fields: list[str] = []
    for n in head.lengths:
        fields.append(_take(data, pos, n, "header").decode("ascii" if fields else "utf-8"))
        pos += n
    name, basis, mark = fields
    if name != topic:
        raise SnapshotError(f"a snapshot of topic {name!r}, not {topic!r}")
    watermark = _moment(mark) if mark else None
    chain_hash = head.chain_hash.decode("ascii")
    if not all(c in "0123456789abcdef" for c in chain_hash):
        raise SnapshotError("a malformed chain head")
    texts = []
    for _ in range(head.moments):
        n = _take(data, pos, 1, "moments")[0]
        texts.append(_moment(_take(data, pos + 1, n, "moments").decode("ascii")))
        pos += 1 + n
    count = head.count
    body = len(data) - _DIGEST - pos
    if 12 * count > body:
        raise SnapshotError(f"declares {count} rows, but {body} bytes are left for them")
    klen, rlen, tags = (_column(data, pos + 4 * count * i, count) for i in range(3))
    pos += 12 * count
    if tags and max(tags) >= 2 + len(texts):
        raise SnapshotError(f"a due tag {max(tags)} beyond the {len(texts)} moments")
    if rlen and min(rlen) == 0:
        raise SnapshotError("an empty row (a deleted row is never kept)")
    kend, rend = pos + sum(klen), pos + sum(klen) + sum(rlen)
    if rend != len(data) - _DIGEST:
        raise SnapshotError(f"rows end at byte {rend}, the digest starts at {len(data) - _DIGEST}")
    # Offsets as C integers, not a list of Python ints: those would sit between the rows in the allocator's
    # arenas and keep them from being returned (~60 bytes per row of RSS after the load).
    koff = array("Q", accumulate(klen, initial=pos))
    roff = array("Q", accumulate(rlen, initial=kend))
    keys = [data[a:b] for a, b in pairwise(koff)]
    rows = dict(zip(keys, (data[a:b] for a, b in pairwise(roff)), strict=True))
    if len(rows) != count:
        raise SnapshotError(f"{count} rows but {len(rows)} distinct keys")
    moments: list[datetime | None] = [None, None, *texts]
    dues = {key: moments[tag] for key, tag in zip(keys, tags, strict=True) if tag != UNKNOWN}
    return Snapshot(topic, head.partition, head.end, basis, watermark, Head(head.chain_seq, chain_hash), rows, dues)


def _take(data: mmap.mmap, pos: int, n: int, what: str) -> bytes:
    if pos + n > len(data) - _DIGEST:
        raise SnapshotError(f"truncated in the {what}")
    return data[pos : pos + n]


def _moment(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise SnapshotError(f"a moment without a timezone: {text!r}")
    return value


def _column(data: mmap.mmap, pos: int, count: int) -> array[int]:
    col = array(_U32)
    col.frombytes(data[pos : pos + 4 * count])
    if sys.byteorder == "big":
        col.byteswap()
    return col


def _le(col: array[int]) -> bytes:
    if sys.byteorder == "big":
        col = array(_U32, col)
        col.byteswap()
    return col.tobytes()


def _private_dir(path: Path) -> None:
    """``path`` and the snapshot folders above it up to ``worker-data``, created owner-only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for d in (path, path.parent):
        if d.stat().st_mode & 0o077:
            d.chmod(0o700)
