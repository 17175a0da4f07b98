"""The message corpus (tests/hostile_messages.py) against the parsers of the loop's and the complaints' topics and
the findings reader: each record refused with its own error naming the field; masking a refused message is linear."""

from __future__ import annotations

import json
import time

import pytest

from complaints.contract import ComplaintMessageError
from complaints.contract import parse_message as parse_complaint
from complaints.store import mask, mask_bytes
from gateway.bridge import judge
from loop.contract import LoopMessageError, tick_now
from loop.contract import parse_message as parse_loop
from schemas.findings import read_finding
from schemas.wire import WireError
from tests.complaints_support import msg
from tests.hostile import Hostile
from tests.hostile import corpus as event_corpus
from tests.hostile_messages import HostileRecord, message_corpus, reason_names
from tests.loop_support import finding, response, t

LOOP = message_corpus(
    json.loads(response(finding(t(2026, 3, 2, 9)), t(2026, 3, 3, 9)).model_dump_json()),
    id_field="finding_id",
    time_field="at",
    text_field="text",
)
COMPLAINTS = message_corpus(
    json.loads(msg("CMP-1", "received", t(2026, 3, 2, 9)).model_dump_json()),
    id_field="complaint_id",
    time_field="at",
    text_field="text",
)
FINDINGS = message_corpus(
    json.loads(finding(t(2026, 3, 2, 9)).model_dump_json()),
    id_field="case_id",
    time_field="detected_at",
    text_field="message",
    what="<finding>",
)


def _bytes(corpus: list[HostileRecord], *, unknown_ok: bool = False) -> list[HostileRecord]:
    return [h for h in corpus if h.value is not None and not (unknown_ok and h.field == "colour")]


@pytest.mark.parametrize("h", _bytes(LOOP), ids=lambda h: h.name)
def test_each_hostile_loop_message_is_refused_naming_its_field(h: HostileRecord) -> None:
    with pytest.raises(LoopMessageError) as err:
        parse_loop(h.value or b"")
    assert h.field is not None and reason_names(err.value.reason, h.field), err.value.reason


@pytest.mark.parametrize("h", _bytes(COMPLAINTS), ids=lambda h: h.name)
def test_each_hostile_complaint_message_is_refused_naming_its_field(h: HostileRecord) -> None:
    with pytest.raises(ComplaintMessageError) as err:
        parse_complaint(h.value or b"")
    assert h.field is not None and reason_names(err.value.reason, h.field), err.value.reason


# The findings reader is forward compatible (a newer writer's field is ignored, as the sink reads them), and a
# finding's ids and times are the workers' (validated from the events), and its bound is 4 MiB (the sink's):
# only the wire and the types are checked.
_FINDING_CHECKED = {"unit separator in the id", "NUL in the id", "bidi override in the id", "near the broker's limit"}
_FINDING_CHECKED |= {"year 9999", "year 1900", "year 1 at +23:00"}


@pytest.mark.parametrize(
    "h", [h for h in _bytes(FINDINGS, unknown_ok=True) if h.name not in _FINDING_CHECKED], ids=lambda h: h.name
)
def test_each_hostile_finding_is_refused_naming_its_field(h: HostileRecord) -> None:
    with pytest.raises(WireError) as err:
        read_finding(h.value)
    assert h.field is not None and reason_names(err.value.reason, h.field), err.value.reason


@pytest.mark.parametrize(
    ("now", "why"),
    [
        ("2026-03-05T00:00:00", "timezone"),
        ("9999-12-31T00:00:00+08:00", "outside the supported range"),
        (None, "now:"),
        ([1], "now:"),
    ],
)
def test_a_clock_tick_needs_an_aware_now_within_the_calendar(now: object, why: str) -> None:
    with pytest.raises(LoopMessageError, match="^now: " + ("" if why == "now:" else f".*{why}")):
        tick_now({"type": "tick", "now": now})
    assert tick_now({"now": "2026-03-05T00:00:00+08:00"}) == t(2026, 3, 5)


def test_masking_a_megabyte_without_an_at_sign_is_linear() -> None:
    started = time.perf_counter()
    masked = mask_bytes(b"x" * 1_000_000 + b" 13912345678 a@b.cn")
    assert time.perf_counter() - started < 2.0  # was quadratic: most of an hour
    assert masked.endswith("x ▇▇▇▇▇▇▇▇▇▇▇ ▇▇▇▇▇▇".encode())
    assert mask("写信 zhang.san+x@mail.example.com 或 foo@bar") == "写信 " + "▇" * 28 + " 或 foo@bar"


def test_the_directory_feed_refuses_each_hostile_record_naming_the_field_and_keeps_the_good(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from directory.feed import DirectoryFeed
    from directory.model import parse_directory
    from directory.topic import VERSION_KEY, records
    from tests.hostile_messages import interleave
    from tests.unit.test_directory import small

    good = records(parse_directory(small()))
    base = json.loads(good[b"staff:S1"])
    # A staff entry has no time: "roles" takes the corpus's wrong times (a role must be one of the known ones).
    corpus = message_corpus(base, id_field="id", time_field="roles", text_field="name", what="<staff>")
    operator_may = {"unit separator in the id", "NUL in the id", "bidi override in the id", "tombstone"}
    corpus = [h for h in corpus if h.name not in operator_may]
    corpus.append(HostileRecord("version 50,000 deep", b'{"version": ' + b"[" * 50_000, "<meta>", key=VERSION_KEY))
    staff = [{**base, "id": f"S-{i}", "department": "D2"} for i in range(len(corpus) + 1)]
    slots = interleave(corpus, lambda i: (f"staff:S-{i}".encode(), json.dumps(staff[i]).encode(), f"S-{i}"))
    feed = DirectoryFeed("127.0.0.1:1", "test.directory")  # not started: records are applied by hand
    for key, value in good.items():
        feed.apply(key, value)
    caplog.set_level("WARNING", logger="esup.directory")
    for s in slots:
        caplog.clear()
        feed.apply(
            s.key if s.hostile is None else b"staff:S1" if s.hostile.key == b"hostile" else s.hostile.key, s.value
        )
        if s.hostile is not None:
            assert s.hostile.field is not None
            assert reason_names(caplog.records[0].getMessage().split("refused: ", 1)[1], s.hostile.field), (
                s.hostile.name,
                caplog.records[0].getMessage(),
            )
    index = feed.index()
    assert {f"S-{i}" for i in range(len(staff))} | {"H1", "S1", "J1"} == set(index.staff)
    assert index.staff["S1"].name == "李娜" and index.version == "t1"  # the last good versions stand


@pytest.mark.parametrize("h", event_corpus(), ids=lambda h: h.name)
def test_the_bridge_dead_letters_each_hostile_event_naming_its_field(h: Hostile) -> None:
    verdict = judge("esup.ingest.DZ-SCJG", "esup.ingest.", h.key, h.raw)
    assert not verdict.forward and reason_names(verdict.reason, h.field), verdict.reason


def test_the_apis_complaints_view_skips_each_hostile_record_and_keeps_every_valid_one() -> None:
    # The view behind the citizen's look-up follows esup.complaints in a thread: an exception out of add_raw
    # (a 5,000-digit number raised ValueError) ended the thread, and the look-up never saw a later complaint.
    from complaints.view import ComplaintsView
    from tests.hostile_messages import interleave

    corpus = [h for h in COMPLAINTS if h.value is not None]
    valid = [msg(f"CMP-{i}", "received", t(2026, 3, 2, 9)) for i in range(len(corpus) + 1)]
    slots = interleave(corpus, lambda i: (b"k", valid[i].model_dump_json().encode(), valid[i].complaint_id))
    view = ComplaintsView()
    view.add_raw(s.value or b"" for s in slots)
    assert view.rejected == len(corpus)
    assert all(view.get(v.complaint_id) is not None for v in valid)
