"""Commands that drive the servers: `esup stack`, `esup topics`, `esup db` (registered on the main group)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Attach the infrastructure commands to the `esup` group."""
