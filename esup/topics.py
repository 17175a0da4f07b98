"""The platform's Kafka topics, and creating them idempotently with kafka-python's admin client."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from esup.audit_writers import LEGACY, audit_topics
from esup.settings import Settings

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """A topic the platform needs: name, partitions, replication, configs and what it carries."""

    name: str
    partitions: int
    replication: int
    configs: dict[str, str] = field(default_factory=dict)
    purpose: str = ""


@dataclass(frozen=True)
class TopicResult:
    """What ensuring a topic found: whether it was created, its partitions, and how it differs from its spec."""

    spec: TopicSpec
    created: bool
    partitions: int
    # Differences between the existing topic and its spec; existing topics are never altered silently.
    drift: tuple[str, ...] = ()


def durable(spec: TopicSpec) -> TopicSpec:
    """A replicated topic acknowledges a write (acks=all) only once two replicas hold it (one for RF 2):
    losing one broker then loses no acknowledged write and stops no producer."""
    if spec.replication < 2:
        return spec
    return replace(spec, configs={**spec.configs, "min.insync.replicas": str(min(2, spec.replication - 1))})


def platform_topics(s: Settings) -> list[TopicSpec]:
    """Every topic the platform needs, with its partitions and policies, from the settings."""
    return [durable(t) for t in _platform_topics(s)]


def _platform_topics(s: Settings) -> list[TopicSpec]:
    keyed = s.case_events_partitions
    rf = s.topic_replication_factor
    return [
        TopicSpec(
            s.topic_case_events,
            keyed,
            rf,
            {
                "cleanup.policy": "delete",
                "retention.ms": str(s.case_events_retention_days * DAY_MS),
                # the broker stamps receipt: an event's or tick's own time is checked against it
                "message.timestamp.type": "LogAppendTime",
            },
            "case events from department systems, keyed by case id",
        ),
        TopicSpec(
            s.topic_dead_letters,
            1,
            rf,
            {"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS)},
            "events that failed the contract, with the reason",
        ),
        TopicSpec(
            s.topic_findings,
            keyed,
            rf,
            {"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS)},
            "supervision findings, keyed by case id",
        ),
        # Compacted: the latest snapshot per case and the latest catalog entry per item survive forever.
        TopicSpec(
            s.topic_case_snapshots,
            keyed,
            rf,
            {"cleanup.policy": "compact"},
            "latest state per case, keyed by case id (compacted)",
        ),
        TopicSpec(
            s.topic_chain_heads,
            1,
            rf,
            {"cleanup.policy": "compact"},
            "the head of each worker partition's findings chain (compacted)",
        ),
        TopicSpec(
            s.topic_catalog,
            1,
            rf,
            {"cleanup.policy": "compact"},
            "licensing-item catalog, keyed by item code (compacted)",
        ),
        TopicSpec(
            s.topic_config,
            1,
            rf,
            # The broker stamps receipt: a live worker refuses an adoption whose moment is before it.
            {"cleanup.policy": "compact", "message.timestamp.type": "LogAppendTime"},
            "adopted rules and calendars with their effective moments, keyed by kind@moment (compacted)",
        ),
        TopicSpec(
            s.topic_directory,
            1,
            rf,
            {"cleanup.policy": "compact"},
            "organisation directory: departments, staff, bureaus, keyed by kind:id (compacted)",
        ),
        TopicSpec(
            s.topic_ticks,
            keyed,
            rf,
            {"cleanup.policy": "delete", "retention.ms": str(DAY_MS), "message.timestamp.type": "LogAppendTime"},
            "the sweeper's wake-ups, one partition per case-events partition",
        ),
        TopicSpec(
            s.topic_applicant_facts,
            keyed,
            rf,
            {"cleanup.policy": "delete", "retention.ms": str(s.case_events_retention_days * DAY_MS)},
            "applications and withdrawals keyed by (applicant, item), one partition per case-events partition",
        ),
        TopicSpec(
            s.topic_responses,
            keyed,
            rf,
            {"cleanup.policy": "delete", "retention.ms": str(400 * DAY_MS)},
            "responses, decisions and recommendation reports, keyed by finding id",
        ),
        TopicSpec(
            s.topic_loop_ticks,
            1,
            rf,
            # as long as the responses: the loop rebuilds its event clock from the start
            {"cleanup.policy": "delete", "retention.ms": str(400 * DAY_MS)},
            "the loop's event-clock ticks (only the clock writes them)",
        ),
        TopicSpec(
            s.topic_complaint_ticks,
            1,
            rf,
            {"cleanup.policy": "delete", "retention.ms": str(400 * DAY_MS)},
            "the complaint service's event-clock ticks (only the clock writes them)",
        ),
        TopicSpec(
            s.topic_complaints,
            keyed,
            rf,
            {"cleanup.policy": "delete", "retention.ms": str(400 * DAY_MS)},
            "complaints from the public and their handling, keyed by complaint id (contact sealed)",
        ),
        TopicSpec(
            s.topic_audit,
            1,
            rf,
            {"cleanup.policy": "delete", "retention.ms": str(400 * DAY_MS)},
            "the audit records of earlier versions, read only: each writer now has its own topic",
        ),
        *audit_topic_specs(s),
    ]


def audit_topic_specs(s: Settings) -> list[TopicSpec]:
    """Each audit writer's own topic (esup/audit_writers.py), configured like the shared audit topic was."""
    return [
        TopicSpec(
            topic,
            1,
            s.topic_replication_factor,
            {"cleanup.policy": "delete", "retention.ms": str(400 * DAY_MS)},
            f"{writer}'s audit records, hash-chained (also in ClickHouse audit_log); only {writer} writes it",
        )
        for topic, writer in audit_topics(s).items()
        if writer != LEGACY
    ]


# Kafka topic names allow these characters only; a department whose id has others cannot have a topic.
INGEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,120}$")


def ingest_topic(s: Settings, department_id: str) -> str:
    """A department's own ingestion topic: only its principal writes it (literal ACL); the bridge reads them all."""
    if not INGEST_ID.match(department_id):
        raise ValueError(f"department id {department_id!r}: only letters, digits, '_' and '-' can name a Kafka topic")
    return s.topic_ingest_prefix + department_id


def ingest_topic_spec(s: Settings, department_id: str) -> TopicSpec:
    """The spec of a department's ingestion topic `esup.ingest.<dept>` (7 days' retention, broker timestamps)."""
    return durable(
        TopicSpec(
            ingest_topic(s, department_id),
            s.case_events_partitions,
            s.topic_replication_factor,
            {"cleanup.policy": "delete", "retention.ms": str(7 * DAY_MS), "message.timestamp.type": "LogAppendTime"},
            f"case events written by department {department_id}'s system, keyed by case id",
        )
    )


@contextlib.contextmanager
def admin_client(bootstrap: str, timeout_ms: int = 30000, *, auth: dict[str, Any] | None = None) -> Iterator[Any]:
    """A kafka-python KafkaAdminClient, closed on exit (kafka-python ships no type hints, hence Any).

    ``auth``: the login, esup.kafka_auth.kafka_python_auth(settings, principal) ({} on a PLAINTEXT cluster)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="esup-admin",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
        **(auth or {}),
    )
    try:
        yield admin
    finally:
        admin.close()


def describe(admin: Any, names: Sequence[str]) -> dict[str, int]:
    """Partition count of each named topic that exists."""
    return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(names)) if t["error_code"] == 0}


def topic_configs(admin: Any, name: str, keys: Sequence[str]) -> dict[str, str]:
    """The topic's current values of the given config keys."""
    from kafka.admin import ConfigResource, ConfigResourceType

    found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name, list(keys))], config_filter="all")
    return {k: v["value"] for k, v in found["topic"][name].items()}


def _until_described(admin: Any, specs: Sequence[TopicSpec], timeout_s: float = 30.0) -> None:
    """Wait until new topics show their partitions and configs: on a cluster the broker asked may learn of a
    topic a moment after the controller created it (and would report it empty, as drift)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        have = describe(admin, [s.name for s in specs])
        if all(have.get(s.name) == s.partitions for s in specs) and all(
            None not in topic_configs(admin, s.name, list(s.configs)).values() for s in specs
        ):
            return
        time.sleep(0.2)


def ensure_topics(admin: Any, specs: Sequence[TopicSpec]) -> list[TopicResult]:
    """Create the topics that are missing; report, never change, existing ones that differ from their spec."""
    from kafka.errors import TopicAlreadyExistsError

    existing = describe(admin, [s.name for s in specs])
    missing = [s for s in specs if s.name not in existing]
    created: set[str] = set()
    if missing:
        request = {
            s.name: {"num_partitions": s.partitions, "replication_factor": s.replication, "configs": s.configs}
            for s in missing
        }
        response = admin.create_topics(request, raise_errors=False, wait_for_metadata=False)
        for t in response["topics"]:
            if t["error_code"] == 0:
                created.add(t["name"])
            elif t["error_code"] != TopicAlreadyExistsError.errno:  # another process won the race: fine
                raise RuntimeError(f"creating topic {t['name']}: {t['error_message'] or t['error_code']}")
        if created:
            admin.wait_for_topics(sorted(created), timeout_ms=30000)
            _until_described(admin, [s for s in specs if s.name in created])
        existing = describe(admin, [s.name for s in specs])
    results = []
    for spec in specs:
        drift: list[str] = []
        have = existing.get(spec.name, 0)
        if have != spec.partitions:
            # Adding partitions would move keys (cases) to other partitions mid-flight: a decision for a person.
            drift.append(f"{have} partitions, {spec.partitions} configured")
        actual = topic_configs(admin, spec.name, list(spec.configs))
        drift += [f"{k}={actual.get(k)!r}, {v!r} configured" for k, v in spec.configs.items() if actual.get(k) != v]
        results.append(TopicResult(spec, spec.name in created, have, tuple(drift)))
    return results


def quiet_kafka_logging() -> None:
    """kafka-python warns on every retry; the commands report failures themselves."""
    logging.getLogger("kafka").setLevel(logging.ERROR)
