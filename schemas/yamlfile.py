"""Reading a YAML file someone handed us: bounded size, nesting and alias expansion; one error type naming the file.

``yaml.safe_load`` is safe from code execution, not from size: a "billion laughs" document of a few hundred bytes
expands to 10^9 nodes once anything walks it (validation, JSON), the pure-Python parser overflows the stack on
a few thousand nested brackets (a RecursionError, which no ``except YAMLError`` catches), and it parses ten
megabytes in tens of seconds. Here libyaml parses (it refuses nesting beyond 1,000 levels), the file's size is
bounded before it is read, and the composed node graph is measured as it would expand before anything is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONFIG_MAX_BYTES = 1 << 20  # a settings file: rules, scoring, loop, complaints, notifier, calendar, users
DATA_MAX_BYTES = 64 << 20  # a province's catalog or directory
MAX_EXPANDED_NODES = 5_000_000  # after aliases; a province's directory of 100,000 staff is ~1.5 million

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlFileError(ValueError):
    """A YAML file that cannot be read within the bounds; the message names the file (and the line)."""


def _expanded(root: yaml.Node, limit: int) -> int:
    """How many nodes the graph under ``root`` has once every alias is expanded (shared nodes counted per use),
    capped at ``limit`` + 1; linear in the graph's size (memoised, iterative). An alias to a node that contains
    it (``&a [*a]``) would make a structure that contains itself: refused."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        kids: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            kids = [n for pair in node.value for n in pair]
        if children_done:
            open_.discard(id(node))
            sizes[id(node)] = min(limit + 1, 1 + sum(sizes[id(k)] for k in kids))
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_:
            raise YamlFileError(f"line {node.start_mark.line + 1}: an alias refers to a value that contains it")
        open_.add(id(node))
        stack.append((node, True))
        stack += [(k, False) for k in kids]
    return sizes[id(root)]


def load_yaml_text(text: str, source: str, *, max_nodes: int = MAX_EXPANDED_NODES) -> Any:
    """The document in ``text`` (None when empty); raises :class:`YamlFileError` naming ``source``."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            n = _expanded(node, max_nodes)
        except YamlFileError as exc:
            raise YamlFileError(f"{source}: {exc}") from None
        if n > max_nodes:
            raise YamlFileError(
                f"{source}: expands to more than {max_nodes:,} values through its aliases (&anchor/*alias): "
                "a YAML bomb or a mistake"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{source}: not valid YAML ({' '.join(str(exc).split())[:300]})") from None
    except RecursionError:  # the pure-Python fallback parser on deep nesting
        raise YamlFileError(f"{source}: nested too deeply") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path, *, max_bytes: int = CONFIG_MAX_BYTES, max_nodes: int = MAX_EXPANDED_NODES) -> Any:
    """The document in the YAML file ``path`` (None when empty), at most ``max_bytes`` long, UTF-8; raises
    :class:`YamlFileError` naming the file, never reading more than ``max_bytes`` + 1 bytes of it."""
    where = Path(path)
    try:
        with where.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise YamlFileError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise YamlFileError(f"{where}: larger than {max_bytes:,} bytes, the limit for this file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    return load_yaml_text(text, str(where), max_nodes=max_nodes)


def load_mapping(path: str | Path, *, max_bytes: int = CONFIG_MAX_BYTES) -> dict[str, Any]:
    """A YAML file whose document is a mapping (an empty file is ``{}``); raises :class:`YamlFileError`."""
    return _mapping(load_yaml(path, max_bytes=max_bytes), str(path))


def load_mapping_text(text: str, source: str, *, max_bytes: int = CONFIG_MAX_BYTES) -> dict[str, Any]:
    """`load_mapping` of a document already in memory (e.g. an adopted configuration read from Kafka)."""
    if len(text) > max_bytes:
        raise YamlFileError(f"{source}: larger than {max_bytes:,} characters, the limit for this file")
    return _mapping(load_yaml_text(text, source), source)


def _mapping(data: Any, source: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise YamlFileError(f"{source}: <file>: expected a mapping (key: value), got a {type(data).__name__}")
    return data
