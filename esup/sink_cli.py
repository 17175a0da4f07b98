"""Commands of the department side and the ClickHouse sink: `esup publish`, `esup catalog`, `esup sink`, `esup status`."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Attach the producer and sink commands to the `esup` group."""
