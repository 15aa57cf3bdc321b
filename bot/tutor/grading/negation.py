"""Negations that reach back over a subject (the tokenizer's forward scope is in `english.tokenize`).

- `dismisses(tokens, n, v)`: the negation at `n` denies a dismissal ("is not *needed*", "does not
  *matter*": lexicon `dismissals`), not followed by "to" and a verb ("you don't need to tell them").
- `deny_subject(tokens, verb, v)`: negate the subject before a predicate verb, back to its clause's start.
- `dismissed_subjects(tokens, v)`: a dismissing predicate without a negation ("asking permission
  wastes time", "proofreading is unnecessary": lexicon `dismissing_verbs`, `dismissing_words`)
  negates its subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["dismisses", "deny_subject", "dismissed_subjects"]


class _Word(Protocol):  # what these rules read and set of an `english.Token`
    surface: str
    skip: bool
    neg: bool


class _Words(Protocol):  # the lists of an `english.Vocab` they read
    stopwords: frozenset[str]
    negations: frozenset[str]
    clause_breaks: frozenset[str]
    dismissals: frozenset[str]
    dismissing_verbs: tuple[tuple[str, ...], ...]
    dismissing_words: tuple[tuple[str, ...], ...]
    dismissing_firsts: frozenset[str]


_SUBJECT_REACH = 8  # content words a dismissal's negation reaches back over


def dismisses(tokens: Sequence[_Word], n: int, v: _Words) -> bool:
    """Whether the negation at `n` denies a dismissal predicate ("is not *needed*", "does not
    really *matter*"): its first content word is one, not followed by "to" and a verb."""
    for j in range(n + 1, min(len(tokens), n + 4)):
        x = tokens[j]
        if x.skip or x.surface in v.stopwords and x.surface not in v.dismissals:
            continue
        return x.surface in v.dismissals and not (j + 1 < len(tokens) and tokens[j + 1].surface == "to")
    return False


def deny_subject(tokens: Sequence[_Word], verb: int, v: _Words) -> None:
    """Negate the subject before the predicate verb at `verb`, back to its clause's start."""
    seen = 0
    for j in range(verb - 1, -1, -1):
        x = tokens[j]
        if x.skip and x.surface in (",", ":", ";", "(", ")", "-"):
            return
        if x.surface in v.clause_breaks or x.surface in v.negations or x.surface in ("that", "which", "who"):
            return
        if x.skip:
            continue
        x.neg = not x.neg
        if x.surface not in v.stopwords:
            seen += 1
            if seen >= _SUBJECT_REACH:
                return


_DISMISSAL_LINKS = frozenset(("is", "are", "was", "were", "be", "a"))  # "is unnecessary", "a waste of time"


def dismissed_subjects(tokens: Sequence[_Word], v: _Words) -> None:
    """"asking permission wastes time", "proofreading is unnecessary": negate the subject of a
    dismissing predicate (lexicon `dismissing_verbs`, and `dismissing_words` after "be" or "a")."""
    surfaces = [t.surface for t in tokens]
    if v.dismissing_firsts.isdisjoint(surfaces):
        return
    for phrases, after_be in ((v.dismissing_verbs, False), (v.dismissing_words, True)):
        for phrase in phrases:
            k = len(phrase)
            for i in range(len(tokens) - k + 1):
                if tuple(surfaces[i:i + k]) != phrase:
                    continue
                j = i - 1
                while j >= 0 and tokens[j].surface in v.stopwords and tokens[j].surface not in _DISMISSAL_LINKS:
                    j -= 1  # "just", "really"
                if not after_be:
                    deny_subject(tokens, j + 1, v)
                elif j >= 0 and tokens[j].surface in _DISMISSAL_LINKS:
                    deny_subject(tokens, j, v)
