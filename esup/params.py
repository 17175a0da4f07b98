"""Command-line parameter parsing shared by the `esup` commands."""

from __future__ import annotations

from datetime import datetime

import click


def aware_datetime(value: str) -> datetime:
    """An ISO-8601 time with its offset; a naive time is refused with an example of the right form."""
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not ISO-8601") from None
    if dt.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no timezone offset (e.g. 2026-03-01T00:00:00+08:00)")
    return dt
