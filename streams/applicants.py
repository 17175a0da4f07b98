"""The worker's side of the cross-case withdraw-and-reapply check: applicant rows and the facts topic.

Design: docs/architecture.md#checks-across-cases-withdraw-and-reapply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from schemas.findings import Finding
from streams.rules import Context
from streams.rules.reapply import FACT_LIMIT, Applicant, Fact, admit

APPLICANT_PREFIX = b"\x00applicant:"


def row_key(fact_key: bytes) -> bytes:
    """The applicant row's key among a partition's rows: ``APPLICANT_PREFIX`` and the fact key."""
    return APPLICANT_PREFIX + fact_key


def is_applicant(key: bytes) -> bool:
    """Whether a row key is an applicant row's, not a case's."""
    return key.startswith(APPLICANT_PREFIX)


def check_row(raw: bytes) -> None:
    """Raises when an applicant row cannot be read (recovery quarantines it)."""
    Applicant.from_json(raw)


@dataclass
class Applicants:
    """A batch's changed applicant rows, written to the partition's rows only at the batch's end."""

    rows: Callable[[int], dict[bytes, bytes]]  # partition -> its rows (the store's)
    dirty: dict[tuple[int, bytes], Applicant] = field(default_factory=dict)

    def judge(
        self, partition: int, key: bytes | None, value: bytes | None, ctx: Context | Callable[[datetime], Context]
    ) -> list[Finding] | str:
        """Admit one fact read from facts partition ``partition``: its findings, or why it is a dead letter.
        ``ctx``: a context, or the context in effect at a moment (each pair is judged at its application's
        moment, whichever of its facts arrives last: `streams.rules.reapply.pair_context`)."""
        try:
            fact = Fact.from_json(value if value is not None else b"")
        except Exception as exc:  # written by workers only, but never trusted to be readable
            return f"<fact>: unreadable ({type(exc).__name__}: {str(exc)[:200]})"
        if key != fact.key:
            return f"fact key {key!r:.80} is not the encoding of ({fact.applicant_id!r:.40}, {fact.item_code!r:.40})"
        name = (partition, row_key(fact.key))
        state = self.dirty.get(name)
        if state is None:
            raw = self.rows(partition).get(name[1])
            state = Applicant.from_json(raw) if raw is not None else None
        before = len(state.facts) if state is not None else 0
        state, found, over = admit(state, fact, ctx)
        if over:
            return (
                f"applicant {fact.applicant_id!r:.40} on item {fact.item_code!r:.40} already has {FACT_LIMIT} "
                f"facts: the {fact.kind} of case {fact.case_id!r:.80} is not kept or checked"
            )
        if len(state.facts) != before:
            self.dirty[name] = state
        return found

    def flush(self) -> list[tuple[int, bytes, bytes]]:
        """(partition, row key, row) of every changed applicant."""
        return [(p, key, state.to_json()) for (p, key), state in self.dirty.items()]
