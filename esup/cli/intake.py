"""The complaint intake and desk as `esup api serve` and `esup console` mount them (no commands here)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.directory import Directory
    from complaints.desk import Desk
    from complaints.intake import Intake
    from esup.settings import Settings


def hotline_tokens_path(s: Settings) -> Path:
    """The file of the 12345 hotline's tokens, under <ESUP_HOME>/credentials/complaints."""
    return s.home / "credentials" / "complaints" / "hotline-tokens.json"


def make_intake(s: Settings, producer: Any, directory_file: Path | None = None) -> Intake:
    """The intake as `esup api serve` mounts it: keys and tokens under <ESUP_HOME>/credentials/complaints (0600)."""
    from complaints.intake import Intake
    from complaints.pii import keyring
    from esup.cli.console import owner_only_secret
    from esup.ratelimit import RateLimiter
    from esup.tokens import TokenStore
    from schemas.yamlfile import DATA_MAX_BYTES, load_mapping

    departments: list[tuple[str, str]] = []
    if directory_file is not None:  # the form offers the directory's departments by name
        data = load_mapping(directory_file, max_bytes=DATA_MAX_BYTES)  # bounded: size, nesting, aliases
        departments = [
            (str(d.get("id") or d.get("department_id")), str(d.get("name") or d.get("id") or d.get("department_id")))
            for d in data.get("departments", [])
        ]
    return Intake(
        keyring=keyring(s),
        producer=producer,
        topic=s.topic_complaints,
        form_secret=owner_only_secret(s.home / "credentials" / "complaints" / "form.key").encode(),
        hotline_tokens=TokenStore(hotline_tokens_path(s)),
        form_limiter=RateLimiter(s.complaints_form_per_hour / 3600, s.complaints_form_per_hour),
        hotline_limiter=RateLimiter(s.complaints_hotline_rate_per_s, s.complaints_hotline_burst),
        max_body_bytes=s.complaints_max_body_bytes,
        departments=lambda: departments,
    )


def make_desk(s: Settings, producer: Any, directory: Directory | None) -> Desk:
    """The supervisors' desk: a view of esup.complaints tailed as the API's principal (no group), and the keys."""
    from complaints.desk import Desk
    from complaints.pii import keyring
    from complaints.view import ComplaintsView, KafkaTail
    from esup.kafka_auth import API, kafka_python_auth

    view = ComplaintsView()
    KafkaTail(view, s.kafka_bootstrap, s.topic_complaints, kafka_python_auth(s, API)).start()
    return Desk(view=view, keyring=keyring(s), producer=producer, topic=s.topic_complaints, directory=directory)
