"""Guards: objections that veto a mark, whichever stage proposed it (lexical or model).

`objection(reading, n, sentence, rule, stage)` returns the name of the first guard that objects
to `sentence` earning point `n`, or "". Each guard is general (no question ids, no sentences):

- `swapped-definition`: the point defines a term the prompt asks about ("Adherence is ...",
  "G is Goal: ...") and other points of the question define other such terms; the point's claim words in the sentence are said of
  one of those other terms ("occupancy is how closely agents keep to the schedule").
- `wrong-number`: the point states a quantity (72 hours, one month, 80%) and the sentence states
  a different one of the same kind, not the point's ("within 30 days").
- `no-time-limit`: the point states a time limit and the sentence states none ("report it to the
  ICO" for "report to the ICO within 72 hours"); phrases such as "without undue delay"
  (lexicon `time_limit_phrases`) count as one.
- `wrong-body`: the point names a body (ICO, FCA, FOS: lexicon `bodies`) and the sentence names
  another body instead.
- model stage only, where the lexical stage has its own rules: `keyword-list` (a sentence with
  no structure, a bag of terms), `minimum-content` (fewer than two content words: "idk"),
  `echo` (the sentence only restates the prompt), `negation` (a claim word of the point negated
  in its scope, or its opposite said: "you don't need to tell the ICO").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.tutor.grading.evidence import _LABEL
from bot.tutor.grading.spans import _contradicts

if TYPE_CHECKING:
    from bot.tutor.grading.english import Token
    from bot.tutor.grading.evidence import Reading
    from bot.tutor.grading.spans import _Sentence

__all__ = ["objection", "coverage", "content_words", "CONFIDENCE", "GUARDS"]

GUARDS = ("swapped-definition", "wrong-number", "no-time-limit", "wrong-body", "keyword-list",
          "minimum-content", "echo", "negation")
# How sure a refusal by each guard is (the corpus figures in the model manifest override these).
CONFIDENCE: dict[str, float] = {"swapped-definition": 0.85, "wrong-number": 0.9, "no-time-limit": 0.8,
                                "wrong-body": 0.9, "keyword-list": 0.9, "minimum-content": 0.95,
                                "echo": 0.85, "negation": 0.8}

# "Adherence is ...", "CSAT measures ...", "A leading indicator gives ...": the verbs after which
# the words before them are the term a point defines (general English, kept small).
_DEFINING_VERBS = frozenset("""
is are means mean measures measure shows show tracks track predicts predict tells tell gives give
counts count records record looks describes describe covers cover compares compare asks ask
explores explore focuses focus captures capture reflects reflect indicates indicate refers
sets set states state explains explain defines define says say lists list
gets get starts start invites invite involves involve happens happen
""".split())
# verbs after which a subject is a term even where the prompt does not name it ("An aim is ...")
_STRONG_VERBS = frozenset("is are means mean measures measure refers describes defines".split())
_FRAMES = frozenset("in with for during on under".split())
_ARTICLES = frozenset("a an the".split())
_NOT_TERMS = frozenset("it this that they there you we he she which what who one".split())
_WORD_RE = re.compile(r"[A-Za-z][\w'&/-]*|\d+|=")


def _subject(text: str) -> tuple[str, bool]:
    """The term a point's text defines: up to four words before a defining verb ("Adherence
    measures ...") or after a framing preposition ("In a warm transfer the agent ..."), or "";
    and whether the verb is a strong defining one ("is", "means") rather than any verb."""
    words = _WORD_RE.findall(text[:120])
    if len(words) > 2 and words[0].lower() in _FRAMES and words[1].lower() in _ARTICLES:
        rest = words[2:7]
        end = next((i for i, w in enumerate(rest) if w.lower() in _ARTICLES or w.lower() in _DEFINING_VERBS), 0)
        return (" ".join(rest[:end]), False) if 0 < end <= 3 else ("", False)
    while words and words[0].lower() in _ARTICLES:
        words = words[1:]
    for i, w in enumerate(words[:5]):
        if w.lower() in _DEFINING_VERBS or w == "=":
            subject = words[:i]
            if i + 1 < len(words) and words[i + 1].isdigit():
                return "", False  # a calculation ("Paid hours are 20 x 37.5"), not a definition
            if subject and subject[0].lower() not in _NOT_TERMS:
                return " ".join(subject), w.lower() in _STRONG_VERBS
            return "", False
    return "", False


@dataclass(frozen=True)
class _QuestionFacts:
    terms: tuple[tuple[tuple[int, ...], tuple[str, ...]] | None, ...]  # per point: (gloss ids, stems)
    family: bool                         # at least two points define different terms
    bodies: tuple[frozenset[str], ...]    # per point: bodies it names


def _facts(reading: Reading) -> _QuestionFacts:
    m = reading.matcher
    c = reading.compiled
    cache = m.__dict__.setdefault("_guard_facts", {})
    key = (c.question.id, id(c.question))
    got = cache.get(key)
    if got is not None:
        return got
    v = m.v
    raw: list[list[Token] | None] = []
    for cp in c.points:
        text = cp.point.text
        lab = _LABEL.match(text)
        name, strong = "", False
        if lab:
            name = re.sub(r"^\s*[A-Za-z]\s+(?:is|=|stands for)\s+", "", lab.group(1))
        else:
            name, strong = _subject(text)
        toks = [t for t in m._tokens(c, name) if t.gloss >= 0 or t.quantity
                or (t.surface.isalnum() and t.surface not in v.stopwords)] if name else []
        # a term the question asks about (the prompt names it), not a person ("the customer");
        # or a short term the point defines outright ("An aim is ...", "Open questions are ...")
        people = any(t.surface in v.people or _singular_word(t.surface) in v.people for t in toks)
        asked = any((t.gloss >= 0 and t.gloss in c.prompt_glosses) or (t.gloss < 0 and t.stem in c.prompt_stems
                    and t.surface not in v.people and t.stem not in v.common) for t in toks)
        defined = strong and 0 < len(toks) <= 2 and not people and not any(t.stem in v.common for t in toks)
        raw.append(toks if toks and (asked or defined) and not people else None)
    # words shared by every term ("indicators" in leading/lagging indicators) tell them apart not
    named = [r for r in raw if r]
    shared = set.intersection(*({t.stem for t in r} for r in named)) if len(named) >= 2 else set()
    terms: list[tuple[tuple[int, ...], tuple[str, ...]] | None] = []
    for r in raw:
        if not r:
            terms.append(None)
            continue
        glosses = tuple(sorted({t.gloss for t in r if t.gloss >= 0}))
        stems = tuple(t.stem for t in r if t.gloss < 0 and t.stem not in shared)
        terms.append((glosses, stems) if glosses or stems else None)
    distinct = {t for t in terms if t is not None}
    bodies = []
    for cp in c.points:
        said = " " + " ".join(v_norm for v_norm in [_norm(m, cp.point.text)] + [_norm(m, a) for a in cp.point.accept]) + " "
        bodies.append(frozenset(name for name, phrases in v.bodies.items() if any(f" {p} " in said for p in phrases)))
    got = _QuestionFacts(tuple(terms), len(distinct) >= 2, tuple(bodies))
    cache[key] = got
    return got


def _singular_word(w: str) -> str:
    return w[:-1] if w.endswith("s") and not w.endswith("ss") and len(w) > 3 else w


def _norm(m: object, text: str) -> str:
    from bot.tutor.grading.english import normalise

    v = m.v  # type: ignore[attr-defined]
    return " ".join(re.sub(r"[^\w' ]", " ", normalise(text, v)).split())


# --------------------------------------------------------------------------- the guards


def _term_positions(term: tuple[tuple[int, ...], tuple[str, ...]], toks: list[Token]) -> list[int]:
    glosses, stems = term
    out = [i for i, t in enumerate(toks) if t.gloss >= 0 and t.gloss in glosses]
    if stems:
        first = stems[0]
        for i, t in enumerate(toks):
            if t.stem == first and tuple(x.stem for x in toks[i:i + len(stems)]) == stems:
                out.append(i)
    return sorted(set(out))


def _words_and_asides(reading: Reading, text: str) -> tuple[list[Token], set[int]]:
    """The sentence's words (terms, numbers, words), and which are inside brackets: "Part 1
    (ISO 18295-1) sets ..." names no new subject. Read once per sentence, shared by the points."""
    got = reading.memo.get(("words", text))
    if got is None:
        toks: list[Token] = []
        aside: set[int] = set()
        depth = 0
        for t in reading.matcher._tokens(reading.compiled, text):
            if t.surface in ("(", ")"):
                depth = max(0, depth + (1 if t.surface == "(" else -1))
            elif t.gloss >= 0 or t.quantity or t.surface.isalnum():
                if depth:
                    aside.add(len(toks))
                toks.append(t)
        got = reading.memo[("words", text)] = (toks, aside)
    return got  # type: ignore[return-value]


def _said(reading: Reading, text: str) -> str:
    """The sentence normalised for phrase look-ups (" report it to the ico "), once per sentence."""
    got = reading.memo.get(("norm", text))
    if got is None:
        got = reading.memo[("norm", text)] = " " + _norm(reading.matcher, text) + " "
    return got  # type: ignore[return-value]


def swapped_definition(reading: Reading, n: int, s: _Sentence) -> bool:
    facts = _facts(reading)
    own = facts.terms[n]
    if not facts.family or own is None:
        return False
    m, c = reading.matcher, reading.compiled
    toks, aside = _words_and_asides(reading, s.text)
    terms = {t for t in facts.terms if t is not None}
    where: list[tuple[int, int]] = []  # (position, which term is named there); points may share one
    order = sorted(terms)
    for j, term in enumerate(order):
        where += [(p, j) for p in _term_positions(term, toks) if p not in aside]
    if not where:
        return False  # no term named: nothing to bind to
    where.sort()
    mine_j = order.index(own)
    named = {j for _, j in where}
    if named == {mine_j}:
        return False
    cp = c.points[n]
    term_pos = {p for p, _ in where}
    stop = m.v.stopwords
    keys = [k for k in cp.keys if not k.parts] + [k for ph in cp.accepts for k in ph.keys if not k.parts]
    claims = [i for i, t in enumerate(toks) if i not in term_pos and not t.skip and t.surface not in stop
              and any(k.matches(t) for k in keys)]
    if not claims:
        return mine_j not in named  # only other terms are named: said of them
    # the claim words that tell this point from the other named terms' points ("schedule" for
    # adherence, not "time", which both definitions use) decide; each is governed by the term
    # named before it (or, before any, the first one after it)
    other_points = [cq for t, cq in zip(facts.terms, c.points) if t is not None and t != own
                    and order.index(t) in named]
    others = [k for cq in other_points for k in cq.keys if not k.parts]
    telling = [i for i in claims if not any(k.matches(toks[i]) for k in others)] or claims
    mine = theirs = 0
    for i in telling:
        before = [j for p, j in where if p < i]
        after = [j for p, j in where if p > i]
        if (before[-1] if before else after[0]) == mine_j:
            mine += 1
        else:
            theirs += 1
    return theirs > mine


def _quantities(cp_quantities: tuple[str, ...], s: _Sentence) -> tuple[bool, bool]:
    """(the point's quantity is stated, a different one of the same kind is stated instead)."""
    have = {q for q, neg in s.index.quantities if not neg}
    stated = any(q in have for q in cp_quantities)
    dims = {q.split(":", 1)[0] for q in cp_quantities}
    other = any(q.split(":", 1)[0] in dims and q not in cp_quantities for q in have)
    return stated, other


def numbers(reading: Reading, n: int, s: _Sentence) -> str:
    cp = reading.compiled.points[n]
    if not cp.quantities:
        return ""
    stated, other = _quantities(cp.quantities, s)
    if stated:
        return ""
    if other:
        return "wrong-number"
    if any(q.startswith("t:") for q in cp.quantities):
        text = _said(reading, s.text)
        if not any(f" {p} " in text for p in reading.matcher.v.time_limit_phrases):
            return "no-time-limit"
    return ""


def wrong_body(reading: Reading, n: int, s: _Sentence) -> bool:
    want = _facts(reading).bodies[n]
    if not want:
        return False
    text = _said(reading, s.text)
    said = {name for name, phrases in reading.matcher.v.bodies.items() if any(f" {p} " in text for p in phrases)}
    return bool(said) and not (said & want)


def content_words(reading: Reading, s: _Sentence) -> int:
    stop = reading.matcher.v.stopwords
    return sum(1 for t in s.words if t.surface not in stop)


def coverage(reading: Reading, n: int, s: _Sentence) -> float:
    """Share of the point's key words the sentence contains (synonyms and glossary included)."""
    keys = reading.compiled.points[n].keys
    if not keys:
        return 0.0
    return sum(1 for k in keys if k.found(s.words, s.index)) / len(keys)


def _echo(reading: Reading, s: _Sentence) -> bool:
    stop = reading.matcher.v.stopwords
    words = [t for t in s.words if t.surface not in stop and not t.quantity]
    if not words:
        return True
    prompt = reading.compiled.prompt_stems
    return sum(1 for t in words if t.stem in prompt) >= 0.8 * len(words)


def _negates_a_claim(reading: Reading, n: int, s: _Sentence) -> bool:
    """A claim word of the point or of its accept phrases said with the opposite polarity (in a
    negation's scope: "you don't need to tell anyone"), and not also said plainly."""
    cp = reading.compiled.points[n]
    keys = [k for k in cp.keys if not k.parts and not k.quantity and not k.common]
    keys += [k for ph in cp.accepts for k in ph.keys if not k.parts and not k.quantity and not k.common]
    negated = False
    for k in keys:
        if (k.stem, k.neg) in s.index.stems:
            return False
        if (k.stem, not k.neg) in s.index.stems:
            negated = True
    return negated


def objection(reading: Reading, n: int, s: _Sentence, rule: str, stage: str) -> str:
    """The first guard that objects to `s` earning point `n` (proposed by `stage`), or ""."""
    if stage == "model":
        if s.is_bag or s.is_list:
            return "keyword-list"
        if content_words(reading, s) < 2:
            return "minimum-content"
        if _echo(reading, s):
            return "echo"
        if _contradicts(reading.matcher.v, reading.compiled.points[n], s) or _negates_a_claim(reading, n, s):
            return "negation"
    if not (rule.endswith("term") and s.is_list) and swapped_definition(reading, n, s):
        return "swapped-definition"
    got = numbers(reading, n, s)
    if got:
        return got
    if wrong_body(reading, n, s):
        return "wrong-body"
    return ""
