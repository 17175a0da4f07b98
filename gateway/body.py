"""A POST body of case events (a JSON array or JSON Lines) into events, or problems naming line, field, reason."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import MAX_EVENT_BYTES, CaseEvent, EventError, event_to_json, parse_event
from schemas.wire import WireError, load_json

MAX_PROBLEMS = 100  # a body of 10,000 bad lines gets the first hundred, and the count


@dataclass(frozen=True)
class Problem:
    """What is wrong with a body: the line or element (None: the whole body), the field, and why."""

    line: int | None  # the JSON Lines line, or the array element's position (both from 1); None: the whole body
    field: str | None
    reason: str


def _problem(line: int | None, exc: WireError) -> Problem:
    return Problem(line, ",".join(exc.fields) or None, exc.reason)


def _one(line: int, item: object) -> CaseEvent | Problem:
    try:
        if not isinstance(item, bytes | dict):
            raise EventError(f"<event>: expected a JSON object, got {type(item).__name__}")
        event = parse_event(item)
    except EventError as exc:
        return _problem(line, exc)
    except Exception as exc:  # the contract's parser failing is still the sender's 400, never a 500
        return Problem(line, None, f"<event>: unparseable ({type(exc).__name__})")
    # The workers read at most MAX_EVENT_BYTES per event; an array element never passed that check.
    if len(event_to_json(event).encode()) > MAX_EVENT_BYTES:
        return Problem(line, None, f"<event>: more than {MAX_EVENT_BYTES} bytes")
    return event


def parse_body(raw: bytes, max_bytes: int) -> tuple[list[CaseEvent], list[Problem], int]:
    """Events, the first MAX_PROBLEMS problems, and how many problems there were in all."""
    head = raw.lstrip()[:1]
    if not head:
        return [], [Problem(None, None, "<body>: empty; expected a JSON array or JSON Lines of case events")], 1
    items: list[tuple[int, object]]
    if head == b"[":
        try:
            data = load_json(raw, what="<body>", max_bytes=max_bytes)
        except WireError as exc:
            return [], [_problem(None, exc)], 1
        if not isinstance(data, list):  # '[' then something else cannot decode; kept for the type checker
            return [], [Problem(None, None, "<body>: expected a JSON array")], 1
        items = list(enumerate(data, start=1))
    else:
        items = [(n, line.rstrip(b"\r")) for n, line in enumerate(raw.split(b"\n"), start=1) if line.strip()]
    events: list[CaseEvent] = []
    problems: list[Problem] = []
    total = 0
    for n, item in items:
        found = _one(n, item)
        if isinstance(found, Problem):
            total += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(found)
        else:
            events.append(found)
    if not events and not total:
        return [], [Problem(None, None, "<body>: an empty array; expected at least one case event")], 1
    return events, problems, total
