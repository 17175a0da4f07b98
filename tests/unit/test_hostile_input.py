"""Hostile input (issue 10): every parser of external bytes refuses it with its own error, naming the field."""

from __future__ import annotations

import json

import pytest

from schemas.catalog import CatalogError, parse_catalog_item
from schemas.control import TickError, parse_tick
from schemas.events import EventError, parse_event
from schemas.findings import finding_id
from schemas.wire import MAX_DEPTH, WireError, load_json
from tests.hostile import BASE, Hostile, corpus, forged_finding_ids, valid_bytes

CORPUS = corpus()


@pytest.mark.parametrize("h", CORPUS, ids=[h.name for h in CORPUS])
def test_each_hostile_event_is_refused_naming_its_field(h: Hostile) -> None:
    with pytest.raises(EventError) as err:
        parse_event(h.raw)
    assert f"{h.field}: " in err.value.reason
    if h.field != "<event>":
        assert h.field in err.value.fields


@pytest.mark.parametrize("h", CORPUS, ids=[h.name for h in CORPUS])
def test_the_same_bytes_as_text_are_refused_too(h: Hostile) -> None:
    text = h.raw.decode("utf-8", "surrogateescape")
    with pytest.raises(EventError):
        parse_event(text)


def test_the_corpus_base_event_is_valid() -> None:
    assert parse_event(valid_bytes()).case_id == BASE["case_id"]


@pytest.mark.parametrize(
    ("occurred", "ok"),
    [
        ("2003-12-31T23:00:00-08:00", True),  # 2004-01-01 15:00 in Beijing
        ("2004-01-01T00:00:00+08:00", True),
        ("2003-12-31T23:59:59+08:00", False),
        ("2039-12-31T23:59:59+08:00", True),
        ("2039-12-31T20:00:00-08:00", False),  # 2040-01-01 12:00 in Beijing
    ],
)
def test_the_year_range_is_counted_in_beijing_time(occurred: str, ok: bool) -> None:
    raw = valid_bytes(occurred_at=occurred, recorded_at="2026-03-02T09:16:00+08:00")
    if ok:
        assert parse_event(raw).occurred_at.isoformat() == occurred
    else:
        with pytest.raises(EventError, match=r"^occurred_at: .*Beijing"):
            parse_event(raw)


def test_nesting_is_bounded_and_brackets_inside_strings_do_not_count() -> None:
    assert load_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(WireError, match="nested more than"):
        load_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    note = '[{"\\"' * 5000  # brackets and escaped quotes inside one string
    event = parse_event(valid_bytes(kind="refuse_accept", payload={"reason": note[:2000]}))
    assert event.payload.reason == note[:2000]  # type: ignore[union-attr]


def test_an_unterminated_string_full_of_escaped_quotes_is_refused_quickly() -> None:
    import time

    started = time.perf_counter()
    with pytest.raises(EventError):
        parse_event(b'"' + b'\\"' * 30_000)
    assert time.perf_counter() - started < 1.0  # the depth pre-scan does not backtrack


def test_integers_up_to_the_bound_parse_and_fail_only_on_the_field_range() -> None:
    raw = valid_bytes()[:-1].replace(b'"amount_fen": 1000', b'"amount_fen": ' + b"9" * 40) + b"}"
    with pytest.raises(EventError, match=r"^payload.amount_fen: Input should be less than or equal"):
        parse_event(raw)


def test_a_decoded_dict_with_odd_contents_is_refused_not_raised() -> None:
    for data in ({**BASE, "payload": {1: 2}}, {**BASE, "kind": ["apply"]}, {**BASE, "case_id": object()}):
        with pytest.raises(EventError):
            parse_event(data)


@pytest.mark.parametrize("h", CORPUS, ids=[h.name for h in CORPUS])
def test_ticks_refuse_hostile_bytes_with_tick_error_only(h: Hostile) -> None:
    with pytest.raises(TickError):
        parse_tick(h.raw)


def test_a_tick_from_a_newer_writer_is_read_and_a_bad_one_names_its_field() -> None:
    tick = parse_tick(b'{"partition": 3, "now": "2026-03-02T09:00:00+08:00", "arm": true, "added_later": 1}')
    assert tick.partition == 3 and tick.arm
    with pytest.raises(TickError, match=r"^partition: "):
        parse_tick(b'{"partition": -1, "now": "2026-03-02T09:00:00+08:00"}')
    with pytest.raises(TickError, match=r"^now: "):
        parse_tick(b'{"partition": 1, "now": NaN}')
    with pytest.raises(TickError):
        parse_tick(None)


@pytest.mark.parametrize("h", CORPUS, ids=[h.name for h in CORPUS])
def test_catalog_records_refuse_hostile_bytes_with_catalog_error_only(h: Hostile) -> None:
    with pytest.raises(CatalogError):
        parse_catalog_item(h.raw)


def test_a_catalog_record_with_a_field_added_later_is_read() -> None:
    item = parse_catalog_item(json.dumps({"code": "A", "name": "n", "department_id": "D", "new": {"x": 1}}))
    assert item.code == "A"


def test_finding_ids_cannot_be_forged_with_a_separator_inside_an_id() -> None:
    a, b = forged_finding_ids()
    assert "\x1f".join(a) == "\x1f".join(b)  # what the old encoding hashed: the same string
    assert finding_id(*a) != finding_id(*b)
    assert finding_id("C1", "R", "o") == finding_id("C1", "R", "o")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"a": NaN}', "a: NaN is not a number JSON allows"),
        ('{"a": [1, -Infinity]}', "a.1: -Infinity is not a number JSON allows"),
        ('{"a": 1e999}', "a: number 1e999 is out of range"),
        ('{"a": "\\ud800"}', "a: unpaired UTF-16 surrogate in a string"),
        ('{"a": {"\\udc00x": 1}}', "a.'\\udc00x': unpaired UTF-16 surrogate in a key"),
        ('{"a": {"b": 1, "b": 2}}', "a.b: the key appears more than once"),
        ('{"a": "\\ud83d\\ude00"}', None),  # a surrogate pair is one character (😀): fine
    ],
)
def test_the_decoder_refuses_what_json_should_not_carry_naming_the_path(raw: str, reason: str | None) -> None:
    if reason is None:
        assert load_json(raw) == {"a": "😀"}
        return
    with pytest.raises(WireError) as err:
        load_json(raw)
    assert err.value.reason == reason


def test_a_finding_with_nan_in_its_details_is_refused_by_the_sink() -> None:
    from sinks.rows import Record, convert

    got = convert("findings", Record("t", 0, 0, 0, None, b'{"details": {"ratio": NaN}}'))
    assert got.row is None and got.invalid == "details.ratio: NaN is not a number JSON allows"
