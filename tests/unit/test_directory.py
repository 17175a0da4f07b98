"""The organisation directory: references are checked, the simulated one is whole, the topic round-trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from directory.index import DirectoryIndex
from directory.model import Directory, DirectoryError, dump_directory, load_directory, parse_directory
from directory.topic import VERSION_KEY, index_of, records
from sim.directory import build_directory
from sim.province import build_province


def small() -> dict[str, Any]:
    return {
        "version": "t1",
        "departments": [
            {"id": "D1", "name": "达州市市场监督管理局", "region_code": "511700", "head": "H1", "bureau": "B1"},
            {"id": "D2", "name": "通川区市场监督管理局", "region_code": "511702", "parent": "D1"},
        ],
        "staff": [
            {"id": "H1", "name": "王伟", "department": "D1", "roles": ["head"], "email": "h1@x.example"},
            {"id": "S1", "name": "李娜", "department": "D2", "roles": ["window_clerk", "handler"]},
            {"id": "J1", "name": "赵强", "department": "B1", "roles": ["supervisor"], "mobile": "13800000000"},
        ],
        "bureaus": [{"id": "B1", "name": "达州市政务服务电子监察中心", "region_code": "511700", "staff": ["J1"]}],
    }


def test_a_valid_directory_resolves_heads_and_bureaus() -> None:
    acct = DirectoryIndex.of(parse_directory(small())).accountable("S1", "D1")
    assert (acct.staff_name, acct.department_name, acct.head_id, acct.head_name) == (
        "李娜",
        "达州市市场监督管理局",
        "H1",
        "王伟",
    )
    assert acct.bureau_staff == ("J1",)


def test_unknown_ids_fall_back_to_ids() -> None:
    acct = DirectoryIndex.of(parse_directory(small())).accountable("nobody", "D9")
    assert (acct.staff_name, acct.department_name, acct.head_id, acct.bureau_id) == ("nobody", "D9", "", "")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("departments", 0, "head"), "S1", "head S1 belongs to D2"),
        (("departments", 0, "head"), "X", "unknown head X"),
        (("departments", 1, "parent"), "X", "unknown parent X"),
        (("departments", 0, "bureau"), "X", "unknown bureau X"),
        (("staff", 1, "department"), "X", "unknown department X"),
        (("staff", 1, "id"), "H1", "duplicate staff ids: H1"),
        (("staff", 1, "roles"), ["janitor"], "roles"),
        (("bureaus", 0, "staff"), ["X"], "unknown staff X"),
    ],
)
def test_broken_references_are_refused(path: tuple[Any, ...], value: Any, message: str) -> None:
    doc = small()
    target: Any = doc
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    with pytest.raises(DirectoryError, match=message):
        parse_directory(doc)


def test_simulated_directory_is_valid_and_covers_every_office(tmp_path: Path) -> None:
    province = build_province(1)
    d = build_directory(province, 1)
    offices = {o.department_id for c in province.counties for o in c.offices.values()}
    assert offices <= {x.id for x in d.departments}
    assert all(x.head for x in d.departments) and all(x.bureau for x in d.departments)
    staff = {s.staff_id for c in province.counties for o in c.offices.values() for s in o.all_staff()}
    assert staff <= {s.id for s in d.staff}
    assert all(s.email and s.mobile for s in d.staff)
    assert load_directory(dump_directory(d, tmp_path / "d.yaml")) == d  # YAML round-trip, validated again
    assert build_directory(province, 1) == d  # reproducible from the seed


def test_topic_records_round_trip_and_skip_bad_entries() -> None:
    d = parse_directory(small())
    recs = records(d)
    assert VERSION_KEY in recs and b"staff:S1" in recs and b"bureau:B1" in recs
    recs[b"staff:BAD"] = b"{not json"
    index = index_of(recs)
    assert index.version == "t1"
    assert set(index.staff) == {"H1", "S1", "J1"}
    assert index.accountable("S1", "D1").head_name == "王伟"


def test_model_is_frozen() -> None:
    d: Directory = parse_directory(small())
    with pytest.raises(ValueError):
        d.departments[0].name = "x"  # type: ignore[misc]


def test_the_live_feed_parses_each_record_once_and_indexes_as_the_topic_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The feed's index equals index_of over the topic's latest records (a tombstone removes, a bad record
    leaves the last good version), and loading n records parses n records: the feed re-parsed the whole
    directory after each record, 38 s for a simulated province, past the notifier's wait."""
    import directory.feed as feed_module
    from directory.feed import DirectoryFeed

    d = build_directory(build_province(1), 1)
    recs = records(d)
    calls = {"n": 0}
    real = feed_module.read_record

    def counted(key: bytes, value: bytes) -> Any:
        calls["n"] += 1
        return real(key, value)

    monkeypatch.setattr(feed_module, "read_record", counted)
    feed = DirectoryFeed("127.0.0.1:1", "t")
    items: list[tuple[bytes | None, bytes | None]] = list(recs.items())
    for i in range(0, len(items), 300):  # as polled: batches of records
        feed.apply_many(items[i : i + 300])
    assert calls["n"] == len(items)
    assert feed.changes == len(items)
    removed = next(k for k in recs if k.startswith(b"staff:"))
    bad = next(k for k in recs if k.startswith(b"department:"))
    feed.apply_many([(removed, None), (bad, b"{not json"), (None, b"{}")])
    feed.apply(b"staff:EXTRA", recs[removed].replace(removed[6:], b"EXTRA"))
    latest = {k: v for k, v in recs.items() if k != removed}
    latest[b"staff:EXTRA"] = recs[removed].replace(removed[6:], b"EXTRA")
    want, got = index_of(latest), feed.index()
    assert (got.departments, got.staff, got.bureaus, got.version) == (
        want.departments,
        want.staff,
        want.bureaus,
        want.version,
    )
    assert removed.decode()[6:] not in got.staff and "EXTRA" in got.staff
