"""`esup verify`: recompute the findings chain from ClickHouse, check every finding against it, and check the
chain's ends against the heads the workers published to Kafka (which the database's users cannot write).

What it names: a finding deleted (in the chain, not in `findings`), edited (its content no longer hashes to
its chain entry), inserted (no chain entry), a chain entry deleted (a gap), edited (a link that does not
recompute) or a chain rewritten wholesale (its end differs from the head in Kafka).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.chain import GENESIS, Head, content_hash, link


@dataclass(frozen=True)
class Problem:
    """One thing `esup verify` found wrong: what kind, the finding it concerns, and the detail."""

    kind: str  # deleted | edited | inserted | chain
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


def check_findings(entries: list[Entry], findings: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Each finding (latest revision) against its chain entry; chain entries without a finding."""
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
        elif content_hash(f) != entry.content:
            problems.append(Problem("edited", fid, "its content does not match its chain entry"))
    problems += [Problem("deleted", fid, "in the chain, not in findings") for fid in sorted(set(latest) - seen)]
    return problems


def load_entries(client: Any, database: str) -> list[Entry]:
    """Every chain entry in ``database``, sorted by partition, then sequence."""
    rows = client.execute(
        "SELECT chain_partition, chain_seq, finding_id, content_hash, prev_hash, chain_hash "
        f"FROM {database}.finding_chain FINAL ORDER BY chain_partition, chain_seq"
    )
    return [Entry(*r) for r in rows]


def load_findings(client: Any, database: str, since: datetime | None) -> list[dict[str, Any]]:
    """The findings in ``database`` (those detected since ``since``, when given) as dicts, times as Unix seconds."""
    cols = (
        "finding_id",
        "case_id",
        "rule",
        "severity",
        "staff_id",
        "department_id",
        "region_code",
        "item_code",
        "detected_at",
        "deadline",
        "law_article",
        "message",
        "evidence_event_ids",
        "chain_partition",
        "chain_seq",
    )
    where = " WHERE detected_at >= %(since)s" if since else ""
    rows = client.execute(
        "SELECT finding_id, case_id, rule, severity, staff_id, department_id, region_code, item_code, "
        "toUnixTimestamp(detected_at), if(isNull(deadline), NULL, toUnixTimestamp(assumeNotNull(deadline))), "
        "law_article, message, evidence_event_ids, chain_partition, chain_seq "
        f"FROM {database}.findings FINAL{where}",
        {"since": since} if since else None,
    )
    return [dict(zip(cols, r, strict=True)) for r in rows]


def read_heads(bootstrap: str, topic: str, group: str, *, auth: dict[str, Any] | None = None) -> dict[int, Head]:
    """The latest head per partition of ``group``'s workers, from the compacted chain-heads topic."""
    import json

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
        heads: dict[int, Head] = {}
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            batch = consumer.poll(timeout_ms=1000)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    h = json.loads(r.value)
                    mine = h.get("group") in (group, f"{group}/loop")  # the workers' chains and the loop's
                    if mine and h["seq"] >= heads.get(h["partition"], Head(-1)).seq:
                        heads[h["partition"]] = Head(h["seq"], h["hash"])
        return heads
    finally:
        consumer.close()


def verify(client: Any, database: str, heads: Mapping[int, Head], since: datetime | None = None) -> list[Problem]:
    """Every problem with the chain (against the Kafka ``heads``) and the findings (since ``since``, when given)."""
    entries = load_entries(client, database)
    return check_chain(entries, heads) + check_findings(entries, load_findings(client, database, since))
