"""The grader's vocabulary, read from content: `content/lexicon.yaml` (named groups).

`load_lexicon(path) -> Lexicon` reads and checks one lexicon file and raises ContentError with
every problem, each as `file:line path: message` (the bank loader's line-aware YAML reader).
`bundled_lexicon()` is the file beside the question bank (CONTENT_DIR, else the repository's
`content/`), read once on first use, never at import.

Nothing in the file is keyed by position or by "the group whose first word is ...": synonym
groups have names, and the opposites, polar and decrease roles refer to those names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.errors import ContentError
from bot.tutor.yamlnodes import Collector, Node, display, join, read_yaml, string_list, unknown_keys

__all__ = ["Lexicon", "load_lexicon", "bundled_lexicon", "check_lexicon", "LEXICON_FILE"]

LEXICON_FILE = "lexicon.yaml"

_WORD_LISTS: tuple[str, ...] = ("stopwords", "negations", "scope_breaks", "structure_words", "phrasal_objects",
               "unit_fillers", "common", "generic", "clause_breaks", "not_category", "polar",
               "decrease_groups", "decrease_words", "keep_words")
_MAPPINGS = ("contractions", "textspeak")
_NAMES = ("continuing", "before")
_WORD_LISTS += ("time_limit_phrases", "negated_clause_words", "predicate_verbs", "limiting_words", "dismissals",
                "dismissing_verbs", "dismissing_words")
_NAMED_LISTS = ("people", "bodies")
_KEYS = set(_WORD_LISTS) | set(_MAPPINGS) | set(_NAMES) | set(_NAMED_LISTS) | {"synonyms", "opposites"}
# roles that must name a synonym group
_GROUP_REFS = ("polar", "decrease_groups")


@dataclass(frozen=True)
class Lexicon:
    """The vocabulary, as read: plain words and phrases (the grader normalises and stems them)."""

    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    opposites: tuple[tuple[str, str], ...] = ()
    polar: tuple[str, ...] = ()
    decrease_groups: tuple[str, ...] = ()
    decrease_words: tuple[str, ...] = ()
    continuing: str = ""
    before: str = ""
    keep_words: tuple[str, ...] = ()
    contractions: dict[str, str] = field(default_factory=dict)
    textspeak: dict[str, str] = field(default_factory=dict)
    stopwords: tuple[str, ...] = ()
    negations: tuple[str, ...] = ()
    scope_breaks: tuple[str, ...] = ()
    structure_words: tuple[str, ...] = ()
    phrasal_objects: tuple[str, ...] = ()
    unit_fillers: tuple[str, ...] = ()
    common: tuple[str, ...] = ()
    generic: tuple[str, ...] = ()
    people: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bodies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    time_limit_phrases: tuple[str, ...] = ()
    negated_clause_words: tuple[str, ...] = ()
    predicate_verbs: tuple[str, ...] = ()
    limiting_words: tuple[str, ...] = ()
    dismissals: tuple[str, ...] = ()
    dismissing_verbs: tuple[str, ...] = ()
    dismissing_words: tuple[str, ...] = ()
    clause_breaks: tuple[str, ...] = ()
    not_category: tuple[str, ...] = ()
    source: str = ""

    def __hash__(self) -> int:  # identity: one Lexicon is built once and shared
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


def check_lexicon(root: Node, out: Collector) -> Lexicon | None:
    """Validate a parsed lexicon file (a `yamlnodes.Node` tree), its problems into `out`."""
    if not isinstance(root.value, dict) or "lexicon" not in root.value:
        out.add(root.line, "", "expected a mapping with a 'lexicon' key")
        return None
    unknown_keys(root, {"lexicon"}, out, "")
    top = root.value["lexicon"]
    if not isinstance(top.value, dict):
        out.add(top.line, "lexicon", "expected a mapping of sections (synonyms, opposites, stopwords, ...)")
        return None
    before = len(out.problems)
    unknown_keys(top, _KEYS, out, "lexicon")
    m = top.value
    values: dict[str, Any] = {}

    def words(key: str) -> tuple[str, ...]:
        node = m.get(key)
        if node is None:
            return ()
        items = string_list(node, out, join("lexicon", key))
        return tuple(i.lower() for i in items or ())

    def mapping(node: Any, where: str) -> dict[str, Any] | None:
        if not isinstance(node.value, dict):
            out.add(node.line, where, "expected a mapping")
            return None
        unknown_keys(node, set(node.value), out, where)  # duplicates only
        return node.value

    for key in _WORD_LISTS:
        values[key] = words(key)
    for key in _MAPPINGS:
        node = m.get(key)
        values[key] = {}
        if node is not None and (mp := mapping(node, f"lexicon.{key}")) is not None:
            for k, v in mp.items():
                if not isinstance(v.value, str) or not v.value.strip():
                    out.add(v.line, f"lexicon.{key}.{k}", "expected the text it stands for")
                else:
                    values[key][k.lower()] = " ".join(v.value.lower().split())
    synonyms: dict[str, tuple[str, ...]] = {}
    node = m.get("synonyms")
    if node is None:
        out.add(top.line, "lexicon.synonyms", "required section is missing")
    elif (mp := mapping(node, "lexicon.synonyms")) is not None:
        for name, g in mp.items():
            where = f"lexicon.synonyms.{name}"
            items = string_list(g, out, where)
            if items is None:
                continue
            if len(items) < 2:
                out.add(g.line, where, "a group needs at least two phrases that mean the same")
            elif len({i.lower() for i in items}) < len(items):
                dup = next(i for i in items if [x.lower() for x in items].count(i.lower()) > 1)
                out.add(g.line, where, f"{dup!r} is listed twice")
            synonyms[name] = tuple(i.lower() for i in items)
    values["synonyms"] = synonyms
    for key in _NAMED_LISTS:
        named: dict[str, tuple[str, ...]] = {}
        node = m.get(key)
        if node is not None and (mp := mapping(node, f"lexicon.{key}")) is not None:
            for name, g in mp.items():
                items = string_list(g, out, f"lexicon.{key}.{name}")
                if items is not None:
                    named[name] = tuple(i.lower() for i in items)
        values[key] = named
    opposites: list[tuple[str, str]] = []
    node = m.get("opposites")
    if node is not None:
        if not isinstance(node.value, list):
            out.add(node.line, "lexicon.opposites", "expected a list of [group, group] pairs")
        else:
            for i, pair in enumerate(node.value):
                items = string_list(pair, out, f"lexicon.opposites[{i}]")
                if items is None:
                    continue
                if len(items) != 2:
                    out.add(pair.line, f"lexicon.opposites[{i}]", "expected a pair: [group, group]")
                    continue
                for name in items:
                    if name not in synonyms:
                        out.add(pair.line, f"lexicon.opposites[{i}]", f"{name!r} is not a synonym group")
                opposites.append((items[0], items[1]))
    values["opposites"] = tuple(opposites)
    for key in _GROUP_REFS:
        n = m.get(key)
        for name in values[key]:
            if name not in synonyms:
                out.add(n.line if n else top.line, f"lexicon.{key}", f"{name!r} is not a synonym group")
    for key in _NAMES:
        n = m.get(key)
        values[key] = ""
        if n is None:
            continue
        if not isinstance(n.value, str) or n.value not in synonyms:
            out.add(n.line, f"lexicon.{key}", f"expected the name of a synonym group, got {n.value!r}")
        else:
            values[key] = n.value
    if len(out.problems) > before:
        return None
    return Lexicon(**values, source=out.display)


def load_lexicon(path: str | Path) -> Lexicon:
    """Read and check one lexicon file; ContentError lists every problem (file:line)."""
    path = Path(path)
    out = Collector(display(path))
    root = read_yaml(path, out)
    lex = check_lexicon(root, out) if root is not None else None
    if out.problems or lex is None:
        raise ContentError(out.problems or [f"{path}: no lexicon"])
    return lex


def _bundled_path() -> Path:
    content = os.environ.get("CONTENT_DIR")
    if content and (Path(content) / LEXICON_FILE).exists():
        return Path(content) / LEXICON_FILE
    from bot.config import DEFAULT_CONTENT_DIR

    return DEFAULT_CONTENT_DIR / LEXICON_FILE


@lru_cache(maxsize=1)
def bundled_lexicon() -> Lexicon:
    """The lexicon beside the question bank, read once (on first use)."""
    return load_lexicon(_bundled_path())
