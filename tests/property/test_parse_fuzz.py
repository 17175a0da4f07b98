"""Fuzzing parse_event (issue 10): random and mutated messages raise EventError or nothing; valid ones parse."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import BEIJING, EventError, parse_event
from tests.hostile import corpus

EXAMPLES_FILE = Path(__file__).resolve().parents[2] / "examples/events.jsonl"
EXAMPLES = [json.loads(line) for line in EXAMPLES_FILE.read_text().splitlines()]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ID_FIELDS = ("event_id", "case_id", "item_code", "department_id", "staff_id")


def _outcome(raw: Any) -> str:
    """'ok' or 'refused'; anything else parse_event raises fails the test."""
    try:
        parse_event(raw)
    except EventError as exc:
        assert exc.reason, "a refusal must say why"
        return "refused"
    return "ok"


# ---- hostile values and mutations ----------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**39, max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["2004-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59", "C\x1f1", "\ud800", "e\x00"]),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    event: dict[str, Any] = json.loads(json.dumps(draw(st.sampled_from(EXAMPLES))))
    target = event if draw(st.booleans()) or not isinstance(event.get("payload"), dict) else event["payload"]
    keys = sorted(target) or ["x"]
    key = draw(st.sampled_from(keys))
    how = draw(st.sampled_from(["replace", "delete", "add", "nest", "type"]))
    if how == "replace":
        target[key] = draw(JSON_VALUES)
    elif how == "delete":
        target.pop(key, None)
    elif how == "add":
        target[draw(st.text(max_size=10))] = draw(JSON_VALUES)
    elif how == "nest":
        target[key] = _nested(target.get(key), draw(st.integers(1, 60)))
    else:
        target[key] = draw(st.sampled_from([[], {}, 0, "", None, True, 1.5]))
    raw = json.dumps(event, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # then some bytes flipped, inserted or removed
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(raw)))
            op = draw(st.sampled_from(["flip", "insert", "delete"]))
            byte = bytes([draw(st.integers(0, 255))])
            if op == "flip":
                raw = raw[:at] + byte + raw[at + 1 :]
            elif op == "insert":
                raw = raw[:at] + draw(st.sampled_from([byte, b"[", b"{", b'"', b"\\", b"NaN", b"1" * 5000])) + raw[at:]
            else:
                raw = raw[:at] + raw[at + 1 :]
    if draw(st.booleans()):  # a key given twice
        raw = raw[:-1] + b', "' + key.encode("utf-8", "surrogatepass") + b'": 1}'
    return raw


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_are_refused_or_parsed_never_raised(raw: bytes) -> None:
    _outcome(raw)


@FUZZ
@given(mutated())
def test_mutated_events_are_refused_or_parsed_never_raised(raw: bytes) -> None:
    _outcome(raw)
    _outcome(raw.decode("utf-8", "surrogateescape"))  # the same as text, surrogates and all


@FUZZ
@given(st.sampled_from(corpus()), st.integers(0, 4000), st.binary(max_size=8))
def test_the_hostile_corpus_spliced_with_random_bytes_never_escapes(h: Any, at: int, junk: bytes) -> None:
    _outcome(h.raw[:at] + junk + h.raw[at:])


@FUZZ
@given(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=12))
def test_decoded_dicts_of_anything_never_escape(data: dict[str, Any]) -> None:
    _outcome(data)


# ---- valid events are never refused --------------------------------------------------------------------

# Ids: any printable, non-space characters (letters, marks, digits, punctuation, symbols: CJK included).
IDS = st.text(st.characters(categories=["L", "M", "N", "P", "S"]), min_size=1, max_size=128)
OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
# hypothesis takes naive bounds and the zone apart; the moments drawn are aware (Beijing wall time).
FIRST, LAST = datetime(2004, 1, 1), datetime(2039, 12, 31, 23, 59, 59)  # noqa: DTZ001
BEIJING_MOMENTS = st.datetimes(FIRST, LAST, timezones=st.just(BEIJING))


@FUZZ
@given(
    st.sampled_from(EXAMPLES),
    st.fixed_dictionaries({f: IDS for f in ID_FIELDS}),
    BEIJING_MOMENTS,
    BEIJING_MOMENTS,
    OFFSETS,
    OFFSETS,
    st.booleans(),
)
def test_valid_events_are_never_refused(
    base: dict[str, Any], ids: dict[str, str], occurred: datetime, recorded: datetime, o1: Any, o2: Any, ascii_: bool
) -> None:
    event = {
        **base,
        **ids,
        "occurred_at": occurred.astimezone(o1).isoformat(),
        "recorded_at": recorded.astimezone(o2).isoformat(),
    }
    raw = json.dumps(event, ensure_ascii=ascii_).encode()
    parsed = parse_event(raw)
    assert parsed.case_id == ids["case_id"] and parsed.event_id == ids["event_id"]
    assert parsed.occurred_at == occurred and parsed.recorded_at == recorded
    assert math.isfinite(parsed.occurred_at.timestamp())
