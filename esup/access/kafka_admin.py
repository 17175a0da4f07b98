"""Applying the table to a cluster with kafka-python's admin client: SCRAM users and ACLs."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from esup.access.table import Grant

_RESOURCE = {"topic": "TOPIC", "group": "GROUP", "transactional_id": "TRANSACTIONAL_ID", "cluster": "CLUSTER"}


def new_password() -> str:
    """A new random SCRAM password (24 bytes, URL-safe)."""
    return secrets.token_urlsafe(24)


def set_password(admin: Any, principal: str, password: str) -> None:
    """Create or replace a user's SCRAM-SHA-512 credential (AlterUserScramCredentials)."""
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    result = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(principal, ScramMechanism.SCRAM_SHA_512, password, iterations=8192)]
    )
    if result.get(principal):
        raise RuntimeError(f"setting the password of {principal}: {result[principal]}")


def delete_user(admin: Any, principal: str) -> None:
    """Remove a principal's SCRAM credentials; a user that does not exist is not an error."""
    from kafka.admin import ScramMechanism, UserScramCredentialDeletion

    result = admin.alter_user_scram_credentials([UserScramCredentialDeletion(principal, ScramMechanism.SCRAM_SHA_512)])
    error = result.get(principal)
    if error and "RESOURCE_NOT_FOUND" not in str(error).upper() and "not found" not in str(error).lower():
        raise RuntimeError(f"deleting user {principal}: {error}")


def users(admin: Any) -> list[str]:
    """The principals with SCRAM credentials on the cluster, sorted."""
    return sorted(admin.describe_user_scram_credentials() or {})


def _acl(g: Grant) -> Any:
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    pattern = ResourcePattern(ResourceType[_RESOURCE[g.resource]], g.name, ACLResourcePatternType[g.pattern.upper()])
    return ACL(f"User:{g.principal}", "*", ACLOperation[g.operation], ACLPermissionType.ALLOW, pattern)


def create_acls(admin: Any, grants: Iterable[Grant]) -> int:
    """Create the grants (creating an existing ACL is a no-op in Kafka); how many were sent."""
    acls = [_acl(g) for g in grants]
    if not acls:
        return 0
    result = admin.create_acls(acls)
    if result.get("failed"):
        raise RuntimeError(f"creating ACLs failed: {result['failed']}")
    return len(acls)


def delete_grants(admin: Any, grants: Iterable[Grant]) -> int:
    """Delete exactly these grants (an ACL that is not there is no error); how many were found and deleted."""
    from kafka.admin import ACLFilter, ResourcePatternFilter

    filters = []
    for g in grants:
        acl = _acl(g)
        rp = acl.resource_pattern
        filters.append(
            ACLFilter(
                acl.principal,
                acl.host,
                acl.operation,
                acl.permission_type,
                ResourcePatternFilter(rp.resource_type, rp.resource_name, rp.pattern_type),
            )
        )
    if not filters:
        return 0
    gone = 0
    for _filter, matched, error in admin.delete_acls(filters):
        if error is not None and getattr(error, "errno", None):
            raise RuntimeError(f"deleting ACLs: {error}")
        gone += len(matched)
    return gone


def delete_acls_of(admin: Any, principal: str) -> int:
    """Delete every ACL naming the principal; how many went."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )

    f = ACLFilter(
        f"User:{principal}",
        None,
        ACLOperation.ANY,
        ACLPermissionType.ANY,
        ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    gone = 0
    for _filter, matched, error in admin.delete_acls([f]):
        if error is not None and getattr(error, "errno", None):
            raise RuntimeError(f"deleting the ACLs of {principal}: {error}")
        gone += len(matched)
    return gone


def describe_acls(admin: Any) -> list[Grant]:
    """Every ALLOW ACL on the cluster, as grants."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )

    f = ACLFilter(
        None,
        None,
        ACLOperation.ANY,
        ACLPermissionType.ANY,
        ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    acls, error = admin.describe_acls(f)
    if error is not None and getattr(error, "errno", None):
        raise RuntimeError(f"listing ACLs: {error}")
    back = {v: k for k, v in _RESOURCE.items()}
    out = []
    for a in acls:
        rp = a.resource_pattern
        out.append(
            Grant(
                a.principal.removeprefix("User:"),
                back.get(rp.resource_type.name, "topic"),  # type: ignore[arg-type]
                rp.resource_name,
                a.operation.name,
                rp.pattern_type.name.lower(),
            )
        )
    return sorted(out)
