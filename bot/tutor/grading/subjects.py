"""What an answer says things are: the answer's side of the swapped-definition guard.

`guards.swapped_definition` binds a point that defines a term ("Adherence is ...") to it. Points
that define none ("Ask probing questions", "Templates make replies faster", "Maya spends 5 hours
15") have nothing to bind there, so this module reads the answer instead: where it says what X
is ("Paraphrasing is asking probing questions", "Benefit is that it sounds robotic", "X, which
means ...", a label: "Agents: 7 x 45 = ..."), which point X names (its id's naming words, its
term, its label), and whose words are said of it. `said_of_another` is the test; the guards call
it for both stages. The words here are general English (how definitions and ids are written).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.tutor.grading.evidence import _LABEL

if TYPE_CHECKING:
    from bot.tutor.grading.english import Token
    from bot.tutor.grading.evidence import Matcher, Reading
    from bot.tutor.grading.spans import _Compiled, _Key, _Sentence

__all__ = ["point_names", "part_tokens", "said_of_another"]

_ARTICLES = frozenset("a an the".split())
_NOT_TERMS = frozenset("it this that they there you we he she which what who one".split())
_WORD_RE = re.compile(r"[A-Za-z][\w'&/-]*|\d+|=")
# A term: (gloss ids, stems, the stems' polarities, its head stem or "", the words as written,
# singular) — "schedule adherence" is (), ("schedul", "adher"), ("+", "+"), "adher",
# ("schedule", "adherence"): named by "schedule adherence" or by its head alone, "adherence",
# where no other term of the question shares it; "unplanned" is (), ("plan",), ("-",), "",
# ("unplanned",). A word names a term's word in its own form only, up to a plural or a slip:
# "processing" shares a stem with "processor" but does not name the processor.
_Term = tuple[tuple[int, ...], tuple[str, ...], tuple[str, ...], str, tuple[str, ...]]


# Words of a point's id that describe the point rather than name its subject ("portability-meaning",
# "when-directive", "a-text"): general English of how ids are written, kept small.
_ID_DESCRIBERS = frozenset("""
meaning means mean def definition defined example examples eg calc calculation method working formula
answer result differs differ difference diff when why what how who which not vs versus right wrong use
uses used point points step steps part
""".split())


def _stems(m: Matcher, c: _Compiled, text: str) -> frozenset[str]:
    """The stems of `text`'s words and its glossary terms ("g:3"), stop words left out."""
    v = m.v
    out: set[str] = set()
    for t in m._tokens(c, text):
        if t.gloss >= 0:
            out.add(f"g:{t.gloss}")
        elif t.surface.isalnum() and t.surface not in v.stopwords and not t.quantity:
            out.add(("-" if t.neg else "") + t.stem)  # "uncontrolled" is not "controlled"
    return frozenset(out)


def point_names(reading: Reading, terms: list[_Term | None]) -> tuple[tuple[frozenset[str], ...], tuple[frozenset[str], ...]]:
    """Per point: the stems that name what it is about (its id's naming words, the term it
    defines, its label) and every stem its text and accept phrases mention."""
    m, c = reading.matcher, reading.compiled
    names: list[frozenset[str]] = []
    mentions: list[frozenset[str]] = []
    for cp, term in zip(c.points, terms):
        id_words = " ".join(w for w in cp.point.id.lower().split("-")
                            if len(w) > 1 and not w.isdigit() and w not in _ID_DESCRIBERS)
        name = set(_stems(m, c, id_words))
        said = _stems(m, c, cp.point.text)
        if term is not None and not (name and name <= said):
            # the term it defines, unless its id names a word of its text ("goal-differs": the Goal
            # stage, though its text also names Reality)
            name = set(term[1]) | {f"g:{g}" for g in term[0]}
        lab = _LABEL.match(cp.point.text)
        if lab and len(_WORD_RE.findall(lab.group(1))) <= 4:
            name = set(_stems(m, c, " ".join(w for w in _WORD_RE.findall(lab.group(1))
                                              if w.lower() not in _ID_DESCRIBERS))) or name
        names.append(frozenset(name))
        mentions.append(frozenset().union(said, *(_stems(m, c, a) for a in cp.point.accept)))
    return tuple(names), tuple(mentions)


def part_tokens(reading: Reading, part: str) -> list[Token]:
    """One sentence of the answer tokenised against the question, once per answer (a sentence is
    read alone and in the pairs it is part of)."""
    got = reading.memo.get(("tokens", part))
    if got is None:
        got = next((s.tokens for s in reading.sentences if s.text == part and s.tokens is not None), None)
        if got is None:
            got = reading.matcher._tokens(reading.compiled, part)
        reading.memo[("tokens", part)] = got
    return got  # type: ignore[return-value]


# Where an answer says what something is: "X is/are/means/refers to ...", "X, which means ...",
# "X - this is where ...", a label opening a sentence ("Team incentive: ..."). X is up to four words
# opening a clause; "is" before a participle ("is permitted") or "why" says no definition.
_MARKERS = frozenset("is are means mean refers =".split())
_POINTERS = frozenset("this that which it".split())
_OPENERS = frozenset("and but while whereas so then also or think".split())
_NOT_DEFINING = frozenset("why because going".split())
_OPENING_LABEL = re.compile(r"^\s*(?:\(?[a-z0-9]\)\s*)?['’\"]?([A-Za-z][\w'’&/ -]{0,40}?)['’\"]?\s*:\s")


def _break(t: Token) -> bool:
    """Punctuation (a glossary term's words are not, nor a hyphen: a spaced dash is a comma by now)."""
    return t.gloss < 0 and not t.quantity and not t.surface[:1].isalnum() and t.surface != "-"


def _subject_before(toks: list[Token], end: int, stop: frozenset[str]) -> int:
    """Where the subject ending before `end` starts (up to four words that are not stop words or
    numbers, after an optional article), if it opens a clause; else -1."""
    if end > 1 and toks[end - 1].surface in ("one", "ones"):
        end -= 1  # "the planned one is ..."
    i = end
    while i > 0 and end - i < 4 and not _break(toks[i - 1]) and not toks[i - 1].quantity and (
            toks[i - 1].gloss >= 0 or toks[i - 1].surface not in stop or toks[i - 1].surface in ("of", "not", "non")):
        i -= 1
    if i == end or toks[i].surface == "of" or toks[i].surface in _NOT_TERMS:
        return -1
    if i > 0 and toks[i - 1].surface in _ARTICLES:
        i -= 1
    if i == 0 or _break(toks[i - 1]) or toks[i - 1].surface in _OPENERS:
        return i
    return -1


def _definitions(reading: Reading, s: _Sentence) -> list[tuple[frozenset[str], list[Token]]]:
    """The sentence cut where it says what something is: per piece, the stems of what it is said
    of (empty for the words before the first such place and after a clause that moves on: ", and
    ..."), and the piece's words. Read once per sentence of the answer, shared by the points and
    by the pairs it is part of."""
    out: list[tuple[frozenset[str], list[Token]]] = []
    for part in s.parts:
        got = reading.memo.get(("defs", part))
        if got is None:
            got = reading.memo[("defs", part)] = _cut(reading, part)
        out += got  # type: ignore[arg-type]
    return out


def _cut(reading: Reading, part: str) -> list[tuple[frozenset[str], list[Token]]]:
    m, c = reading.matcher, reading.compiled
    stop = m.v.stopwords
    out: list[tuple[frozenset[str], list[Token]]] = []
    toks = part_tokens(reading, part)
    cuts: list[tuple[int, int, int]] = []  # (where X starts, where it ends, where what is said of it starts)
    lab = _OPENING_LABEL.match(part)
    if lab and all(w.lower() not in stop or w.lower() in ("of", "and") for w in _WORD_RE.findall(lab.group(1))) \
            and len(_WORD_RE.findall(lab.group(1))) <= 4:
        n_lab = len(m._tokens(c, lab.group(0)))
        cuts.append((0, n_lab - 1, n_lab))
    for i, t in enumerate(toks):
        if cuts and i < cuts[-1][2]:
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t.surface in _MARKERS and nxt is not None and nxt.surface not in _NOT_DEFINING \
                and not (t.surface in ("is", "are") and len(nxt.surface) > 4 and nxt.surface.endswith("ed")):
            start = _subject_before(toks, i, stop)
            if start >= 0:
                cuts.append((start, i, i + 1))
        elif t.surface in _POINTERS and i > 1 and _break(toks[i - 1]) and nxt is not None \
                and nxt.surface in ("is", "means", "refers") and not nxt.neg:
            start = _subject_before(toks, i - 1, stop)
            if start >= 0 and (not cuts or start >= cuts[-1][2]):
                cuts.append((start, i - 1, i + 2))
    starts = {a for a, _, _ in cuts}
    # a clause that moves on (", and ...", "; ...") ends what was said of X
    edges = sorted([(a, "x") for a in starts] + [
        (i + 1, "") for i, t in enumerate(toks) if i + 1 not in starts and (
            t.surface == ";" or (_break(t) and i + 1 < len(toks) and toks[i + 1].surface in _OPENERS))])
    owner: frozenset[str] = frozenset()
    begin = 0
    ci = 0
    for pos, what in edges + [(len(toks), "")]:
        if pos > begin:
            out.append((owner, toks[begin:pos]))
        if what == "x":
            a, e, b = cuts[ci]
            ci += 1
            owner = frozenset(f"g:{t.gloss}" if t.gloss >= 0 else ("-" if t.neg else "") + t.stem
                              for t in toks[a:e] if t.gloss >= 0 or (
                                  t.surface.isalnum() and t.surface not in stop and t.surface not in _ID_DESCRIBERS))
            begin = b
        else:
            owner, begin = frozenset(), pos
    return out


def _telling(reading: Reading, n: int) -> list[_Key]:
    """Point `n`'s words (its text's and accept phrases') that tell it from the question's other
    points ("faster", not "replies", which both say); all of them if none does. Once per answer."""
    got = reading.memo.get(("telling", str(n)))
    if got is None:
        c = reading.compiled
        cp = c.points[n]
        keys = [k for k in cp.keys if not k.parts and not k.common and not k.quantity]
        keys += [k for ph in cp.accepts for k in ph.keys if not k.parts and not k.common and not k.quantity]
        keys += [k for k in cp.keys if k.quantity]
        rest = {(k.stem, k.neg) for j, cq in enumerate(c.points) if j != n for k in cq.keys if not k.parts}
        got = reading.memo[("telling", str(n))] = [k for k in keys if (k.stem, k.neg) not in rest] or keys
    return got  # type: ignore[return-value]


def said_of_another(reading: Reading, n: int, s: _Sentence, names: tuple[frozenset[str], ...],
                    mentions: tuple[frozenset[str], ...]) -> bool:
    """The sentence says what the point says, but of something another point of the question is
    about ("Paraphrasing is asking probing questions" for the point on questions; "Benefit is
    that it sounds robotic" for the risk): the words that carry the point stand where the answer
    says what X is, X names another point (its id, term or label) and the point itself neither
    names X nor mentions it; or what the answer says of the point's own subject carries another
    point's telling words and none of its own ("Skills-based routing means the call goes to the
    agent idle the longest"). Points with no term of their own are covered here, where
    `swapped_definition` has nothing to bind."""
    if not names or not names[n]:
        return False
    pieces = _definitions(reading, s)
    if len(pieces) < 2 and not (pieces and pieces[0][0]):
        return False
    stop = reading.matcher.v.stopwords
    telling = _telling(reading, n)

    def said(j: int, toks: list[Token]) -> int:
        keys = telling if j == n else _telling(reading, j)
        return sum(1 for t in toks if not _break(t) and (t.quantity or t.surface not in stop)
                   and any(k.matches(t) for k in keys))

    mine = others = free = given = 0
    for x, toks in pieces:
        claims = said(n, toks)
        if not claims:
            if x and names[n] <= x and len(telling) >= 3 and any(
                    j != n and name and not name <= x and said(j, toks) >= 2 for j, name in enumerate(names)):
                given += 1  # the point's subject, given another point's words and none of its own
            continue
        if not x:
            free += claims
            continue
        owners = [j for j, name in enumerate(names) if name and name <= x]
        best = max((len(names[j]) for j in owners), default=0)
        owners = [j for j in owners if len(names[j]) == best]
        if not owners or (n not in owners and max(said(j, toks) for j in owners) >= claims):
            # no point's subject (several others sharing it is still not this one's); or what is
            # said of it is its own (the point's words there are about something else: "abandonment
            # rate is callers who hang up")
            free += claims
        elif n in owners or any(names[j] <= mentions[n] for j in owners) or x <= mentions[n]:
            mine += claims
        else:
            others += claims
    return (others > free or given > 0) and mine == 0
