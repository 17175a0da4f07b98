"""`esup complaints hotline-token`: the 12345 hotline's credentials; and the intake `esup api serve` mounts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from api.directory import Directory
    from complaints.desk import Desk
    from complaints.intake import Intake
    from esup.settings import Settings


def register(main: click.Group) -> None:
    """Under `esup complaints` (made here when the complaints core has not made it yet)."""
    group = main.commands.get("complaints")
    if not isinstance(group, click.Group):
        group = click.Group("complaints", help="Complaints from the public (投诉处理): intake, handling, scores.")
        main.add_command(group)
    group.add_command(hotline_token)


def hotline_tokens_path(s: Settings) -> Path:
    return s.home / "credentials" / "complaints" / "hotline-tokens.json"


def make_intake(s: Settings, producer: Any, directory_file: Path | None = None) -> Intake:
    """The intake as `esup api serve` mounts it: keys and tokens under <ESUP_HOME>/credentials/complaints (0600)."""
    import yaml

    from complaints.intake import Intake
    from complaints.pii import keyring
    from esup.console_cli import owner_only_secret
    from gateway.ratelimit import RateLimiter
    from gateway.tokens import TokenStore

    departments: list[tuple[str, str]] = []
    if directory_file is not None:  # the form offers the directory's departments by name
        data = yaml.safe_load(directory_file.read_text(encoding="utf-8")) or {}
        departments = [(str(d.get("id") or d.get("department_id")), str(d.get("name") or d.get("id")
                        or d.get("department_id"))) for d in data.get("departments", [])]
    return Intake(keyring=keyring(s), producer=producer, topic=s.topic_complaints,
                  form_secret=owner_only_secret(s.home / "credentials" / "complaints" / "form.key").encode(),
                  hotline_tokens=TokenStore(hotline_tokens_path(s)),
                  form_limiter=RateLimiter(s.complaints_form_per_hour / 3600, s.complaints_form_per_hour),
                  hotline_limiter=RateLimiter(s.complaints_hotline_rate_per_s, s.complaints_hotline_burst),
                  max_body_bytes=s.complaints_max_body_bytes, departments=lambda: departments)


def make_desk(s: Settings, producer: Any, directory: Directory | None) -> Desk:
    """The supervisors' desk: a view of esup.complaints tailed as the API's principal (no group), and the keys."""
    from complaints.desk import Desk
    from complaints.pii import keyring
    from complaints.view import ComplaintsView, KafkaTail
    from esup.kafka_auth import API, kafka_python_auth

    view = ComplaintsView()
    KafkaTail(view, s.kafka_bootstrap, s.topic_complaints, kafka_python_auth(s, API)).start()
    return Desk(view=view, keyring=keyring(s), producer=producer, topic=s.topic_complaints, directory=directory)


@click.group("hotline-token")
def hotline_token() -> None:
    """Bearer tokens of 12345 hotline systems (argon2id hashes kept, 0600; POST /complaints/hotline)."""


@hotline_token.command("add")
@click.argument("system")
def add(system: str) -> None:
    """A new token for hotline SYSTEM (e.g. 12345-dazhou), printed once; only its hash is kept."""
    from esup.settings import load_settings
    from gateway.tokens import TokenStore

    try:
        record, token = TokenStore(hotline_tokens_path(load_settings())).add(system)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SYSTEM") from None
    click.echo(f"token {record.token_id} for {system} (shown once, keep it in the hotline system's secrets):",
               err=True)
    click.echo(token)


@hotline_token.command("revoke")
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke one token by its id; takes effect without a restart."""
    from esup.settings import load_settings
    from gateway.tokens import TokenStore

    done = TokenStore(hotline_tokens_path(load_settings())).revoke(token_id=token_id)
    if not done:
        raise click.ClickException(f"no active token {token_id}")
    click.echo(f"revoked {token_id}")


@hotline_token.command("list")
def list_tokens() -> None:
    """Token ids, systems and dates (never the tokens)."""
    from esup.settings import load_settings
    from gateway.tokens import TokenStore

    for r in TokenStore(hotline_tokens_path(load_settings())).records().values():
        click.echo(json.dumps(r.public(), ensure_ascii=False))
