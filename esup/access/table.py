"""The declarative ACL table: each platform principal's least privilege, and a department's one grant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from esup import kafka_auth as ka
from esup.audit_writers import audit_topic, audit_topics
from esup.settings import Settings
from esup.topics import ingest_topic

Resource = Literal["topic", "group", "transactional_id", "cluster"]
Pattern = Literal["literal", "prefixed"]
# Kafka implies DESCRIBE from READ and WRITE; it is listed where a client only looks (operator, metadata).
Operation = Literal["READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS"]


@dataclass(frozen=True, order=True)
class Grant:
    """One ACL row: a principal may do an operation on a topic, group or the cluster (by name or name prefix)."""

    principal: str
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = "literal"

    def line(self) -> str:
        """The grant as one aligned line for `esup access list` (a prefix grant ends with `*`)."""
        star = "*" if self.pattern == "prefixed" else ""
        return f"User:{self.principal:<16} {self.operation:<16} {self.resource} {self.name}{star}"


def _topics(principal: str, operations: tuple[Operation, ...], *names: str) -> list[Grant]:
    return [Grant(principal, "topic", n, op) for n in names for op in operations]


def changelog_topic(s: Settings) -> str:
    """The worker's changelog topic for the cases table, which the worker principal must own."""
    return f"{s.worker_app_id}-cases-changelog"  # streams.app.changelog_topic (kept import-free of faust)


def platform_grants(s: Settings) -> list[Grant]:
    """Every platform principal's grants; admin and broker are super users and need none."""
    g: list[Grant] = []
    changelog = changelog_topic(s)
    # Worker: judges case events and ticks against the catalog; writes everything it decides in one
    # transaction per partition (transactional id `<group>-p<N>`), and its own wake-ups when on the wall clock.
    # It also passes itself each applicant's facts (esup.applicant-facts, co-partitioned) for the
    # cross-case withdraw-and-reapply check: read and written in the same per-partition transaction.
    g += _topics(ka.WORKER, ("READ",), s.topic_case_events, s.topic_ticks, s.topic_catalog, s.topic_applicant_facts)
    g += _topics(ka.WORKER, ("READ",), s.topic_config)  # the adopted configurations: read, never written
    g += _topics(
        ka.WORKER,
        ("WRITE",),
        s.topic_findings,
        s.topic_case_snapshots,
        s.topic_dead_letters,
        s.topic_chain_heads,
        s.topic_ticks,
        s.topic_applicant_facts,
    )
    g += _topics(ka.WORKER, ("READ", "WRITE", "CREATE", "DESCRIBE_CONFIGS"), changelog)  # it makes it if missing
    g += [
        Grant(ka.WORKER, "group", s.worker_app_id, "READ"),
        Grant(ka.WORKER, "transactional_id", f"{s.worker_app_id}-p", "WRITE", "prefixed"),
        Grant(ka.WORKER, "transactional_id", f"{s.worker_app_id}-p", "DESCRIBE", "prefixed"),
    ]
    # Sink: reads what it stores, in its own group.
    g += _topics(
        ka.SINK,
        ("READ",),
        s.topic_case_events,
        s.topic_findings,
        s.topic_case_snapshots,
        s.topic_dead_letters,
        *audit_topics(s),  # every writer's audit topic and the shared one of earlier versions
    )
    g += [Grant(ka.SINK, "group", s.sink_group, "READ")]
    # Catalog publisher: reads the catalog (to tombstone what left it) and writes it; nothing else.
    g += _topics(ka.CATALOG, ("READ", "WRITE"), s.topic_catalog)
    g += _topics(ka.CATALOG, ("READ", "WRITE"), s.topic_directory)  # the directory is published the same way
    g += _topics(ka.CATALOG, ("WRITE",), audit_topic(s, ka.CATALOG))  # who published which catalog
    # `esup rules adopt`: the adopted rules and calendars, after their audit record (write only, nothing else).
    g += _topics(ka.ADOPTER, ("WRITE",), s.topic_config, audit_topic(s, ka.ADOPTER))
    # Clock: advances time, nothing else: the workers' ticks, the loop's (a topic of its own: the clock may
    # not write responses, which carry the supervisors' decisions), and who advanced it.
    g += _topics(ka.CLOCK, ("WRITE",), s.topic_ticks, s.topic_loop_ticks, audit_topic(s, ka.CLOCK))
    g += _topics(ka.CLOCK, ("WRITE",), s.topic_complaint_ticks)  # the complaint service's, likewise
    # Bridge: reads every department's ingestion topic, forwards to case events (or dead letters).
    g += [
        Grant(ka.BRIDGE, "topic", s.topic_ingest_prefix, "READ", "prefixed"),
        Grant(ka.BRIDGE, "group", s.bridge_group, "READ"),
        # one transactional id per bridge instance: `<bridge group>-<instance>`
        Grant(ka.BRIDGE, "transactional_id", f"{s.bridge_group}-", "WRITE", "prefixed"),
        Grant(ka.BRIDGE, "transactional_id", f"{s.bridge_group}-", "DESCRIBE", "prefixed"),
    ]
    g += _topics(ka.BRIDGE, ("WRITE",), s.topic_case_events, s.topic_dead_letters)
    # Gateway: stamps and forwards HTTP submissions; audits the credential use.
    g += _topics(ka.GATEWAY, ("WRITE",), s.topic_case_events, audit_topic(s, ka.GATEWAY))
    # Notifier: reads findings in its own group and the directory (who to tell).
    g += _topics(ka.NOTIFIER, ("READ",), s.topic_findings, s.topic_directory)
    g += [Grant(ka.NOTIFIER, "group", s.notifier_group, "READ")]
    # Loop: rebuilds from findings, responses and its clock's ticks, raises supervision findings, chains
    # them, dead-letters bad messages. It writes no response or decision: the API alone does.
    g += _topics(
        ka.LOOP,
        ("READ",),
        s.topic_findings,
        s.topic_responses,
        s.topic_loop_ticks,
        s.topic_chain_heads,
        s.topic_directory,
    )
    g += _topics(ka.LOOP, ("WRITE",), s.topic_findings, s.topic_chain_heads, s.topic_dead_letters)
    # Complaints: rebuilds from complaints, its own cards and the clock's ticks; raises cards as findings,
    # chains them, dead-letters bad complaint messages. It writes no complaint: the intake does.
    g += _topics(ka.COMPLAINTS, ("READ",), s.topic_complaints, s.topic_findings, s.topic_ticks, s.topic_complaint_ticks)
    g += _topics(ka.COMPLAINTS, ("WRITE",), s.topic_findings, s.topic_chain_heads, s.topic_dead_letters)
    # API: department responses and supervisor decisions, audited; complaints (public form, hotline, console).
    g += _topics(ka.API, ("WRITE",), s.topic_complaints)
    g += _topics(ka.API, ("WRITE",), s.topic_responses, audit_topic(s, ka.API))
    # API: the complaint intake (public form, 12345 hotline) and the supervisors' complaint actions.
    # (and reads it, without a group, for the desk's view: complaints/view.py)
    g += _topics(ka.API, ("WRITE", "READ"), s.topic_complaints)
    # Operator: reads and describes everything (lag, verify, dossiers, the case view); writes nothing.
    # ("*" literal is Kafka's wildcard.)
    g += _topics(ka.OPERATOR, ("READ", "DESCRIBE", "DESCRIBE_CONFIGS"), "*")
    g += [Grant(ka.OPERATOR, "group", "*", "DESCRIBE")]
    return sorted(set(g))


def revoked_grants(s: Settings) -> list[Grant]:
    """Grants earlier versions of this table made and this one withdrew: `esup access bootstrap` deletes them,
    since creating ACLs never removes one (an upgraded cluster would keep them)."""
    return [
        # The clock ticked the loop on the responses topic, so it could forge a supervisor's dismissal.
        Grant(ka.CLOCK, "topic", s.topic_responses, "WRITE"),
        # The loop never writes responses or audit records.
        Grant(ka.LOOP, "topic", s.topic_responses, "WRITE"),
        Grant(ka.LOOP, "topic", s.topic_audit, "WRITE"),
        # The clock ticked the complaint service on the complaints topic, so it could forge a complaint message.
        Grant(ka.CLOCK, "topic", s.topic_complaints, "WRITE"),
        # The catalog publisher wrote the configuration schedule: any long-running publisher holding its login
        # could have changed the rules the workers judge by. `esup rules adopt` has a principal of its own.
        Grant(ka.CATALOG, "topic", s.topic_config, "WRITE"),
        # Every writer wrote the one shared audit topic, so any of them could write a record claiming another
        # (the clock a supervisor's decision). Each now writes a topic of its own (esup/audit_writers.py).
        *(Grant(p, "topic", s.topic_audit, "WRITE") for p in (ka.CATALOG, ka.ADOPTER, ka.CLOCK, ka.GATEWAY, ka.API)),
        # And no platform principal may write another's audit topic, however such a grant came about (a hand
        # change, a test): bootstrap deletes it, so the writer of a record is the one its topic names.
        *(
            Grant(p, "topic", topic, "WRITE")
            for topic, writer in audit_topics(s).items()
            for p in ka.PLATFORM
            if p not in (writer, ka.ADMIN)
        ),
    ]


def department_grants(s: Settings, department_id: str) -> list[Grant]:
    """A department system writes its own ingestion topic, named literally: no other topic, no prefix."""
    principal = ka.department_principal(department_id)
    return [Grant(principal, "topic", ingest_topic(s, department_id), op) for op in ("WRITE", "DESCRIBE")]


def grants_of(s: Settings, principal: str) -> list[Grant]:
    """The platform grants of one principal."""
    return [g for g in platform_grants(s) if g.principal == principal]
