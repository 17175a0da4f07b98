"""Consumer lag per partition of a consumer group: its committed offsets against the topics' end offsets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PartitionLag:
    """One partition's lag for a consumer group: its committed offset against the partition's end offset."""

    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group has committed nothing here yet
    end: int
    lag: int  # without a commit, everything still retained counts (the groups start at earliest)

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict."""
        return asdict(self)


def group_lag(
    bootstrap: str, groups: Mapping[str, Sequence[str]], timeout_ms: int = 15000, *, auth: dict[str, Any] | None = None
) -> list[PartitionLag]:
    """Lag of each group on the topics named for it and on any other topic it has committed offsets for."""
    from kafka import KafkaConsumer, TopicPartition

    from esup.topics import admin_client

    with admin_client(bootstrap, timeout_ms=timeout_ms, auth=auth) as admin:
        committed = {group: _committed(admin, group) for group in groups}
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        allow_auto_create_topics=False,
        client_id="esup-status",
        request_timeout_ms=timeout_ms,
        **(auth or {}),
    )
    try:
        wanted: dict[str, list[Any]] = {}
        for group, topics in groups.items():
            names = sorted(set(topics) | {tp.topic for tp in committed[group]})
            tps = []
            for name in names:
                parts = consumer.partitions_for_topic(name) or set()
                tps += [TopicPartition(name, p) for p in sorted(parts)]
            wanted[group] = tps
        every = sorted({tp for tps in wanted.values() for tp in tps})
        end = consumer.end_offsets(every, timeout_ms=timeout_ms) if every else {}
        start = consumer.beginning_offsets(every, timeout_ms=timeout_ms) if every else {}
    finally:
        consumer.close(autocommit=False)
    out: list[PartitionLag] = []
    for group, tps in wanted.items():
        for tp in tps:
            done = committed[group].get(tp)
            lag = end[tp] - max(done, start[tp]) if done is not None else end[tp] - start[tp]
            out.append(PartitionLag(group, tp.topic, tp.partition, done, end[tp], max(lag, 0)))
    return out


def committed_offsets(
    bootstrap: str, group: str, timeout_ms: int = 15000, *, auth: dict[str, Any] | None = None
) -> dict[tuple[str, int], int]:
    """The group's committed offset of every partition it has committed on, as (topic, partition) -> offset."""
    from esup.topics import admin_client

    with admin_client(bootstrap, timeout_ms=timeout_ms, auth=auth) as admin:
        found = _committed(admin, group)
    return {(tp.topic, tp.partition): offset for tp, offset in found.items()}


def _committed(admin: Any, group: str) -> dict[Any, int]:
    """TopicPartition -> committed offset, for the partitions the group has committed on."""
    found = admin.list_group_offsets(group).get(group, {})
    return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}


def render_table(rows: Sequence[PartitionLag]) -> str:
    """A fixed-width table, one line per partition and a total per group."""
    if not rows:
        return "no partitions found (do the topics exist? `esup topics create`)"
    gw = max(5, *(len(r.group) for r in rows))
    tw = max(5, *(len(r.topic) for r in rows))
    lines = [f"{'GROUP':<{gw}}  {'TOPIC':<{tw}}  {'PART':>4}  {'COMMITTED':>10}  {'END':>10}  {'LAG':>8}"]
    for group in dict.fromkeys(r.group for r in rows):
        mine = [r for r in rows if r.group == group]
        for r in mine:
            done = "-" if r.committed is None else str(r.committed)
            lines.append(f"{r.group:<{gw}}  {r.topic:<{tw}}  {r.partition:>4}  {done:>10}  {r.end:>10}  {r.lag:>8}")
        lines.append(f"{group:<{gw}}  total lag {sum(r.lag for r in mine)} over {len(mine)} partitions")
    return "\n".join(lines)


def as_json(rows: Sequence[PartitionLag]) -> dict[str, Any]:
    """The rows grouped by consumer group, each with its total lag and its partitions, for `--json`."""
    groups: dict[str, Any] = {}
    for r in rows:
        g = groups.setdefault(r.group, {"total_lag": 0, "partitions": []})
        g["total_lag"] += r.lag
        g["partitions"].append({k: v for k, v in r.as_dict().items() if k != "group"})
    return {"groups": groups}
