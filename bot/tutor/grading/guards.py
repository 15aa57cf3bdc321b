"""Guards: objections that veto a mark, whichever stage proposed it (lexical or model).

`objection(reading, n, sentence, rule, stage)` returns the name of the first guard that objects
to `sentence` earning point `n`, or "". Each guard is general (no question ids, no sentences):

- `swapped-definition`: the point defines a term ("Adherence is ...", "Data minimisation: ...",
  "The controller decides ..." where its id names it) and other points define other terms; the
  point's claim words in the sentence are said of another term ("occupancy is how closely agents
  keep to the schedule"), or the point's term is given another term's definition and none of its
  own. Each word is said of the term it directly precedes, else the one named before it;
  possessives, the second of two terms in a row and a pair's sentence boundary are respected.
  A term is named by its own words up to a plural or a slip, not by words derived from them
  ("processing" is not "the processor"); "X is called Y" defines Y.
  The same guard reads the answer's side too (`said_of_another`): where the answer says what X is
  ("Paraphrasing is asking probing questions", "Benefit is that it sounds robotic", a label:
  "Agents: 7 x 45 = 5 hours 15"), X names another point (its id, term or label) and the point
  neither names nor mentions X, the point's telling words there are said of that other point,
  unless they are that point's own words; and what it says of the point's own subject is refused
  where it carries another point's telling words and none of its own. This covers points that
  define no term ("Ask probing questions"), where the point side has nothing to bind.
- `wrong-number`: the point states a quantity (72 hours, one month, 80%) and the sentence states
  a different one of the same kind, not the point's ("within 30 days").
- `no-time-limit`: the point states a time limit and the sentence states none ("report it to the
  ICO" for "report to the ICO within 72 hours"); phrases such as "without undue delay"
  (lexicon `time_limit_phrases`) count as one.
- `wrong-body`: the point names a body (ICO, FCA, FOS: lexicon `bodies`) and the sentence names
  another body instead.
- `negation`, both stages: the sentence denies that what the point names is one of the things
  the question asks for ("resilience is not a driver", "accents aren't a barrier"). (A negated
  dismissal, "large print isn't really needed", is read by the tokenizer: it negates its subject.)
- model stage only, where the lexical stage has its own rules: `keyword-list` (a sentence with
  no structure, a bag of terms, or an answer that is only a list of names), `minimum-content` (fewer than two content words: "idk"),
  `echo` (the sentence only restates the prompt), `negation` (a claim word of the point negated
  in its scope, or its opposite said: "you don't need to tell the ICO").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from rapidfuzz.distance import OSA

from bot.tutor.grading.evidence import _LABEL
from bot.tutor.grading.spans import _contradicts, _Key
from bot.tutor.grading.subjects import (
    _ARTICLES, _NOT_TERMS, _WORD_RE, _Term, part_tokens, point_names, said_of_another,
)

if TYPE_CHECKING:
    from bot.tutor.grading.english import Token
    from bot.tutor.grading.evidence import Reading
    from bot.tutor.grading.spans import _Point, _Sentence

__all__ = ["objection", "coverage", "content_words", "warm", "CONFIDENCE", "GUARDS"]

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
_MODALS = frozenset("must should can could will would may might shall".split())
_FRAMES = frozenset("in with for during on under".split())
_PIECES = re.compile(r"[;.,:]\s| and | while | whereas | but ")
_POSSESSIVE = re.compile(r"([A-Za-z][\w-]*)(?:'s|’s|s'|s’)(?=\W|$)")
_W = TypeVar("_W")
# "X is called Y", "is known as Y": the term is Y (up to three words, to the clause's end)
_CALLED = re.compile(r"\b(?:is|are)\s+(?:called|known\s+as|termed|named)\s+(?:an?\s+|the\s+)?"
                     r"([A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*){0,2})\s*(?:[.,;:)]|$)", re.I)


def _after_articles(words: list[_W], word: Callable[[_W], str] = str) -> list[_W]:
    """`words` without the articles that open them ("the", "a", "an"), in any case."""
    i = 0
    while i < len(words) and word(words[i]).lower() in _ARTICLES:
        i += 1
    return words[i:]


def _subject(text: str) -> tuple[str, bool]:
    """The term a point's text defines: up to four words before a defining verb ("Adherence
    measures ..."), after a framing preposition ("In a warm transfer the agent ...") or after
    "is called" ("The allowance is called shrinkage"), or "";
    and whether the verb is a strong defining one ("is", "means") rather than any verb."""
    named = _CALLED.search(text[:120])
    if named:
        return named.group(1), True  # "The allowance is called shrinkage" defines shrinkage
    words = _WORD_RE.findall(text[:120])
    if len(words) > 2 and words[0].lower() in _FRAMES and words[1].lower() in _ARTICLES:
        rest = words[2:7]
        end = next((i for i, w in enumerate(rest) if w.lower() in _ARTICLES or w.lower() in _DEFINING_VERBS), 0)
        return (" ".join(rest[:end]), False) if 0 < end <= 3 else ("", False)
    words = _after_articles(words)
    for i, w in enumerate(words[:5]):
        if w.lower() in _MODALS:
            return "", False  # "The provider must tell ...": a duty of an actor, not a definition
        if w.lower() in _DEFINING_VERBS or w == "=":
            subject = words[:i]
            if i + 1 < len(words) and words[i + 1].isdigit():
                return "", False  # a calculation ("Paid hours are 20 x 37.5"), not a definition
            if subject and subject[0].lower() not in _NOT_TERMS:
                return " ".join(subject), w.lower() in _STRONG_VERBS
            return "", False
    return "", False


def _id_subject(point_id: str, text: str) -> str:
    """The point's id as the term its text opens with ("controller": "The controller decides
    ..."), or "": a one-word id that begins the text's first or second word after any article
    ("Schedule adherence ..." for "adherence")."""
    parts = [w for w in point_id.lower().split("-") if w]
    words = [w.lower() for w in _after_articles(_WORD_RE.findall(text[:80]))]
    if len(parts) != 1:  # "lagging-example", "goal-differs": ids that describe, not name
        return ""
    part = parts[0]
    for w in words[:2]:
        if len(part) >= 3 and w.startswith(part[:max(3, len(part) - 2)]):
            return w
    return ""


@dataclass(frozen=True)
class _QuestionFacts:
    terms: tuple[_Term | None, ...]       # per point: the term it defines, if any
    family: bool                         # at least two points define different terms
    bodies: tuple[frozenset[str], ...]    # per point: bodies it names
    name_words: frozenset[str] = frozenset()  # stems of every term's name, alternates included
    names: tuple[frozenset[str], ...] = ()  # per point: what names it (id words, term, label), for `said_of_another`
    mentions: tuple[frozenset[str], ...] = ()  # per point: every stem and gloss its text and accept phrases say


def _facts(reading: Reading) -> _QuestionFacts:
    """The question's terms and bodies, worked out once per question (cached on the matcher)."""
    m = reading.matcher
    c = reading.compiled
    cache = m.__dict__.setdefault("_guard_facts", {})
    key = (c.question.id, id(c.question))
    got = cache.get(key)
    if got is not None:
        return got
    name_words: set[str] = set()
    raw = [_point_name(reading, cp, name_words) for cp in c.points]
    terms = _rebound(reading, _terms_of(reading, raw))
    distinct = {t for t in terms if t is not None}
    name_words.update(st for t in terms if t is not None for st in t[1])
    names, mentions = point_names(reading, terms)
    got = _QuestionFacts(tuple(terms), len(distinct) >= 2, _bodies_named(reading), frozenset(name_words),
                         names, mentions)
    cache[key] = got
    return got


def _point_name(reading: Reading, cp: _Point, name_words: set[str]) -> list[Token] | None:
    """The words of the term point `cp` defines (its label, the subject of its defining verb, or
    the word its id names), if it is a term: one the prompt asks about, or a short term the point
    defines outright, not a person and not a word of any question. A label's words go into
    `name_words`."""
    m, c, v = reading.matcher, reading.compiled, reading.matcher.v
    text = cp.point.text
    lab = _LABEL.match(text)
    if lab and (len(_WORD_RE.findall(lab.group(1))) > 5
                or any(w.lower() in _DEFINING_VERBS for w in _WORD_RE.findall(lab.group(1))[1:])):
        lab = None  # "The Reality stage explores the current situation: ..." is a sentence, not a label
    text = re.sub(r"\([^)]*\)", " ", text)  # "In a cold (blind) transfer": the term is "cold transfer"
    name, strong = "", False
    if lab:
        # "Data minimisation: it collects more ..." defines its label outright
        name = re.sub(r"^\s*[A-Za-z]\s+(?:is|=|stands for)\s+", "", lab.group(1))
        name_words.update(t.stem for t in m._tokens(c, name) if t.surface.isalnum())
        name, strong = re.sub(r"\([^)]*\)", " ", name).strip(), True  # "Achievable (or Agreed)"
    else:
        name, strong = _subject(text)
        if not name:
            # "The controller decides why ...": no defining verb, but the point's id names the
            # word its text opens with
            name = _id_subject(cp.point.id, text)
    toks = [t for t in m._tokens(c, name) if t.gloss >= 0 or t.quantity
            or (t.surface.isalnum() and t.surface not in v.stopwords)] if name else []
    # a term the question asks about (the prompt names it), not a person ("the customer": a
    # glossary term's own words, "customer satisfaction", are not one);
    # or a short term the point defines outright ("An aim is ...", "Open questions are ...")
    people = any(t.gloss < 0 and (t.surface in v.people or _singular_word(t.surface) in v.people)
                 for t in toks)
    asked = any((t.gloss >= 0 and t.gloss in c.prompt_glosses) or (t.gloss < 0 and t.stem in c.prompt_stems
                and t.surface not in v.people and t.stem not in v.common) for t in toks)
    defined = strong and 0 < len(toks) <= 2 and not people and not any(t.stem in v.common for t in toks)
    # "Correct examples, e.g. ...": a word of any question names no term
    generic = all(t.gloss < 0 and (t.stem in v.common or t.surface in v.generic) for t in toks)
    return toks if toks and (asked or defined) and not people and not generic else None


def _terms_of(reading: Reading, raw: list[list[Token] | None]) -> list[_Term | None]:
    """Each point's term from its name's words: glossary terms, the words that tell it from the
    other terms (not those every term shares: "indicators" in leading/lagging indicators), their
    polarities, and the head word where only this term ends with it."""
    v = reading.matcher.v
    named = [r for r in raw if r]
    shared = set.intersection(*({t.stem for t in r} for r in named)) if len(named) >= 2 else set()
    pieces: list[tuple[tuple[int, ...], tuple[Token, ...]] | None] = []
    for r in raw:
        glosses = tuple(sorted({t.gloss for t in r if t.gloss >= 0})) if r else ()
        words = tuple(t for t in r if t.gloss < 0 and t.stem not in shared) if r else ()
        pieces.append((glosses, words) if glosses or words else None)
    heads = [p[1][-1].stem for p in pieces if p is not None and len(p[1]) >= 2]
    others = [t.stem for p in pieces if p is not None for t in (p[1][:-1] if len(p[1]) >= 2 else p[1])]
    terms: list[_Term | None] = []
    for piece in pieces:
        if piece is None:
            terms.append(None)
            continue
        glosses, words = piece
        stems = tuple(t.stem for t in words)
        # a word names the term only with its own polarity: "unplanned" is not "planned"
        prefixes = tuple("-" if t.neg else "+" for t in words)
        head = stems[-1] if len(stems) >= 2 and heads.count(stems[-1]) == 1 and stems[-1] not in others \
            and stems[-1] not in v.common else ""
        terms.append((glosses, stems, prefixes, head, tuple(_singular_word(t.surface) for t in words)))
    return terms


def _rebound(reading: Reading, defining: list[_Term | None]) -> list[_Term | None]:
    """A point with a clause about another point's term ("Hard standards are monitored from
    system data; soft standards through call monitoring") defines neither; a point that defines
    no term but names exactly one ("A valid lagging example, e.g. quarterly NPS") is about it."""
    m, c = reading.matcher, reading.compiled
    terms = list(defining)
    for n, cp in enumerate(c.points):
        own = defining[n]
        clauses = [[t for t in m._tokens(c, piece) if t.gloss >= 0 or t.surface.isalnum()]
                   for piece in _PIECES.split(cp.point.text)]
        if own is not None:
            # another term opens one of its clauses: that clause is about that term ("unlike an
            # objective, it is ..." is not)
            if any(t is not None and t != own and _term_positions(t, _opening(words), frozenset())
                   for words in clauses for t in defining):
                terms[n] = None
        else:
            about = {t for words in clauses for t in defining
                     if t is not None and _term_positions(t, words, frozenset())}
            if len(about) == 1:
                terms[n] = next(iter(about))
    return terms


def _bodies_named(reading: Reading) -> tuple[frozenset[str], ...]:
    """Per point: the bodies (lexicon `bodies`) its text or accept phrases name."""
    m, v = reading.matcher, reading.matcher.v
    bodies = []
    for cp in reading.compiled.points:
        said = " " + " ".join([_norm(m, cp.point.text)] + [_norm(m, a) for a in cp.point.accept]) + " "
        bodies.append(frozenset(name for name, phrases in v.bodies.items() if any(f" {p} " in said for p in phrases)))
    return tuple(bodies)


def warm(reading: Reading) -> None:
    """Work out the question's terms and bodies now (they are cached per question)."""
    _facts(reading)


def _singular_word(w: str) -> str:
    return w[:-1] if w.endswith("s") and not w.endswith("ss") and len(w) > 3 else w


def _norm(m: object, text: str) -> str:
    from bot.tutor.grading.english import normalise

    v = m.v  # type: ignore[attr-defined]
    return " ".join(re.sub(r"[^\w' ]", " ", normalise(text, v)).split())


# --------------------------------------------------------------------------- the guards


def _names(t: Token, stem: str, polarity: str, form: str = "") -> bool:
    """`t` is the term's word: its stem and polarity, and (given `form`) its form up to a plural
    or one slip ("planed"), not a word derived from it ("processing" for "processor")."""
    return t.stem == stem and t.neg == (polarity == "-") and (
        not form or OSA.distance(_singular_word(t.surface), form, score_cutoff=1) <= 1)


def _term_positions(term: _Term, toks: list[Token], starts: frozenset[int]) -> list[int]:
    """Where the sentence names the term: a gloss of it, its words in order (not across the
    two sentences of a pair: "... their schedule. Adherence is ..."), or its head alone. A term
    with a gloss is named by the gloss: its other words only qualify it ("the QA *score*": the
    quality team's "score" does not name QA)."""
    glosses, stems, prefixes, head, forms = term
    out = [i for i, t in enumerate(toks) if t.gloss >= 0 and t.gloss in glosses]
    if glosses:
        return out
    k = len(stems)
    if stems:
        for i in range(len(toks) - k + 1):
            if all(_names(toks[i + j], stems[j], prefixes[j], forms[j]) for j in range(k)) \
                    and not any(i < b < i + k for b in starts):
                out.append(i)
    if head:
        out += [i for i, t in enumerate(toks) if _names(t, head, prefixes[-1], forms[-1])]
    return sorted(set(out))


def _words_and_asides(reading: Reading, s: _Sentence) -> tuple[list[Token], set[int], frozenset[int], frozenset[int]]:
    """The sentence's words (terms, numbers, words), which are inside brackets ("Part 1 (ISO
    18295-1) sets ..." names no new subject), where each sentence of a pair begins, and which
    words follow punctuation. Read once per sentence, shared by the points."""
    got = reading.memo.get(("words", s.text))
    if got is None:
        toks: list[Token] = []
        aside: set[int] = set()
        starts: set[int] = set()
        breaks: set[int] = set()
        for part in s.parts:
            starts.add(len(toks))
            breaks.add(len(toks))
            depth = 0
            for t in part_tokens(reading, part):
                if t.gloss >= 0 or t.quantity or t.surface.isalnum():
                    if depth:
                        aside.add(len(toks))
                    toks.append(t)
                else:
                    breaks.add(len(toks))
                    if t.surface in ("(", ")"):
                        depth = max(0, depth + (1 if t.surface == "(" else -1))
        got = reading.memo[("words", s.text)] = (toks, aside, frozenset(starts), frozenset(breaks))
    return got  # type: ignore[return-value]


def _opening(words: list[Token]) -> list[Token]:
    """A clause's first two words after any article."""
    return _after_articles(words, lambda t: t.surface)[:2]


def _possessives(reading: Reading, s: _Sentence) -> frozenset[str]:
    """The words the sentence uses as possessives ("controller" in "the controller's behalf"),
    found once per sentence, shared by the points."""
    got = reading.memo.get(("owners", s.text))
    if got is None:
        got = reading.memo[("owners", s.text)] = frozenset(
            w.lower() for part in s.parts for w in _POSSESSIVE.findall(part))
    return got  # type: ignore[return-value]


def _said(reading: Reading, text: str) -> str:
    """The sentence normalised for phrase look-ups (" report it to the ico "), once per sentence."""
    got = reading.memo.get(("norm", text))
    if got is None:
        got = reading.memo[("norm", text)] = " " + _norm(reading.matcher, text) + " "
    return got  # type: ignore[return-value]


class _Bindings:
    """For one sentence and point: where the question's terms are named (`where`: position,
    term index), where the sentence says a point's key words, and which term each word is said of."""

    def __init__(self, toks: list[Token], where: list[tuple[int, int]], breaks: frozenset[int],
                 stop: frozenset[str]) -> None:
        self.toks, self.breaks, self.stop = toks, breaks, stop
        self.where: list[tuple[int, int]] = []
        self.named: set[int] = set()
        self._terms_at: set[int] = set()
        self.add(where)

    def add(self, where: list[tuple[int, int]]) -> None:
        self.where = sorted(self.where + where)
        self.named = {j for _, j in self.where}
        self._terms_at = {p for p, _ in self.where}

    def said(self, keys: list[_Key]) -> list[int]:
        """Where the sentence says one of `keys`, outside the terms' names."""
        return [i for i, t in enumerate(self.toks) if i not in self._terms_at and not t.skip
                and t.surface not in self.stop and any(k.matches(t) for k in keys)]

    def governor(self, i: int) -> int:
        """The term a word is said of: the one it directly precedes ("low financial
        *capability*"), else the one named before it, else the first one after it."""
        for p, j in self.where:
            if i < p <= i + 2 and not any(i < b <= p for b in self.breaks):
                return j
        before = [j for p, j in self.where if p < i]
        return before[-1] if before else next(j for p, j in self.where if p > i)


def _named_terms(reading: Reading, s: _Sentence, order: list[_Term]) -> list[tuple[int, int]]:
    """(position, term index) where the sentence names one of `order`'s terms, outside brackets.
    A term that only qualifies the next word governs nothing: a possessive ("on the controller's
    behalf") or the second of two terms in a row ("planned shrinkage" names the planned kind of
    shrinkage, not shrinkage)."""
    toks, aside, starts, breaks = _words_and_asides(reading, s)
    where: list[tuple[int, int]] = []  # points may share one term
    for j, term in enumerate(order):
        where += [(p, j) for p in _term_positions(term, toks, starts) if p not in aside]
    owners = _possessives(reading, s)
    at = dict(where)
    return sorted((p, j) for p, j in where
                  if not (toks[p].surface in owners and p + 1 < len(toks) and p + 1 not in breaks
                          and at.get(p + 1) != j)  # "the bot's answers" can be one term
                  and not (p - 1 in at and at[p - 1] != j and p not in breaks))


def swapped_definition(reading: Reading, n: int, s: _Sentence, rule: str = "") -> bool:
    """The sentence says the point's definition of another of the question's terms ("occupancy
    is how closely agents keep to the schedule" for adherence), or names the point's term only
    to give it another term's definition ("Data minimisation - it's kept forever")."""
    facts = _facts(reading)
    own = facts.terms[n]
    if not facts.family or own is None:
        return False
    c = reading.compiled
    toks, aside, _, breaks = _words_and_asides(reading, s)
    order = sorted({t for t in facts.terms if t is not None})
    where = _named_terms(reading, s, order)
    if not where:
        return False  # no term named: nothing to bind to
    mine_j = order.index(own)
    if {j for _, j in where} == {mine_j}:
        return False
    b = _Bindings(toks, where, breaks, reading.matcher.v.stopwords)
    cp = c.points[n]
    accept_keys = [k for ph in cp.accepts for k in ph.keys if not k.parts]
    # a mark by an accept phrase is decided by the phrase's own words ("it predicts what will
    # happen" in "a leading indicator measures results after they happen, and a lagging
    # indicator predicts what's coming" is said of the lagging indicator)
    keys = (accept_keys if rule.endswith("accept") and accept_keys
            else [k for k in cp.keys if not k.parts] + accept_keys)
    other_points = [cq for t, cq in zip(facts.terms, c.points) if t is not None and t != own
                    and order.index(t) in b.named]
    if mine_j not in b.named:
        # the term named in part ("T-timed" for time-bound) is still named
        _, stems, polarity, _, _ = own
        b.add([(i, mine_j) for i, t in enumerate(toks) if i not in aside and any(
            _names(t, st, pol) for st, pol in zip(stems, polarity))])
    claims = b.said(keys)
    if mine_j not in b.named:
        # only other terms are named: what the sentence says of the point, it says of them
        # (with none of its words, the point was earned by naming its term in a form this guard
        # does not read: "A-agreed")
        return any(toks[i].stem not in facts.name_words for i in claims) or not rule.endswith("term")
    others = [k for cq in other_points for k in cq.keys if not k.parts]
    strictly = [i for i in claims if not any(k.matches(toks[i]) for k in others)]
    if not claims or rule.endswith("term"):
        return _given_anothers_definition(b, facts, mine_j, keys, strictly, other_points)
    # the claim words that tell this point from the other named terms' points ("schedule" for
    # adherence, not "time", which both definitions use) decide; each is governed by its term
    telling = strictly or claims
    mine = sum(1 for i in telling if b.governor(i) == mine_j)
    return len(telling) - mine > mine


def _given_anothers_definition(b: _Bindings, facts: _QuestionFacts, mine_j: int, keys: list[_Key],
                               strictly: list[int], other_points: list[_Point]) -> bool:
    """The point's term is named (a term can earn by being named): it is swapped only if it is
    given another named term's definition and none of its own."""
    if len(b.named) >= 3 or any(b.governor(i) == mine_j for i in strictly):
        return False  # a list of three terms or more names them: what follows is not a definition
    for cq in other_points:
        theirs = [i for i in b.said([k for k in cq.keys if not k.parts and not k.common])
                  if not any(k.matches(b.toks[i]) for k in keys) and b.toks[i].stem not in facts.name_words]
        given = sum(1 for i in theirs if b.governor(i) == mine_j)
        if given and given > len(theirs) - given:
            return True
    return False


def _quantities(cp_quantities: tuple[str, ...], s: _Sentence) -> tuple[bool, bool]:
    """(the point's quantity is stated, a different one of the same kind is stated instead)."""
    have = {q for q, neg in s.index.quantities if not neg}
    stated = any(q in have for q in cp_quantities)
    dims = {q.split(":", 1)[0] for q in cp_quantities}
    other = any(q.split(":", 1)[0] in dims and q not in cp_quantities for q in have)
    return stated, other


def numbers(reading: Reading, n: int, s: _Sentence) -> str:
    cp = reading.compiled.points[n]
    if cp.results:
        # what the point works out is not stated, and a figure of that kind that neither the
        # point nor the prompt gives is: a wrong result, whatever inputs it shares ("14 x 45 mins
        # = 10.5 hrs" for "5 hours 15 minutes a week (7 x 45 minutes)", "80% within 20 minutes"
        # for "80% within 20 seconds"); of each kind of figure (time, percentage, ...) apart
        have = {q for q, neg in s.index.quantities if not neg}
        known = set(cp.quantities) | reading.compiled.prompt_quantities
        for dim in {q.split(":", 1)[0] for q in cp.results}:
            if not any(q in have for q in cp.results if q.startswith(dim + ":")) \
                    and any(h.startswith(dim + ":") and h not in known for h in have):
                return "wrong-number"
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


_BE = frozenset(("is", "are", "was", "were", "be"))


def _denies_its_category(reading: Reading, n: int, s: _Sentence) -> bool:
    """The sentence denies that what the point names is one of the things the question asks
    for: "accents aren't a barrier", "resilience is not a driver" (a form of "be", negated, then
    "a"/"an" and a word of the prompt), and the point's own words are in that denied subject."""
    words = s.words
    v = reading.matcher.v
    prompt = reading.compiled.prompt_stems
    for i, t in enumerate(words[:-2]):
        if t.surface not in _BE or t.neg:
            continue
        k = next((k for k in range(i + 1, min(len(words), i + 3)) if words[k].surface in ("a", "an")), -1)
        if k < 0 or not words[k].neg or not any(
                x.neg and x.stem in prompt and x.surface not in v.stopwords for x in words[k + 1:k + 3]):
            continue
        subject = [x for h, x in enumerate(words[:i]) if s.clauses[h] == s.clauses[i]]
        keys = [key for key in reading.compiled.points[n].keys if not key.quantity and not key.common]
        if any(key.stem not in prompt and key.found(subject) for key in keys):
            return True
    return False


def objection(reading: Reading, n: int, s: _Sentence, rule: str, stage: str) -> str:
    """The first guard that objects to `s` earning point `n` (proposed by `stage`), or ""."""
    if stage == "model":
        if s.is_bag or s.is_list or s.in_term_list:
            return "keyword-list"
        if content_words(reading, s) < 2:
            return "minimum-content"
        if _echo(reading, s):
            return "echo"
        if _contradicts(reading.matcher.v, reading.compiled.points[n], s) or _negates_a_claim(reading, n, s):
            return "negation"
    if _denies_its_category(reading, n, s):
        return "negation"
    if not (rule.endswith("term") and s.is_list):
        facts = _facts(reading)
        if swapped_definition(reading, n, s, rule) or said_of_another(reading, n, s, facts.names, facts.mentions):
            return "swapped-definition"
    got = numbers(reading, n, s)
    if got:
        return got
    if wrong_body(reading, n, s):
        return "wrong-body"
    return ""
