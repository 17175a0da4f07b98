"""Who writes the audit trail: one audit topic per writing principal, and what each writer may record.

Each principal that audits writes a topic of its own (`<topic_audit>.<name>`), which its ACL alone may write
(esup/access/table.py). So the topic a record came from names its writer: the sink stores that, never
what the record says, and `esup verify` names a record its writer may not make (the clock claiming a
supervisor's decision) as forged. The shared topic `topic_audit` is written by nobody any more; it is read
for the history an earlier version left there (writer `legacy`).

The admin is Kafka's super user: no ACL binds it, so it could write any of these topics. It is the
operator's own login (`esup access`, token changes), never a service's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from esup import kafka_auth as ka

if TYPE_CHECKING:
    from esup.settings import Settings

# The writer of records read from the shared topic, written before each writer had its own.
LEGACY = "legacy"


@dataclass(frozen=True)
class AuditWriter:
    """What one principal may record: action names (``prefix*`` for a family) and the roles it writes.

    ``actions`` empty: any action no other writer names (the API's users' actions are named by the request:
    a page, an endpoint, a complaint action)."""

    principal: str
    actions: tuple[str, ...]
    roles: tuple[str, ...]


# The writers and what each may record. The API's roles are its users' (api/auth.py Role) and the callers
# that are not users (complaints/intake.py: the public form, a hotline system; "" before a login).
WRITERS: tuple[AuditWriter, ...] = (
    AuditWriter(ka.ADMIN, ("access.*", "gateway.token-*", "hotline.token-*"), ("kafka:admin",)),
    AuditWriter(ka.CATALOG, ("catalog.publish",), ("kafka:esup-catalog",)),
    AuditWriter(ka.ADOPTER, ("config.adopt",), ("kafka:esup-adopter",)),
    AuditWriter(ka.CLOCK, ("clock.advance",), ("kafka:esup-clock",)),
    AuditWriter(ka.GATEWAY, ("gateway.ingest",), ("department", "")),
    AuditWriter(ka.API, (), ("supervisor", "department", "public", "hotline", "")),
)
_BY_PRINCIPAL = {w.principal: w for w in WRITERS}


def audit_topic(s: Settings, principal: str) -> str:
    """The audit topic ``principal`` writes (`esup.audit.api` for `esup-api`); only audit writers have one."""
    if principal not in _BY_PRINCIPAL:
        raise ValueError(f"{principal!r} writes no audit records (writers: {', '.join(sorted(_BY_PRINCIPAL))})")
    return f"{s.topic_audit}.{principal.removeprefix('esup-')}"


def audit_topics(s: Settings) -> dict[str, str]:
    """Every audit topic the sink and `esup verify` read → its writer: each writer's and the shared (legacy) one."""
    return {s.topic_audit: LEGACY} | {audit_topic(s, w.principal): w.principal for w in WRITERS}


def _names(pattern: str, action: str) -> bool:
    return action.startswith(pattern[:-1]) if pattern.endswith("*") else action == pattern


def forgery(writer: str, action: str, role: str) -> str | None:
    """Why ``writer`` may not have recorded ``action`` as ``role`` (a forged record), or None when it may.
    Legacy records (the shared topic) cannot be told apart: None."""
    if writer == LEGACY:
        return None
    w = _BY_PRINCIPAL.get(writer)
    if w is None:
        return f"{writer!r} is no audit writer"
    if w.actions:
        allowed = any(_names(p, action) for p in w.actions)
    else:
        allowed = not any(_names(p, action) for o in WRITERS if o is not w for p in o.actions)
    if not allowed:
        return f"{writer} may not record action {action!r}"
    if role not in w.roles:
        return f"{writer} may not record role {role!r}"
    return None
