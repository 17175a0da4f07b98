"""`esup access`: Kafka users and ACLs (platform principals, department systems), every change audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from esup.params import cli_settings as _settings


@click.group()
def access() -> None:
    """Who may read and write what on Kafka (SCRAM users and ACLs, esup/access/table.py).

    \b
      esup access bootstrap                 platform users and their ACLs (idempotent; `esup stack up` runs it)
      esup access add-department D [--store]  principal dept-D, its topic esup.ingest.D, credentials printed once
      esup access remove-department D       its user and ACLs go (its topic and events stay)
      esup access rotate PRINCIPAL          a new password
      esup access list                      users and ACLs
    Changes are made as `admin` and recorded on the audit topic (who, when, what).
    """


def _run(what: Callable[[], Any]) -> Any:
    from esup.kafka_auth import CredentialError
    from esup.topics import quiet_kafka_logging

    quiet_kafka_logging()
    try:
        return what()
    except (CredentialError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # the admin client raises many kinds; all mean the change was not made
        raise click.ClickException(f"Kafka: {type(exc).__name__}: {exc}") from None


@access.command("bootstrap")
def bootstrap() -> None:
    """Create the platform principals (passwords stored 0600) and every platform ACL; safe to run again."""
    from esup.access import ops

    s = _settings()
    for line in _run(lambda: ops.bootstrap(s)):
        click.echo(line)


@access.command("add-department")
@click.argument("department")
@click.option(
    "--store",
    is_flag=True,
    help="also store the password (0600) for a process on this host "
    "(the simulated province); otherwise it is only printed",
)
@click.option(
    "--http-token/--no-http-token",
    default=True,
    show_default=True,
    help="also issue the department's HTTP gateway token (printed once; only its hash is kept)",
)
def add_department(department: str, store: bool, http_token: bool) -> None:
    """Principal dept-DEPARTMENT, allowed to write its own ingestion topic and nothing else; and its token
    for the HTTP gateway (esup gateway serve), for systems that cannot speak Kafka."""
    from esup.access import ops

    s = _settings()
    made = _run(lambda: ops.add_department(s, department, store=store))
    click.echo(
        f"principal  {made.principal}\npassword   {made.password}\ntopic      {made.topic}\n"
        f"mechanism  SCRAM-SHA-512 over {s.kafka_security_protocol} at {s.kafka_bootstrap}"
    )
    if http_token:
        from esup.tokens import issue

        click.echo(f"http token {issue(s, department)}  (Authorization: Bearer …, POST /v1/events)")
    click.echo(
        f"stored in {made.stored}"
        if made.stored
        else "shown once: hand it to the department over a trusted channel (it is not stored)",
        err=True,
    )


@access.command("remove-department")
@click.argument("department")
def remove_department(department: str) -> None:
    """Delete dept-DEPARTMENT's user and ACLs; what it wrote stays."""
    from esup.access import ops

    s = _settings()
    gone = _run(lambda: ops.remove_department(s, department))
    click.echo(f"removed dept-{department} ({gone} ACLs)")


@access.command("rotate")
@click.argument("principal")
def rotate(principal: str) -> None:
    """A new password for PRINCIPAL: stored for platform services (restart them), printed for departments."""
    from esup.access import ops

    s = _settings()
    password, stored = _run(lambda: ops.rotate(s, principal))
    if stored:
        click.echo(f"{principal}: new password stored in {stored}; restart its processes")
    else:
        click.echo(f"principal  {principal}\npassword   {password}")


@access.command("list")
def list_() -> None:
    """Every SCRAM user and every ACL, by principal."""
    from esup.access import ops

    s = _settings()
    users, grants = _run(lambda: ops.listing(s))
    click.echo("users: " + ", ".join(users))
    for g in grants:
        click.echo(g.line())
