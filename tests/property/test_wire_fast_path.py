"""The decoder's orjson fast path (schemas/wire.py `_fast`) decides exactly as the careful path: the same
value for every document it accepts, and every document it cannot vouch for left to the careful path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import wire
from tests.hostile import corpus
from tests.property.test_parse_fuzz import FUZZ, JSON_VALUES, mutated


def _careful(raw: bytes) -> tuple[str, Any]:
    """What load_json decides without the fast path."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wire, "_fast", lambda _raw: None)
        try:
            return "ok", wire.load_json(raw)
        except wire.WireError as exc:
            return "refused", exc.reason


def _both(raw: bytes) -> None:
    fast = wire._fast(raw)
    careful = _careful(raw)
    if fast is not None:  # what it returns, the careful path returns too (same keys, values and types)
        assert careful[0] == "ok", (raw[:200], careful)
        assert json.dumps(fast) == json.dumps(careful[1]) and repr(fast) == repr(careful[1])
    try:
        got: tuple[str, Any] = ("ok", wire.load_json(raw))
    except wire.WireError as exc:
        got = ("refused", exc.reason)
    assert (got[0], repr(got[1])) == (careful[0], repr(careful[1]))


@FUZZ
@given(mutated())
def test_mutated_events(raw: bytes) -> None:
    _both(raw)


@FUZZ
@given(JSON_VALUES, st.booleans())
def test_any_json_document(value: Any, ascii_only: bool) -> None:
    _both(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "a": 2}',  # orjson keeps the last one silently
        b'{"a": {"b": 1, "b": 1}}',
        b'{"a:": ":", "b": "\\u003a", "c": [1, {"d": ":"}]}',  # colons in strings, escaped or not
        b'{"n": 123456789012345678901234567890}',  # orjson: a float
        b'{"n": 18446744073709551616}',
        b'{"x": 1.5}',
        b"[" * 33 + b"]" * 33,
        b"[" * 32 + b"]" * 32,
        b'"\\ud800"',
        b'{"\\udc00": 1}',
        b"NaN",
        b'{"a": Infinity}',
        b'"just a string"',
        b"\xef\xbb\xbf{}",
        b'{"a": "x\\" : \\"y"}',
    ],
)
def test_the_cases_orjson_treats_differently(raw: bytes) -> None:
    _both(raw)


@pytest.mark.parametrize("h", corpus(), ids=lambda h: h.name)
def test_the_hostile_corpus(h: Any) -> None:
    _both(h.raw)


def test_a_duplicate_key_is_refused_on_the_fast_path_too() -> None:
    assert wire._fast(b'{"a": 1, "a": 2}') is None
    with pytest.raises(wire.WireError, match="more than once"):
        wire.load_json(b'{"a": 1, "a": 2}')
