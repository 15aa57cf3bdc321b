"""YAML read with line numbers, and the checks that say where: shared by the bank and the lexicon.

`read_yaml(path, out)` parses one file (no anchors or aliases, size-limited) into a `Node` tree,
every value carrying its 1-based line; `Collector` gathers problems as `file:line path: message`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Node", "Collector", "read_yaml", "read_yaml_bytes", "join", "unknown_keys", "string_list", "kind", "display",
           "MAX_FILE_BYTES"]

MAX_FILE_BYTES = 1_000_000


# --------------------------------------------------------------------------- YAML with lines


class Node:
    """A YAML value with the line it came from (1-based)."""

    __slots__ = ("value", "line", "dupes")

    def __init__(self, value: Any, line: int, dupes: list[tuple[str, int, int]] | None = None) -> None:
        self.value = value
        self.line = line
        self.dupes = dupes or []  # (key, line, first line) for keys repeated in one mapping


class Collector:
    def __init__(self, display: str) -> None:
        self.display = display
        self.problems: list[str] = []
        self.notices: list[str] = []

    def notice(self, line: int | None, path: str, message: str) -> None:
        self.notices.append(f"{self.display}:{line} {path}: {message}")

    def add(self, line: int | None, path: str, message: str) -> None:
        where = f"{self.display}:{line}" if line else self.display
        self.problems.append(f"{where} {path}: {message}" if path else f"{where}: {message}")


class _NoAliases(Exception):
    """An anchor (&name) or alias (*name): refused, so nothing expands exponentially or loops."""

    def __init__(self, mark: Any, what: str) -> None:  # yaml.Mark (the C or the Python one) or None
        super().__init__(what)
        self.line = mark.line + 1 if mark is not None else 0
        self.what = what


class _SafeNoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases while composing (one pass, before any expansion).

    A 549-byte "billion laughs" file otherwise takes exponential time to walk, and `x: &a [*a]`
    is a node that contains itself. Question files never need either: write the value out.
    """

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _NoAliases(event.start_mark, f"alias *{event.anchor}")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _NoAliases(event.start_mark, f"anchor &{anchor}")
        return super().compose_node(parent, index)


def _to_nodes(node: yaml.Node, loader: yaml.SafeLoader, out: Collector, path: str) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Node] = {}
        key_lines: dict[str, int] = {}
        dupes: list[tuple[str, int, int]] = []
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            kline = key_node.start_mark.line + 1
            if not isinstance(key, str):
                out.add(kline, path, f"keys must be text, got {key!r}")
                continue
            if key in result:
                dupes.append((key, kline, key_lines[key]))
                continue
            key_lines[key] = kline
            value = _to_nodes(value_node, loader, out, join(path, key))
            if isinstance(value.value, (dict, list)):
                value.line = kline  # a block collection starts on the next line: point at its key
            result[key] = value
        return Node(result, line, dupes)
    if isinstance(node, yaml.SequenceNode):
        if node.flow_style:
            _split_numbers(node, out, path)
        return Node(
            [_to_nodes(v, loader, out, f"{path}[{i}]") for i, v in enumerate(node.value)], line
        )
    return Node(loader.construct_object(node, deep=True), line)


def _split_numbers(node: yaml.SequenceNode, out: Collector, path: str) -> None:
    """`[£6,000 a month, 6000 per month]` is the list "£6", "000 a month", ...: a comma inside a
    number, with no space after it, splits a flow list's item in two."""
    items = node.value
    for i in range(1, len(items)):
        a, b = items[i - 1], items[i]
        if (isinstance(a, yaml.ScalarNode) and isinstance(b, yaml.ScalarNode) and a.style is None
                and b.style is None and a.value[-1:].isdigit() and _THREE_DIGITS.match(b.value)
                and b.start_mark.index == a.end_mark.index + 1):
            out.add(b.start_mark.line + 1, f"{path}[{i}]", f"a comma inside a number split this list item in two "
                    f"({a.value!r}, {b.value!r}): put the phrase in quotes, \"{a.value},{b.value}\"")


_THREE_DIGITS = re.compile(r"\d{3}(?!\d)")


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def read_yaml(path: Path, out: Collector) -> Node | None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        out.add(None, "", f"cannot read file: {exc.strerror}")
        return None
    if size > MAX_FILE_BYTES:
        out.add(None, "", f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,} (split the topic)")
        return None
    return read_yaml_bytes(path.read_bytes(), out)


def read_yaml_bytes(raw: bytes, out: Collector) -> Node | None:
    """`read_yaml` for a file's bytes (a question file sent in the chat)."""
    if len(raw) > MAX_FILE_BYTES:
        out.add(None, "", f"file is {len(raw):,} bytes; the limit is {MAX_FILE_BYTES:,} (split the topic)")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        out.add(line, "", f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8")
        return None
    if not text.strip() or all(l.strip().startswith("#") or not l.strip() for l in text.splitlines()):
        out.add(None, "", "file is empty")
        return None
    loader = _SafeNoAliasLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            out.add(None, "", "file is empty")
            return None
        return _to_nodes(root, loader, out, "")
    except _NoAliases as exc:
        out.add(exc.line, "", f"YAML anchors and aliases are not allowed ({exc.what}); write the value out in full")
        return None
    except RecursionError:
        out.add(None, "", "YAML nested too deeply")
        return None
    except yaml.MarkedYAMLError as exc:
        # The context mark is where the broken construct starts (an unclosed bracket's line);
        # the problem mark is where the parser gave up (often the end of the file).
        at_end = exc.problem_mark is not None and exc.problem_mark.index >= len(text.rstrip())
        mark = (exc.context_mark if at_end and exc.context_mark else None) or exc.problem_mark or exc.context_mark
        where = mark.line + 1 if mark else None
        detail = exc.problem or ""
        if at_end and exc.context and exc.context_mark:
            detail += f" ({exc.context} that starts here and is never closed)"
        out.add(where, "", f"YAML syntax error: {detail.strip()}")
        return None
    except yaml.YAMLError as exc:
        out.add(None, "", f"YAML error: {exc}")
        return None
    finally:
        loader.dispose()


def unknown_keys(owner: Node, allowed: set[str], out: Collector, path: str, label: str = "") -> None:
    """Report keys not in `allowed`, and keys repeated in the mapping (PyYAML keeps the last)."""
    for key, line, first in owner.dupes:
        out.add(line, f"{label}{join(path, key)}", f"duplicate key (first on line {first}); YAML would silently keep only the last one")
    m: dict[str, Node] = owner.value
    for key, node in m.items():
        if key not in allowed:
            hint = _closest(key, allowed)
            suggestion = f" (did you mean {hint!r}?)" if hint else ""
            out.add(node.line, f"{label}{join(path, key)}", f"unknown key{suggestion}; allowed: {', '.join(sorted(allowed))}")


def _closest(word: str, options: Iterable[str]) -> str | None:
    from difflib import get_close_matches

    found = get_close_matches(word, list(options), n=1, cutoff=0.6)
    return found[0] if found else None


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing"
    return type(value).__name__


def string_list(node: Node, out: Collector, where: str) -> tuple[str, ...] | None:
    if not isinstance(node.value, list) or not all(isinstance(n.value, str) for n in node.value):
        out.add(node.line, where, "expected a list of strings")
        return None
    items = tuple(" ".join(n.value.split()) for n in node.value)
    for i, (n, item) in enumerate(zip(node.value, items)):
        if not item:
            out.add(n.line, f"{where}[{i}]", "must not be empty")
    return items


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
