"""`esup verify`: recompute the findings chain from ClickHouse, check every finding against it, and check the
chain's ends against the heads the workers published to Kafka (which the database's users cannot write).

What it names: a finding deleted (in the chain, not in `findings`), edited (its content no longer hashes to
its chain entry), inserted (no chain entry), a chain entry deleted (a gap), edited (a link that does not
recompute) or a chain rewritten wholesale (its end differs from the head in Kafka).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.chain import GENESIS, HASH_VERSION, Head, content_hash_like, hash_version, link


@dataclass(frozen=True)
class Problem:
    """One thing `esup verify` found wrong: what kind, the finding it concerns, and the detail."""

    kind: str  # deleted | edited | inserted | chain | unaudited (sinks/verify_audit.py)
    finding_id: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:8} {self.finding_id or '-':36} {self.detail}"


@dataclass(frozen=True)
class Entry:
    """One entry of the findings chain (`finding_chain`): its place, the finding's content hash and the links."""

    partition: int
    seq: int
    finding_id: str
    content: str
    prev: str
    hash: str
    detected_at: int | None = None  # Unix seconds: the finding's detection time in this revision


def check_chain(entries: list[Entry], heads: Mapping[int, Head]) -> list[Problem]:
    """Links, gaps and ends of each partition's chain (entries sorted by partition, then sequence)."""
    problems: list[Problem] = []
    by_partition: dict[int, list[Entry]] = {}
    for e in entries:
        by_partition.setdefault(e.partition, []).append(e)
    for p in sorted(set(by_partition) | set(heads)):
        prev, expected = GENESIS, 1
        for e in by_partition.get(p, []):
            if e.seq != expected:
                problems.append(Problem("chain", "", f"partition {p}: entries {expected}..{e.seq - 1} deleted"))
                prev = e.prev
            if e.prev != prev:
                problems.append(Problem("chain", e.finding_id, f"partition {p} entry {e.seq}: previous hash differs"))
            if link(e.prev, e.seq, e.finding_id, e.content) != e.hash:
                problems.append(Problem("chain", e.finding_id, f"partition {p} entry {e.seq}: edited"))
            prev, expected = e.hash, e.seq + 1
        head = heads.get(p)
        if head is None:
            continue
        if head.seq >= expected:
            problems.append(
                Problem(
                    "chain",
                    "",
                    f"partition {p}: entries {expected}..{head.seq} are not in "
                    "ClickHouse (deleted, or the sink is behind)",
                )
            )
        elif head.seq == expected - 1 and head.hash != prev:
            problems.append(
                Problem(
                    "chain",
                    "",
                    f"partition {p}: the chain ends in another hash than the head the workers published (rewritten)",
                )
            )
    return problems


def check_findings(
    entries: list[Entry], findings: Sequence[Mapping[str, Any]], since: datetime | None = None
) -> list[Problem]:
    """Each finding (latest revision) against its chain entry; chain entries without a finding. ``findings``
    are those detected from ``since`` on, when given: only chain entries detected from then on must have one."""
    latest: dict[str, Entry] = {}
    for e in entries:
        if e.finding_id not in latest or e.seq > latest[e.finding_id].seq:
            latest[e.finding_id] = e
    problems: list[Problem] = []
    seen: set[str] = set()
    for f in findings:
        fid = f["finding_id"]
        seen.add(fid)
        entry = latest.get(fid)
        if entry is None:
            problems.append(Problem("inserted", fid, "not in the findings chain"))
        elif (f["chain_partition"], f["chain_seq"]) != (entry.partition, entry.seq):
            why = f"revision {f['chain_seq']} is not the chain's latest ({entry.seq})"
            problems.append(Problem("edited", fid, why))
        elif hash_version(entry.content) > HASH_VERSION:
            problems.append(Problem("edited", fid, f"content hash version {hash_version(entry.content)} is unknown"))
        elif not _matches(f, entry.content):
            problems.append(Problem("edited", fid, "its content does not match its chain entry"))
    cut = _cut(since)
    in_scope = {
        fid for fid, e in latest.items() if cut is None or e.detected_at is None or e.detected_at >= cut
    }  # an entry without its time (not loaded) is always checked
    problems += [Problem("deleted", fid, "in the chain, not in findings") for fid in sorted(in_scope - seen)]
    return problems


def _cut(since: datetime | None) -> int | None:
    """``since`` as whole Unix seconds, rounded up (ClickHouse keeps seconds): the same bound for both tables."""
    return None if since is None else math.ceil(since.timestamp())


def _matches(f: Mapping[str, Any], content: str) -> bool:
    """Whether ``f`` hashes to ``content`` in the version ``content`` was written with (an unreadable field,
    such as details that are no longer JSON, is a mismatch)."""
    try:
        return content_hash_like(content, f) == content
    except (ValueError, TypeError, KeyError):
        return False


def load_entries(client: Any, database: str) -> list[Entry]:
    """Every chain entry in ``database``, sorted by partition, then sequence."""
    rows = client.execute(
        "SELECT chain_partition, chain_seq, finding_id, content_hash, prev_hash, chain_hash, "
        f"toUnixTimestamp(detected_at) FROM {database}.finding_chain FINAL ORDER BY chain_partition, chain_seq"
    )
    return [Entry(*r) for r in rows]


def load_findings(client: Any, database: str, since: datetime | None) -> list[dict[str, Any]]:
    """The findings in ``database`` (those detected since ``since``, when given) as dicts, times as Unix seconds."""
    # Every content column (streams/chain.py content_v3), the times as Unix seconds.
    cols = (
        "finding_id",
        "schema_version",
        "case_id",
        "rule",
        "category",
        "severity",
        "title",
        "message",
        "staff_id",
        "department_id",
        "region_code",
        "item_code",
        "detected_at",
        "deadline",
        "law_article",
        "evidence_event_ids",
        "calendar_version",
        "provisional",
        "details",
        "chain_partition",
        "chain_seq",
        "config_version",
    )
    where = " WHERE toUnixTimestamp(detected_at) >= %(cut)s" if since else ""
    rows = client.execute(
        "SELECT finding_id, schema_version, case_id, rule, category, severity, title, message, staff_id, "
        "department_id, region_code, item_code, toUnixTimestamp(detected_at), "
        "if(isNull(deadline), NULL, toUnixTimestamp(assumeNotNull(deadline))), law_article, evidence_event_ids, "
        "calendar_version, provisional, details, chain_partition, chain_seq, config_version "
        f"FROM {database}.findings FINAL{where}",
        {"cut": _cut(since)} if since else None,
    )
    return [dict(zip(cols, r, strict=True)) for r in rows]


def is_platform_chain(head_group: Any, group: str) -> bool:
    """Whether a head belongs to one of the platform's chains: the workers' (``group``) or a service's
    (``group``/``name``: the loop, the complaint cards, and any chain added later)."""
    return isinstance(head_group, str) and (head_group == group or head_group.startswith(f"{group}/"))


def fold_heads(values: Iterable[bytes | None], group: str) -> dict[int, Head]:
    """The latest head per chain number among the chain-heads records ``values`` (in log order) of ``group``.

    A record that is not a head (not JSON, a field missing) is skipped: the heads topic is written only by
    the platform's principals, and a chain without a readable head is still checked link by link."""
    heads: dict[int, Head] = {}
    for value in values:
        try:
            h = json.loads(value or b"")
            if not is_platform_chain(h.get("group"), group):
                continue
            partition, head = int(h["partition"]), Head(int(h["seq"]), str(h["hash"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
        if head.seq >= heads.get(partition, Head(-1)).seq:
            heads[partition] = head
    return heads


def read_heads(bootstrap: str, topic: str, group: str, *, auth: dict[str, Any] | None = None) -> dict[int, Head]:
    """The latest head of every chain of ``group`` (workers, loop, complaint cards), from the compacted
    chain-heads topic."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=3000,
        **(auth or {}),
    )
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        values: list[bytes | None] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            batch = consumer.poll(timeout_ms=1000)
            if not batch:
                break
            for records in batch.values():
                values += [r.value for r in records]
        return fold_heads(values, group)
    finally:
        consumer.close()


def verify(client: Any, database: str, heads: Mapping[int, Head], since: datetime | None = None) -> list[Problem]:
    """Every problem with the chain (against the Kafka ``heads``) and the findings (since ``since``, when given)."""
    entries = load_entries(client, database)
    return check_chain(entries, heads) + check_findings(entries, load_findings(client, database, since), since)
