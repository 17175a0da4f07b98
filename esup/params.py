"""Command-line parameter parsing shared by the `esup` commands."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from esup.settings import Settings


def aware_datetime(value: str) -> datetime:
    """An ISO-8601 time with its offset; a naive time is refused with an example of the right form."""
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not ISO-8601") from None
    if dt.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no timezone offset (e.g. 2026-03-01T00:00:00+08:00)")
    return dt


def cli_settings() -> Settings:
    """The ESUP_* settings, or a readable error and exit code 1 instead of a traceback."""
    from pydantic import ValidationError

    from esup.settings import load_settings

    try:
        return load_settings()
    except ValidationError as exc:
        raise click.ClickException(f"invalid ESUP_* settings:\n{exc}") from None
