"""Where row batches go: the Sink protocol, its ClickHouse implementation and an in-memory twin for tests.

`add()` only buffers, `write(batch)` is the only I/O, and `flush()` always clears the buffer: a batch
that fails is handed back inside :class:`WriteFailed`, so the caller (the runner) decides how to retry
it and never commits the Kafka offsets of rows that did not land.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from sinks.rows import COLUMNS, Row

Batch = Mapping[str, Sequence[Row]]


def sizes(batch: Batch) -> dict[str, int]:
    """Rows per table of a batch."""
    return {table: len(rows) for table, rows in batch.items()}


class WriteFailed(RuntimeError):
    """A batch that did not land; ``batch`` holds every row of it, for a retry."""

    def __init__(self, batch: Batch, cause: BaseException) -> None:
        super().__init__(f"{sum(sizes(batch).values())} rows not written: {type(cause).__name__}: {cause}")
        self.batch = batch
        self.cause = cause


class Sink(Protocol):
    """Where the runner's rows go: ``add`` buffers, ``flush`` writes the buffer in one batch through ``write``."""

    def add(self, table: str, rows: Iterable[Row]) -> None:
        """Buffer ``rows`` for ``table``; nothing is written yet."""

    def write(self, batch: Batch) -> None:
        """Write one batch (the only I/O); raises whatever the store raises."""

    def flush(self) -> dict[str, int]:
        """Write what is buffered and return rows per table; the buffer is empty afterwards (see WriteFailed)."""

    @property
    def pending(self) -> int:
        """How many rows are buffered, not yet written."""


class BufferedSink:
    """The buffering shared by every sink; subclasses implement ``write``."""

    def __init__(self) -> None:
        self._buffer: dict[str, list[Row]] = {}

    def add(self, table: str, rows: Iterable[Row]) -> None:
        """Buffer ``rows`` for ``table``; KeyError for a table the sink does not know."""
        if table not in COLUMNS:
            raise KeyError(f"unknown table {table!r}")
        self._buffer.setdefault(table, []).extend(rows)

    @property
    def pending(self) -> int:
        """How many rows are buffered, not yet written."""
        return sum(len(rows) for rows in self._buffer.values())

    def flush(self) -> dict[str, int]:
        """Write what is buffered and say how many rows went to each table.

        The buffer is empty afterwards whether or not the write succeeded; on failure the rows travel
        in the :class:`WriteFailed` raised.
        """
        batch, self._buffer = self._buffer, {}
        batch = {t: rows for t, rows in batch.items() if rows}
        if batch:
            try:
                self.write(batch)
            except Exception as exc:
                raise WriteFailed(batch, exc) from exc
        return sizes(batch)

    def write(self, batch: Batch) -> None:
        """Write one batch; each subclass does its own I/O."""
        raise NotImplementedError


class ClickHouseSink(BufferedSink):
    """One INSERT per table per batch, through a clickhouse-driver Client on the target database."""

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client

    def write(self, batch: Batch) -> None:
        """One INSERT per table, tables in name order."""
        # Tables in a fixed order; if one fails after another landed, the retry writes both again and
        # the ReplacingMergeTree keys make the second copy harmless.
        for table in sorted(batch):
            rows = batch[table]
            if rows:
                columns = COLUMNS[table]
                self.client.execute(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES", [[row[c] for c in columns] for row in rows]
                )


class MemorySink(BufferedSink):
    """The twin used by unit tests: keeps written rows in lists, and fails the next ``fail_next`` writes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[Row]] = {}
        self.writes = 0
        self.fail_next = 0

    def write(self, batch: Batch) -> None:
        """Keep the batch's rows in ``tables``; while ``fail_next`` > 0, count it down and raise ConnectionError."""
        if self.fail_next > 0:
            self.fail_next -= 1
            raise ConnectionError("memory sink told to fail")
        self.writes += 1
        for table, rows in batch.items():
            self.tables.setdefault(table, []).extend(rows)
