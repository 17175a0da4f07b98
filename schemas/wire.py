"""Safe JSON decoding of external bytes: bounded size, depth and numbers; duplicate keys and NaN refused."""

from __future__ import annotations

import json
import math
import re
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

MAX_DEPTH = 32  # our messages nest 4 deep at most; json.loads recurses once per level
MAX_INT_DIGITS = 40  # an unsigned 64-bit value has 20; int() of 5,000 digits raises ValueError

# A JSON string (possessive: an unterminated one runs to the end without backtracking) and a bracket.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.S)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_STRING_BYTES = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.S)  # the same on UTF-8 (no multi-byte char has " or \)


class WireError(ValueError):
    """Input that is not an acceptable message; ``reason`` names each bad field (``<what>`` for the whole)."""

    def __init__(self, reason: str, *, fields: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields


class _Refused:
    """Put in place of a value the decoder hooks refuse; found afterwards with its path."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _int(text: str) -> int | _Refused:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        return _Refused(f"integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _float(text: str) -> float | _Refused:
    value = float(text)
    return value if math.isfinite(value) else _Refused(f"number {text[:40]} is out of range")


def _constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a number JSON allows")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out[key] = _Refused("the key appears more than once") if key in out else value
    return out


def _depth_exceeds(text: str, limit: int) -> bool:
    depth = 0
    for b in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if b in "[{" else -1
        if depth > limit:
            return True
    return False


def _first_refusal(value: Any, path: tuple[str, ...]) -> tuple[tuple[str, ...], str] | None:
    """The first refused value or unpaired surrogate, with its path (the depth is already bounded)."""
    if isinstance(value, _Refused):
        return path, value.why
    if isinstance(value, str):
        return (path, "unpaired UTF-16 surrogate in a string") if _SURROGATE.search(value) else None
    items: Any = ()
    if isinstance(value, dict):
        for key in value:
            if _SURROGATE.search(key):
                return (*path, repr(key)[:40]), "unpaired UTF-16 surrogate in a key"
        items = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    for name, item in items:
        found = _first_refusal(item, (*path, name))
        if found:
            return found
    return None


def _keys_within(value: Any, depth: int) -> int | None:
    """Keys in a decoded document, or None when it nests deeper than MAX_DEPTH or holds a float."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict | list):
        n = len(value) if isinstance(value, dict) else 0
        for item in value.values() if isinstance(value, dict) else value:
            if isinstance(item, dict | list | float):
                got = _keys_within(item, depth + 1)
                if got is None:
                    return None
                n += got
        return n
    return None  # a float


def _fast(raw: bytes | bytearray) -> Any:
    """The common case in a fraction of the time (the worker's hot path): what `load_json` returns for
    ``raw``, or None to take the careful path. orjson refuses invalid UTF-8, lone surrogates, NaN and
    Infinity, infinite numbers and control characters as the careful path does, and nests at most 1024
    deep; what it does differently is caught here: a duplicate key (it keeps the last one silently: the
    document's keys are counted against its ':' outside strings), an integer above 64 bits (it gives a
    float: any float takes the careful path) and nesting beyond MAX_DEPTH."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # the careful path says why
    if not isinstance(data, dict | list):
        return None
    keys = _keys_within(data, 1)
    if keys is None or _STRING_BYTES.sub(b"", raw).count(b":") != keys:
        return None
    return data


def load_json(raw: bytes | bytearray | str, *, what: str = "<message>", max_bytes: int = 1 << 20) -> Any:
    """Decode one JSON document from the wire, or raise :class:`WireError` naming the field at fault.

    Nothing else escapes, whatever the input: size, UTF-8, nesting and numbers are checked before or
    while parsing, so json.loads never recurses deeply nor converts a huge integer.
    """
    if isinstance(raw, bytes | bytearray):
        if len(raw) > max_bytes:
            raise WireError(f"{what}: {len(raw)} bytes exceeds the {max_bytes}-byte limit")
        fast = _fast(raw)
        if fast is not None:
            return fast
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireError(f"{what}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    else:
        text = raw
        if len(text) > max_bytes:
            raise WireError(f"{what}: {len(text)} characters exceeds the {max_bytes} limit")
    if _depth_exceeds(text, MAX_DEPTH):
        raise WireError(f"{what}: nested more than {MAX_DEPTH} levels deep")
    try:
        data = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise WireError(f"{what}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # not expected after the checks above; still never escapes
        raise WireError(f"{what}: invalid JSON ({type(exc).__name__})") from None
    found = _first_refusal(data, ())
    if found:
        path, why = found
        field = ".".join(path) or what
        raise WireError(f"{field}: {why}", fields=(field,))
    return data


def describe(err: ValidationError, *, what: str = "<message>", drop: tuple[str, ...] = ()) -> WireError:
    """A pydantic error as a :class:`WireError` naming every field; ``drop`` strips a union's tags."""
    parts: list[str] = []
    fields: list[str] = []
    for e in err.errors(include_url=False):
        path = list(e["loc"])
        if path and path[0] in drop:
            path = path[1:]
        loc = ".".join(str(p) for p in path) or what
        fields.append(loc)
        parts.append(f"{loc}: {e['msg']}")
    return WireError("; ".join(parts) or f"{what}: invalid", fields=tuple(fields))


def read_model(model: type[M], raw: bytes | bytearray | str, *, what: str = "<message>", max_bytes: int = 1 << 20) -> M:
    """One of our own messages, read forward-compatibly: unknown fields (a newer writer's) are ignored,
    the fields this reader needs are validated. Raises :class:`WireError` only."""
    data = load_json(raw, what=what, max_bytes=max_bytes)
    if not isinstance(data, dict):
        raise WireError(f"{what}: expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data, extra="ignore")
    except ValidationError as exc:
        raise describe(exc, what=what) from None
    except Exception as exc:  # a validator bug must not stop the reader either
        raise WireError(f"{what}: could not be validated ({type(exc).__name__}: {str(exc)[:200]})") from None
