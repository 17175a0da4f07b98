"""The local snapshot file (`streams.snapshot`): a round trip gives back exactly what was written, and every
damaged or foreign file is refused with a reason — a SnapshotError, never another exception."""

from __future__ import annotations

import stat
import struct
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from streams import snapshot
from streams.chain import Head
from streams.fence import follow
from streams.snapshot import UNKNOWN_DUE, SnapshotError

TOPIC = "esup-worker-cases-changelog"
SHANGHAI = timezone(timedelta(hours=8))
MIDNIGHT = datetime(2026, 12, 3, 0, 0, tzinfo=SHANGHAI)
ROWS = {
    b"CASE-1": b"\x28\xb5\x2f\xfd row one",
    b"CASE-2": b'{"s": {"case_id": "CASE-2"}}',
    b"CASE-3": b"row three, no timer",
    b"CASE-4": b"row four, timer failed",
    b"\x00applicant:\x03abc\x02XY": b"\xff\x00 facts",
    "案件-5".encode(): b"row five",
}
DUES = {
    b"CASE-1": MIDNIGHT,
    b"CASE-2": MIDNIGHT,  # the same moment: written once
    b"CASE-4": UNKNOWN_DUE,
    "案件-5".encode(): datetime(2026, 12, 4, 16, 0, tzinfo=UTC),
}
HEAD = Head(7, "ab" * 32)
WATERMARK = datetime(2026, 12, 2, 9, 30, tzinfo=SHANGHAI)


def _write(path: Path, rows: dict[bytes, bytes] = ROWS, **over: object) -> int:
    args: dict[str, object] = {
        "topic": TOPIC,
        "partition": 3,
        "end": 12345,
        "basis": "0123456789abcdef01234567",
        "watermark": WATERMARK,
        "chain": HEAD,
        "rows": rows,
        "due": lambda key: DUES.get(key),
    }
    args.update(over)
    return snapshot.write(path, **args)  # type: ignore[arg-type]


def _read(path: Path, **over: object) -> snapshot.Snapshot:
    args: dict[str, object] = {"topic": TOPIC, "partition": 3, "end": 12345}
    args.update(over)
    return snapshot.read(path, **args)  # type: ignore[arg-type]


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    path = snapshot.path_for(tmp_path / "snapshots", "esup-worker", TOPIC, 3)
    assert _write(path) == path.stat().st_size
    return path


def test_round_trip(snap: Path) -> None:
    got = _read(snap)
    assert got.rows == ROWS and list(got.rows) == list(ROWS)
    assert got.dues == {
        b"CASE-1": MIDNIGHT,
        b"CASE-2": MIDNIGHT,
        b"CASE-3": None,
        b"\x00applicant:\x03abc\x02XY": None,
        "案件-5".encode(): datetime(2026, 12, 4, 16, 0, tzinfo=UTC),
    }  # CASE-4 is left out: its due moment is read from its row, as the changelog path does
    first = got.dues[b"CASE-1"]
    assert first is not None and first.utcoffset() == timedelta(hours=8)  # the zone as written
    assert (got.topic, got.partition, got.end, got.basis) == (TOPIC, 3, 12345, "0123456789abcdef01234567")
    assert got.watermark == WATERMARK and got.chain == HEAD


def test_empty_partition_without_watermark(tmp_path: Path) -> None:
    path = tmp_path / "s" / "p.snap"
    _write(path, rows={}, watermark=None, chain=Head())
    got = _read(path)
    assert got.rows == {} and got.dues == {} and got.watermark is None and got.chain == Head()


def test_owner_only_file_and_folders_and_no_temporary_left(tmp_path: Path) -> None:
    root = tmp_path / "worker-data" / "snapshots"
    path = snapshot.path_for(root, "esup-worker", TOPIC, 0)
    _write(path, partition=0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_folder_open_to_others_is_closed(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    _write(snapshot.path_for(root, "g", TOPIC, 3))
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_path_names_the_group_topic_and_partition_and_cannot_escape(tmp_path: Path) -> None:
    assert snapshot.path_for(tmp_path, "esup-worker", TOPIC, 5) == tmp_path / "esup-worker" / f"{TOPIC}-5.snap"
    odd = snapshot.path_for(tmp_path, "../x", "a/b", 1)
    assert odd.parent.parent == tmp_path and "/" not in odd.name


def test_wrong_partition_topic_and_end_are_refused(snap: Path) -> None:
    with pytest.raises(SnapshotError, match="partition 3, not 4"):
        _read(snap, partition=4)
    with pytest.raises(SnapshotError, match="topic 'esup-worker-cases-changelog', not 'other'"):
        _read(snap, topic="other")
    with pytest.raises(SnapshotError, match="offset 12345, the changelog ends at 12346"):
        _read(snap, end=12346)


def _reasons(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    with pytest.raises(SnapshotError) as info:
        _read(path)
    return str(info.value)


def test_truncation_anywhere_is_refused(snap: Path) -> None:
    data = snap.read_bytes()
    header = struct.calcsize("<8sHIQQQ64sHHHI")
    # empty, inside the fixed header, inside the names and moments, the columns, the keys, the rows, the digest
    for cut in {0, 1, 7, header - 1, header, header + 5, header + 60, len(data) // 2, len(data) - 40, len(data) - 1}:
        reason = _reasons(snap, data[:cut])
        assert reason.startswith(("truncated", "checksum mismatch")), (cut, reason)
    for cut in range(len(data)):  # every length: a reason each time, never another exception
        _reasons(snap, data[:cut])


def test_a_flipped_byte_anywhere_is_refused(snap: Path) -> None:
    data = snap.read_bytes()
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0x20
        assert _reasons(snap, bytes(damaged))


def test_trailing_bytes_are_refused(snap: Path) -> None:
    assert "checksum mismatch" in _reasons(snap, snap.read_bytes() + b"\x00")


def test_not_a_snapshot_and_another_version(snap: Path) -> None:
    data = snap.read_bytes()
    assert "not a snapshot file" in _reasons(snap, b"x" * len(data))
    assert "format version 2" in _reasons(snap, data[:8] + struct.pack("<H", 2) + data[10:])


def _forged(tmp_path: Path, mutate: object) -> str:
    """A file whose header lies but whose digest is right (so the later checks, not the digest, catch it)."""
    import hashlib

    path = tmp_path / "forged.snap"
    _write(path)
    body = bytearray(path.read_bytes()[:-32])
    mutate(body)  # type: ignore[operator]
    return _reasons(path, bytes(body) + hashlib.blake2b(body, digest_size=32).digest())


def test_huge_declared_lengths_are_refused_before_allocating(tmp_path: Path) -> None:
    def huge_count(b: bytearray) -> None:
        b[22:30] = struct.pack("<Q", 1 << 60)

    assert "declares 1152921504606846976 rows" in _forged(tmp_path, huge_count)

    def huge_topic(b: bytearray) -> None:
        b[102:104] = struct.pack("<H", 65535)

    assert "truncated in the header" in _forged(tmp_path, huge_topic)

    def huge_key(b: bytearray) -> None:
        start = len(b) - sum(len(k) + len(v) for k, v in ROWS.items()) - 12 * len(ROWS)
        b[start : start + 4] = struct.pack("<I", 0xFFFFFFFF)

    assert "rows end at byte" in _forged(tmp_path, huge_key)


def test_forged_tags_moments_and_duplicates_are_refused(tmp_path: Path) -> None:
    def bad_tag(b: bytearray) -> None:
        start = len(b) - sum(len(k) + len(v) for k, v in ROWS.items()) - 4 * len(ROWS)
        b[start : start + 4] = struct.pack("<I", 99)

    assert "due tag 99 beyond" in _forged(tmp_path, bad_tag)

    def naive_moment(b: bytearray) -> None:
        i = bytes(b).index(b"2026-12-03T00:00:00+08:00")
        b[i + 19 : i + 25] = b"      "

    assert _forged(tmp_path, naive_moment)

    path = tmp_path / "dup.snap"
    _write(path, rows={b"A": b"1", b"B": b"2"})
    data = bytearray(path.read_bytes()[:-32])
    i = bytes(data).rindex(b"AB12")
    data[i + 1] = ord("A")
    import hashlib

    reason = _reasons(path, bytes(data) + hashlib.blake2b(data, digest_size=32).digest())
    assert "2 rows but 1 distinct keys" in reason


def test_a_missing_file_is_a_reason_too(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="unreadable"):
        _read(tmp_path / "none.snap")


def test_the_changelog_end_follows_only_this_workers_contiguous_writes() -> None:
    assert follow(100, [(100, 3)]) == 104  # three records, then the commit marker
    assert follow(100, [(103, 2), (100, 3)]) == 106  # batches in any order, back to back
    assert follow(100, [(101, 3)]) is None  # something else wrote at 100
    assert follow(100, [(100, 3), (104, 1)]) is None  # …or between our batches
    assert follow(None, [(100, 3)]) is None  # unknown stays unknown
