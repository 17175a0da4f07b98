"""The one error the launchers raise: a message that says what is wrong and what to do about it."""

from __future__ import annotations


class StackError(RuntimeError):
    """A server could not be installed, started or stopped; ``str()`` is meant for a person."""

    def __init__(self, service: str, problem: str, hint: str = "") -> None:
        self.service = service
        self.problem = problem
        self.hint = hint
        super().__init__(f"{service}: {problem}" + (f"\n  → {hint}" if hint else ""))
