"""A partition taken over from a snapshot holds exactly what a take-over reading its changelog holds: the same
rows, watermark, chain head and deadline index (`streams.ownership`, `streams.recovery`, `streams.snapshot`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from streams import snapshot
from streams.batch import Message
from streams.fence import Fence
from streams.ownership import Ownership
from streams.processor import CaseProcessor
from streams.recovery import Due, load, rebuild_index
from tests.support import context, synthetic_lines

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TOPIC = "g-cases-changelog"


class Record(NamedTuple):  # what the changelog read hands to `load` (an aiokafka ConsumerRecord's fields)
    key: bytes
    value: bytes | None
    offset: int


def _processor() -> CaseProcessor:
    return CaseProcessor(ctx=context(), clock="event", ticks_topic="ticks", wall_clock=lambda: NOW)


def _worked(lines: list[bytes]) -> tuple[CaseProcessor, list[Record]]:
    """A processor that judged ``lines`` on partition 0, and the changelog its commits wrote."""
    proc = _processor()
    changelog: list[Record] = []
    for start in range(0, len(lines), 40):
        batch = [
            Message("events", 0, start + i, json.loads(line)["case_id"].encode(), line)
            for i, line in enumerate(lines[start : start + 40])
        ]
        for part in proc.handle(batch).parts.values():
            changelog += [Record(k, v, len(changelog) + i) for i, (k, v) in enumerate(part.rows.items())]
    return proc, changelog


def test_a_snapshot_loads_what_the_changelog_would(tmp_path: Path) -> None:
    lines = synthetic_lines(200, seed=5)
    proc, changelog = _worked(lines[: len(lines) // 2])  # half way: many cases still have a timer pending
    part = proc.store.partition(0)
    pending = dict(proc.index.dues(0))
    assert len(pending) > 10 and part.watermark is not None and part.chain.seq > 0
    # A case whose timers raised leaves the index while its row still states a due moment (batch.py `_sweep`).
    failed = sorted(pending)[0]
    proc.index.touch(0, failed, None)
    part.untimed.add(failed.encode())

    owner = Ownership(
        proc,
        Fence("127.0.0.1:1", "g", TOPIC, {}),
        bootstrap="127.0.0.1:1",
        input_topics=("events",),
        committed=dict,
        ensure_changelog=lambda: None,
        snapshots=tmp_path,
    )
    end = len(changelog)
    owner._write(0, end)  # what the stop calls for each owned partition
    snap = snapshot.read(snapshot.path_for(tmp_path, "g", TOPIC, 0), topic=TOPIC, partition=0, end=end)

    from_log = _processor()
    dues: dict[bytes, Due] = {}
    assert load(from_log, 0, TOPIC, changelog, dues) == []
    rebuild_index(from_log, 0, dues)

    from_file = _processor()
    loaded = from_file.store.partition(0)
    loaded.rows, loaded.watermark, loaded.chain = snap.rows, snap.watermark, snap.chain
    assert snap.basis == from_file.basis
    rebuild_index(from_file, 0, None, snap.dues)

    logged = from_log.store.partition(0)
    assert loaded.rows == logged.rows == part.rows
    assert (loaded.watermark, loaded.chain) == (logged.watermark, logged.chain) == (part.watermark, part.chain)
    assert dict(from_file.index.dues(0)) == dict(from_log.index.dues(0)) == pending  # the failed case is back
    assert failed in from_file.index.dues(0) and failed not in proc.index.dues(0)
