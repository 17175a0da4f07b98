"""Train the zstd dictionary the worker compresses its case rows with (streams/rows.zdict).

`python -m tests.make_row_dictionary` judges a synthetic province (every violation kind, the 2026 calendar)
with the real processor, at three moments of its life (so open, suspended and closed cases are all in the
sample), and trains a 4 KiB dictionary on the rows. The dictionary is part of the row format: rows name it
by its id, and a row written with a dictionary the worker does not have is refused (quarantined) on load.
Changing it means keeping the old one readable (streams/rows.py `_DICTIONARIES`).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import zstandard

from streams.batch import Message
from streams.processor import CaseProcessor
from streams.rows import META_KEY, unpack
from tests.support import synthetic_context, synthetic_lines

OUT = Path(__file__).resolve().parents[1] / "streams" / "rows.zdict"


def sample_rows(n_cases: int = 3000) -> list[bytes]:
    """The JSON of every case row after a third, two thirds and all of a synthetic province's events."""
    proc = CaseProcessor(ctx=synthetic_context(), clock="event", ticks_topic="esup.ticks")
    lines = synthetic_lines(n_cases, seed=7)
    out: list[bytes] = []
    for i in range(0, len(lines), 1000):
        batch = [
            Message("esup.case-events", 0, i + j, orjson.loads(r)["case_id"].encode(), r, None)
            for j, r in enumerate(lines[i : i + 1000])
        ]
        proc.handle(batch)
        if i // 1000 in {len(lines) // 3000, 2 * len(lines) // 3000}:
            out += [unpack(v) for k, v in proc.store.partition(0).rows.items() if k != META_KEY]
    out += [unpack(v) for k, v in proc.store.partition(0).rows.items() if k != META_KEY]
    return out


def main() -> None:
    """Write streams/rows.zdict."""
    samples: list[bytes | bytearray | memoryview] = list(sample_rows())
    dictionary = zstandard.train_dictionary(4096, samples, level=3, threads=1)
    OUT.write_bytes(dictionary.as_bytes())
    print(f"wrote {OUT}: {len(dictionary.as_bytes())} bytes, dictionary id {dictionary.dict_id()}")


if __name__ == "__main__":
    main()
