"""Free-text grading: which marking points a learner's answer earns.

`Grader(glossary).grade(question, answer) -> Marking`. Pure and deterministic. How a point
is earned, for each sentence of the answer (`bot.tutor.text` does the English):

1. **Accept phrases.** Every key word of one of the point's `accept` phrases is found close
   together in one sentence (same stem, a glossary equivalent, an everyday synonym, or a
   slip of one or two letters), with the same polarity: "you don't need to reply within a
   month" does not match "a month".
2. **The point's own words.** Enough of the point text's key words (its content words,
   less those the prompt already uses) are found in one sentence, with the same polarity.
3. **Numbers.** A point or phrase that states a quantity ("72 hours", "80%") is only matched
   by the same quantity ("one month" = "1 month" = "30 days"; "two months" is not).
4. **Term lists.** A sentence with no structure at all (no verb, article or preposition:
   "Goal, Reality, Options, Will") is a list. In a list, an item earns a point only if it
   names the point's term (its label, "Goal: ..."), or the list is mostly items that
   each fully match an accept phrase; otherwise it is a bag of keywords and earns nothing.

The question's own words never earn anything: key words the prompt uses are dropped (a key
word whose synonym the prompt uses counts only as itself, and only when said), and an accept
phrase that the prompt itself matches is ignored.

Misconceptions that reuse a point's words earn nothing:

5. **Role swaps.** A claim word is said of whoever is named nearest before it in its clause:
   people ("callers who hang up" vs "agents hang up") or the terms that tell the points apart
   ("hygiene factors cause dissatisfaction" vs "motivators stop dissatisfaction"). An example
   filed under the other type ("pay is the biggest motivator") does not earn the example.
6. **Named terms.** A point that names a term ("required by PCI DSS") needs the term named,
   and the name alone does not earn it in a sentence that states the opposite of one of the
   question's points (a negated claim word, or its antonym: "keep recording" vs "pause").

Run-on sentences are read in overlapping windows; a repeated sentence is read once. A point
not earned in any one sentence may be earned by two adjacent short sentences read together
(their clauses, and so negation and roles, stay apart).
"""

from __future__ import annotations

import math
from bisect import bisect_left
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from rapidfuzz.distance import OSA
from rapidfuzz.process import extractOne

from bot.tutor.bank import Glossary, MarkingPoint, Question
from .text import _GROUPS  # the lexicon as written (its words are real words)
from .text import (
    LEXICON,
    OPPOSITES,
    STOPWORDS,
    STRUCTURE_WORDS,
    Token,
    lowered,
    normalise,
    split_sentences,
    stem,
    tokenize,
)

MAX_ANSWER_CHARS = 4096
_CACHE_SIZE = 512
# Share of the point text's key words one sentence must contain.
COVERAGE = 0.5
# Words in almost every contact-centre question: weak evidence of any one idea.
_COMMON = frozenset(stem(w) for w in """
customer customers call calls caller agent agents contact centre center team staff
organisation organization company business service
""".split())
_GENERIC = frozenset("""
also just only really actually basically simply need needs must should can could would will
may might able mean means meaning way ways thing things something someone people person
make made get got getting give given take taken put come go going went do does done keep
""".split())


@dataclass(frozen=True)
class PointResult:
    point: MarkingPoint
    earned: bool
    evidence: str  # the part of the learner's answer that earned it, "" if not earned


@dataclass(frozen=True)
class Marking:
    question_id: str
    points: tuple[PointResult, ...]
    needed: int
    truncated: bool = False

    @property
    def earned(self) -> int:
        return sum(1 for r in self.points if r.earned)

    @property
    def hits(self) -> tuple[str, ...]:
        return tuple(r.point.id for r in self.points if r.earned)

    @property
    def misses(self) -> tuple[MarkingPoint, ...]:
        return tuple(r.point for r in self.points if not r.earned)

    @property
    def score(self) -> float:
        if self.needed <= 0:
            return 1.0 if self.points else 0.0
        return min(1.0, self.earned / self.needed)

    @property
    def passed(self) -> bool:
        return self.earned >= self.needed

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "needed": self.needed,
            "truncated": self.truncated,
            "points": [{"id": r.point.id, "earned": r.earned, "evidence": r.evidence} for r in self.points],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], question: Question) -> Marking:
        rows = {str(p["id"]): p for p in d.get("points", [])}
        results = []
        for mp in question.marking_points:
            row = rows.get(mp.id, {})
            results.append(PointResult(mp, bool(row.get("earned", False)), str(row.get("evidence", ""))))
        return cls(
            question_id=str(d.get("question_id", question.id)),
            points=tuple(results),
            needed=int(d.get("needed", question.points_needed)),
            truncated=bool(d.get("truncated", False)),
        )


# --------------------------------------------------------------------------- compiled form


@dataclass(frozen=True)
class _Key:
    """One thing to find in a sentence: a word (by stem and meaning), a glossary term or a quantity."""

    stem: str
    neg: bool
    concepts: frozenset[tuple[int, bool]]  # lexicon groups, polarity already applied
    gloss: int = -1
    quantity: str = ""
    surface_stop: bool = False  # a stop word kept because the phrase has nothing else
    parts: tuple[_Key, ...] = ()  # a glossary term: the words of its spelt-out form
    literal: bool = False  # a synonym of it is in the prompt: only the word itself counts

    def matches(self, t: Token) -> bool:
        if self.parts:
            return (t.gloss == self.gloss and t.neg == self.neg) or any(
                p.part_of_name(t) for p in self.parts if p.stem not in _COMMON)
        return self._matches(t)

    def found(self, words: list[Token], index: _Index | None = None) -> bool:
        """Present in a sentence: a glossary term by name, or half its distinctive words."""
        if not self.parts:
            if index is not None:
                if self.quantity:
                    return (self.quantity, self.neg) in index.quantities
                if self.literal:
                    return (self.stem, self.neg) in index.stems
                return (self.stem, self.neg) in index.stems or not self.concepts.isdisjoint(index.concepts)
            return any(self._matches(t) for t in words)
        if any(t.gloss == self.gloss and t.neg == self.neg for t in words):
            return True
        own = [p for p in self.parts if p.stem not in _COMMON] or list(self.parts)
        return sum(1 for p in own if any(p.part_of_name(t) for t in words)) >= math.ceil(len(own) / 2)

    def _matches(self, t: Token) -> bool:
        if self.quantity:
            return t.quantity == self.quantity and t.neg == self.neg
        if t.neg != self.neg and not t.concepts:
            return False
        if t.stem == self.stem and t.neg == self.neg:
            return True
        if self.concepts and not self.literal:
            for g, n in t.concepts:
                if (g, n != t.neg) in self.concepts:
                    return True
        return False

    def part_of_name(self, t: Token) -> bool:
        """A word of a term's name: the same stem; "satisfaction dropped" still names it."""
        return t.stem == self.stem and (t.neg == self.neg or t.low) and not self.quantity

    def same_word(self, t: Token) -> bool:
        """Literal match: the same stem or glossary term, not a synonym."""
        if self.parts:
            return t.gloss == self.gloss and t.neg == self.neg
        if self.quantity:
            return t.quantity == self.quantity and t.neg == self.neg
        return t.stem == self.stem and t.neg == self.neg


class _Index:
    """What a sentence contains, for quick look-ups: (stem, negated), (group, polarity), quantities."""

    __slots__ = ("stems", "concepts", "quantities")

    def __init__(self, words: list[Token]) -> None:
        self.stems = {(t.stem, t.neg) for t in words if not t.quantity}
        self.concepts = {(g, n != t.neg) for t in words for g, n in t.concepts}
        self.quantities = {(t.quantity, t.neg) for t in words if t.quantity}


@dataclass(frozen=True)
class _Phrase:
    keys: tuple[_Key, ...]
    text: str
    name_only: bool = False  # only names a term ("PCI DSS"): says nothing on its own


# Words naming the people in a contact centre, by role (surface forms, singular).
_PEOPLE = {
    **dict.fromkeys("customer client caller consumer".split(), "customer"),
    **dict.fromkeys("agent advisor adviser staff employee colleague operator representative rep "
                    "worker".split(), "agent"),
    **dict.fromkeys("manager supervisor boss leader".split(), "manager"),
}
# Words that end a clause: a role named before one of them is not the subject after it.
_CLAUSE_BREAKS = frozenset("""
but whereas while although though however so because since unless if then otherwise therefore
""".split())
_NOT_CATEGORY = frozenset("valid example examples good correct right main key".split())


# Run-on sentences are read in windows of this many words, this many apart.
_WINDOW = 40
_STEP = 30
_ALNUM = re.compile(r"[^\W_]")


_CHUNK = 400  # a sentence longer than this many characters is read in overlapping pieces


def _pieces(answer: str) -> list[str]:
    """The sentences of `answer`; one over `_CHUNK` characters is cut, at spaces, into pieces
    of at most `_CHUNK` characters that overlap by a quarter (identical pieces are read once)."""
    out: list[str] = []
    for a, b in split_sentences(answer):
        text = answer[a:b].strip()
        while len(text) > _CHUNK:
            cut = text.rfind(" ", 0, _CHUNK)
            cut = cut if cut > _CHUNK // 2 else _CHUNK
            out.append(text[:cut].strip())
            nxt = text.find(" ", cut * 3 // 4)
            text = text[(nxt if 0 < nxt < cut else cut):].strip()
        if text:
            out.append(text)
    return out


# Adjacent sentences are read together when each has at most this many words.
_PAIR_WORDS = 20


def _pairs(sentences: list[_Sentence]) -> list[_Sentence]:
    """Each two adjacent short sentences as one, their clauses kept apart (negation and the
    roles of people are still read per clause; a bag of keywords joins nothing)."""
    out: list[_Sentence] = []
    for a, b in zip(sentences, sentences[1:]):
        if a.is_bag or b.is_bag or len(a.words) > _PAIR_WORDS or len(b.words) > _PAIR_WORDS \
                or a.text == b.text:
            continue
        shift = (a.clauses[-1] + 1) if a.clauses else 0
        out.append(_Sentence(f"{a.text} {b.text}", a.words + b.words, a.is_list and b.is_list,
                             a.roles + b.roles, a.clauses + [c + shift for c in b.clauses]))
    return out


# Every word of the lexicon's phrases, as written: real words, never "corrected" to another.
_LEX_WORDS = frozenset(w for grp in _GROUPS for phrase in grp for w in normalise(phrase.lstrip("!")).split()
                       if len(w) >= 4 and w.isalpha())


def _singular(surface: str) -> str:
    if len(surface) > 4 and surface.endswith("s") and not surface.endswith("ss"):
        return surface[:-1]
    return surface


class _Sentence:
    """One sentence of an answer, analysed once: its words, what they name, its clauses."""

    __slots__ = ("text", "words", "is_list", "is_bag", "index", "roles", "clauses", "contra", "where")

    def __init__(self, text: str, words: list[Token], is_list: bool,
                 roles: list[tuple[str, str] | None], clauses: list[int]) -> None:
        self.text = text
        self.words = words
        self.is_list = is_list
        self.is_bag = False
        self.where = _literal_map(words)
        self.index = _Index(words)
        self.roles = roles      # per word: ("people", "agent"), ("category", "hygiene") or None
        self.clauses = clauses  # per word: clause number within the sentence
        self.contra: frozenset[int] | None = None  # points this sentence contradicts (lazy)

    def role_before(self, pos: int, family: str) -> str | None:
        """The role of that family named nearest before word `pos`, in the same clause."""
        clause = self.clauses[pos]
        for i in range(pos - 1, -1, -1):
            if self.clauses[i] != clause:
                return None
            r = self.roles[i]
            if r is not None and r[0] == family:
                return r[1]
        return None

    def category_near(self, pos: int) -> str | None:
        """The category term nearest word `pos` (either side), in the same clause."""
        clause = self.clauses[pos]
        best: tuple[int, str] | None = None
        for i, r in enumerate(self.roles):
            if r is not None and r[0] == "category" and self.clauses[i] == clause and i != pos:
                if best is None or abs(i - pos) < best[0]:
                    best = (abs(i - pos), r[1])
        return best[1] if best else None


@dataclass(frozen=True)
class _Point:
    point: MarkingPoint
    keys: tuple[_Key, ...]          # key words of the point text (prompt words removed)
    quantities: tuple[str, ...]     # quantities stated in the point text
    accepts: tuple[_Phrase, ...]
    terms: tuple[_Phrase, ...]      # names of the point in a list ("Goal", "Way forward")
    weights: dict[_Key, float] = field(default_factory=dict, compare=False)
    # stem of a claim word -> (family, role) of who or what the point says it of:
    # "callers who hang up" -> hang: ("people", "customer")
    roles: dict[str, tuple[str, str]] = field(default_factory=dict, compare=False)
    category: str = ""              # "a valid example of a hygiene factor" -> "hygiene"
    is_example: bool = False
    required: int = 0               # keys that are not optional (literal keys are optional)
    weight: float = 0.0             # their total weight


@dataclass(frozen=True)
class _Compiled:
    question: Question
    points: tuple[_Point, ...]
    prompt_stems: frozenset[str]
    known: frozenset[str]
    vocab: tuple[str, ...]
    vocab_set: frozenset[str]
    term_words: frozenset[str] = frozenset()  # stop words that name a point ("Will")
    prompt_glosses: frozenset[int] = frozenset()  # glossary terms the prompt names
    corrections: dict[str, str] = field(default_factory=dict, compare=False)
    categories: frozenset[str] = frozenset()  # terms that tell points apart ("hygiene", "motivator")


_EXAMPLES = re.compile(r"(\(\s*|,?\s*\b)(?:e\.g\.|eg|for example|for instance|such as|like)\s*([^()]*?)(?:\)|$)", re.I | re.S)
_LABEL = re.compile(r"^\s*(?:[A-Za-z]\s+(?:is|=|stands for)\s+)?([^:.;]{1,60}):")


class Grader:
    """Grades free-text answers against marking points; caches compiled questions."""

    def __init__(self, glossary: Glossary = Glossary()) -> None:
        self.glossary = glossary
        phrases: dict[tuple[str, ...], int] = {}
        words: set[str] = set()
        canon: list[tuple[Token, ...]] = []
        for gid, group in enumerate(glossary.groups):
            # the canonical form: the first spelt-out phrase ("average handling time")
            full = [p for p in group if len(normalise(p).split()) >= 2
                    and all(w.isalpha() for w in normalise(p).split())
                    and max(len(w) for w in normalise(p).split()) >= 4]
            canon.append(tuple(t for t in tokenize(full[0] if full else group[0]) if not t.skip))
            for phrase in group:
                ws = normalise(phrase).split()
                for w in ws:
                    if w.isalpha():
                        words.add(w)
                key = tuple(stem(w) for w in ws if w.isalnum())
                if key and key not in phrases:
                    phrases[key] = gid
        self._gloss = phrases
        by_first: dict[str, list[tuple[str, ...]]] = {}
        for k in sorted(phrases, key=len, reverse=True):
            by_first.setdefault(k[0], []).append(k)
        self._gloss_first = {k: tuple(v) for k, v in by_first.items()}
        self._canon = canon
        self._gloss_max = max((len(k) for k in phrases), default=0)
        self._gloss_words = frozenset(words)
        self._cache: dict[tuple[str, int], _Compiled] = {}

    # ----------------------------------------------------------------- public

    def warm(self, questions: Iterable[Question]) -> int:
        """Compile free-text questions ahead of time (at start-up), so no learner waits for it."""
        n = 0
        for q in questions:
            if not q.is_choice:
                self._compiled(q)
                n += 1
        return n

    def grade(self, question: Question, answer: str) -> Marking:
        truncated = len(answer) > MAX_ANSWER_CHARS
        if truncated:
            answer = answer[:MAX_ANSWER_CHARS]
        compiled = self._compiled(question)
        sentences = self._sentences(compiled, answer)
        pairs: list[_Sentence] | None = None
        results: list[PointResult] = []
        for n, cp in enumerate(compiled.points):
            evidence = ""
            for s in sentences:
                if self._earns(compiled, n, cp, s):
                    evidence = s.text
                    break
            if not evidence and len(sentences) > 1:
                # the point stated across two short sentences ("If agents rush, the issue
                # isn't fixed. So the customer rings back."): read each adjacent pair as one
                if pairs is None:
                    pairs = _pairs(sentences)
                for s in pairs:
                    if self._earns(compiled, n, cp, s):
                        evidence = s.text
                        break
            results.append(PointResult(cp.point, bool(evidence), evidence))
        return Marking(question.id, tuple(results), question.points_needed, truncated)

    # ----------------------------------------------------------------- matching

    def _earns(self, c: _Compiled, n: int, cp: _Point, s: _Sentence) -> bool:
        words = s.words
        for term in cp.terms:
            if _find(term.keys, words, literal=True, where=s.where):
                return True
        if s.is_bag:
            return False
        for ph in cp.accepts:
            spot = _spots(ph.keys, words, literal=s.is_list or len(ph.keys) == 1, where=s.where)
            if not spot:
                continue
            if ph.name_only and not s.is_list and self._contradicted(c, s):
                continue  # "keep recording, PCI DSS says so": the name inside a wrong claim
            if self._swapped(cp, s, [(k, p) for k, p in zip(ph.keys, spot)]):
                continue
            return True
        if s.is_list or not cp.keys:
            return False
        index = s.index
        for q in cp.quantities:
            if (q, False) not in index.quantities:
                return False
        got = [k for k in cp.keys if k.found(words, index)]
        # a key whose synonym the prompt uses counts when said, and is not missed when not
        total = cp.required + sum(1 for k in got if k.literal)
        if len(got) < (2 if total >= 3 else 1):
            return False
        if any(k.parts and k not in got for k in cp.keys):
            return False  # the point names a term ("PCI DSS"): the answer must name it too
        if cp.roles and any(self._key_swapped(cp, s, k) for k in got):
            return False  # a claim word said of someone or something else: a role swap
        if all(k.parts for k in got) and self._contradicted(c, s):
            return False  # "keep recording, PCI DSS says so": the name inside a wrong claim
        have = sum(cp.weights[k] for k in got)
        return have >= COVERAGE * (cp.weight + have - sum(cp.weights[k] for k in got if not k.literal)) - 1e-9

    def _swapped(self, cp: _Point, s: _Sentence, spot: list[tuple[_Key, int]]) -> bool:
        """The answer says the point's claim of someone or something else (a role swap)."""
        for k, pos in spot:
            if cp.is_example:
                near = s.category_near(pos)
                if near is not None and near != cp.category:
                    return True  # "pay is the biggest motivator": filed under the wrong type
                continue
            want = cp.roles.get(k.stem)
            if want is None or s.roles[pos] is not None:
                continue
            got = s.role_before(pos, want[0])
            if got is not None and got != want[1]:
                return True
        return False

    def _key_swapped(self, cp: _Point, s: _Sentence, k: _Key) -> bool:
        want = cp.roles.get(k.stem)
        if want is None:
            return False
        swapped = False
        for pos, t in enumerate(s.words):
            if not k.matches(t) or s.roles[pos] is not None:
                continue
            got = s.role_before(pos, want[0])
            if got is None or got == want[1]:
                return False
            swapped = True
        return swapped

    def _contradicted(self, c: _Compiled, s: _Sentence) -> bool:
        """The sentence states the opposite of one of the question's points."""
        if s.contra is None:
            s.contra = frozenset(n for n, cp in enumerate(c.points) if _contradicts(cp, s))
        return bool(s.contra)

    # ----------------------------------------------------------------- answers

    def _sentences(self, c: _Compiled, answer: str) -> list[_Sentence]:
        out: list[_Sentence] = []
        seen: set[object] = set()
        for text in _pieces(answer):
            if text in seen:
                continue  # the same sentence again earns nothing new
            seen.add(text)
            s = self._sentence(c, text)
            if s is None:
                continue
            if len(s.words) <= _WINDOW + _STEP:
                out.append(s)
                continue
            # a run-on sentence: overlapping windows of words, so that the work per point
            # stays small and words far apart are not read as one claim
            for start in range(0, len(s.words) - _WINDOW + _STEP, _STEP):
                end = start + _WINDOW
                sig = tuple((t.stem, t.neg, t.gloss) for t in s.words[start:end])
                if sig in seen:
                    continue
                seen.add(sig)
                w = _Sentence(text, s.words[start:end], s.is_list, s.roles[start:end], s.clauses[start:end])
                w.is_bag = s.is_list and self._is_bag(c, w.words, w.where)
                out.append(w)
        return out

    def _sentence(self, c: _Compiled, text: str) -> _Sentence | None:
        if not _ALNUM.search(text):
            return None  # emoji, punctuation: nothing to read
        tokens = self._tokens(c, text)
        words: list[Token] = []
        roles: list[tuple[str, str] | None] = []
        clauses: list[int] = []
        clause = 0
        for t in tokens:
            if t.skip:
                if t.surface in (",", ":", "(", ")", "-"):
                    clause += 1
                continue
            if t.surface in _CLAUSE_BREAKS:
                clause += 1
            words.append(t)
            clauses.append(clause)
            roles.append(_role(c, t))
        if not words:
            return None
        is_list = len(words) >= 2 and not any(
            t.surface in STRUCTURE_WORDS and t.stem not in c.term_words for t in tokens)
        s = _Sentence(text, words, is_list, roles, clauses)
        s.is_bag = is_list and self._is_bag(c, words, s.where)
        return s

    def _is_bag(self, c: _Compiled, words: list[Token], where: dict[tuple[object, ...], list[int]]) -> bool:
        """A list whose words mostly name no point: a bag of keywords, not an answer."""
        if len(words) < 4:
            return False
        covered: set[int] = set()
        for cp in c.points:
            for ph in cp.terms + cp.accepts:
                spots = _spots(ph.keys, words, literal=True, where=where)
                for p in spots:
                    covered.add(p)
                    g = words[p].gloss
                    if g >= 0:  # a glossary term covers every word of its name
                        covered.update(where.get(("g", g, words[p].neg), ()))
        return len(covered) * 2 < len(words)

    def _tokens(self, c: _Compiled, text: str) -> list[Token]:
        tokens = tokenize(text, c.known, lambda w: self._correct(c, w))
        tokens = self._glossed(tokens)
        lowered(tokens)
        if c.prompt_glosses:
            for t in tokens:
                if t.gloss in c.prompt_glosses:
                    t.skip = True  # the question's own term, restated: not evidence
        return tokens

    def _correct(self, c: _Compiled, w: str) -> str:
        """Map a misspelt word to a word the question uses (same first letter, one or two slips)."""
        if len(w) < 3 or not w.isalpha() or w in c.vocab_set or w in STOPWORDS or w in STRUCTURE_WORDS:
            return w
        hit = c.corrections.get(w)
        if hit is not None:
            return hit
        fixed = w
        if stem(w) not in c.known and (stem(w),) not in LEXICON:
            if len(w) == 4:
                pass  # too many real short words are one slip from another
            elif len(w) == 3:
                cand = w + w[-1]
                if cand in c.vocab_set:
                    fixed = cand
            elif len(w) >= 7 and (split := _split_compound(w, c.vocab_set)):
                fixed = split
            else:
                limit = 1 if len(w) < 8 else 2
                best = extractOne(w, c.vocab, scorer=OSA.distance, score_cutoff=limit)
                # a dropped letter is a slip; an added one at the end is often another word
                # ("start" is not "star", "press" is not "pres")
                if best is not None and best[0][0] == w[0] and (len(best[0]) >= len(w) or (
                        len(w) >= 6 and not w.startswith(best[0]))):
                    fixed = best[0]
                elif len(w) >= 5:
                    fixed = _expand_prefix(w, c.vocab)
        if len(c.corrections) < 4096:
            c.corrections[w] = fixed
        return fixed

    def _glossed(self, tokens: list[Token]) -> list[Token]:
        """Collapse glossary phrases ("first contact resolution", "FCR") into one token each."""
        if not self._gloss:
            return tokens
        out: list[Token] = []
        i = 0
        words = tokens
        while i < len(words):
            t = words[i]
            done = False
            if not t.skip and not t.quantity and t.stem in self._gloss_first:
                for want in self._gloss_first[t.stem]:
                    # the phrase's words, allowing hyphens between them ("wrap-up")
                    span: list[Token] = []
                    j = i
                    for w in want:
                        while j < len(words) and words[j].surface == "-" and span:
                            span.append(words[j])
                            j += 1
                        if j < len(words) and words[j].stem == w and not words[j].skip:
                            span.append(words[j])
                            j += 1
                        else:
                            span = []
                            break
                    if not span:
                        continue
                    gid = self._gloss[want]
                    for x in self._canon[gid]:
                        out.append(Token(x.surface, x.stem, len(out), neg=t.neg, concepts=x.concepts,
                                         quantity=x.quantity, gloss=gid))
                    i = j
                    done = True
                    break
            if not done:
                t.index = len(out)
                out.append(t)
                i += 1
        return out

    # ----------------------------------------------------------------- compiling

    def _compiled(self, question: Question) -> _Compiled:
        key = (question.id, id(question))
        c = self._cache.get(key)
        if c is not None and c.question is question:
            return c
        c = self._compile(question)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)), None)
        self._cache[key] = c
        return c

    def _compile(self, q: Question) -> _Compiled:
        texts = [q.prompt, q.model_answer] + [p.text for p in q.marking_points] + [
            a for p in q.marking_points for a in p.accept]
        vocab_words: set[str] = set(self._gloss_words)
        for t in texts:
            vocab_words.update(w for w in normalise(t).split() if w.isalpha() and len(w) >= 3)
        vocab_words.update(_LEX_WORDS)
        known = frozenset(stem(w) for w in vocab_words)
        vocab_set = frozenset(vocab_words)
        proto = _Compiled(q, (), frozenset(), known, tuple(sorted(vocab_set)), vocab_set)
        prompt_sentences = [[t for t in self._tokens(proto, q.prompt[a:b]) if not t.skip]
                            for a, b in split_sentences(q.prompt)]
        prompt_tokens = [t for s in prompt_sentences for t in s]
        prompt_stems = frozenset(t.stem for t in prompt_tokens)
        categories = self._categories(proto, q, prompt_stems)
        proto = _Compiled(q, (), frozenset(), known, proto.vocab, vocab_set, categories=categories)
        points = []
        for mp in q.marking_points:
            points.append(self._compile_point(proto, mp, prompt_tokens, prompt_stems, prompt_sentences))
        # A key word shared by several points tells them apart less: weight 1/(points using it).
        df: dict[str, int] = {}
        for p in points:
            for st in {k.stem for k in p.keys}:
                df[st] = df.get(st, 0) + 1
        for i, p in enumerate(points):
            p.weights.update({k: (0.5 if k.stem in _COMMON else 1.0) / df[k.stem] for k in p.keys})
            points[i] = replace(p, required=sum(1 for k in p.keys if not k.literal),
                                weight=sum(w for k, w in p.weights.items() if not k.literal))
        term_words = frozenset(k.stem for p in points for t in p.terms for k in t.keys if k.surface_stop)
        prompt_glosses = frozenset(t.gloss for t in prompt_tokens if t.gloss >= 0)
        return _Compiled(q, tuple(points), prompt_stems, known, proto.vocab, vocab_set, term_words,
                         prompt_glosses, categories=categories)

    def _categories(self, c: _Compiled, q: Question, prompt_stems: frozenset[str]) -> frozenset[str]:
        """Terms that tell the points apart: a point's first content word, used by another point
        too ("Hygiene factors cause ...", "an example of a hygiene factor")."""
        seen: list[set[str]] = []
        firsts: set[str] = set()
        for mp in q.marking_points:
            text = _EXAMPLES.sub(" ", mp.text)
            words = [t for t in self._tokens(c, text) if not t.skip]
            seen.append({_singular(t.surface) for t in words})
            if _LABEL.match(mp.text):
                continue
            for t in words:
                if t.quantity or t.surface in STOPWORDS or t.surface in _GENERIC:
                    continue
                if t.stem not in prompt_stems and len(t.surface) >= 4 and t.surface not in _NOT_CATEGORY \
                        and _singular(t.surface) not in _PEOPLE:
                    firsts.add(_singular(t.surface))
                break
        return frozenset(w for w in firsts if sum(w in ws for ws in seen) >= 2)

    def _keys(self, c: _Compiled, text: str, drop: frozenset[str] = frozenset(), bare: bool = False) -> list[_Key]:
        keys: list[_Key] = []
        seen: set[tuple[str, bool]] = set()
        for a, b in split_sentences(text) or [(0, len(text))]:
            for t in self._tokens(c, text[a:b]):
                if t.skip or t.stem in drop or t.cont:
                    continue
                if not bare and ((t.surface in STOPWORDS and not t.quantity) or t.surface in _GENERIC):
                    continue
                if len(t.surface) < 2 and not t.quantity:
                    continue
                if (t.stem, t.neg, t.gloss) in seen:
                    continue
                seen.add((t.stem, t.neg, t.gloss))
                concepts = frozenset((g, n != t.neg) for g, n in t.concepts)
                key = _Key(t.stem, t.neg, concepts, t.gloss, t.quantity, t.surface in STOPWORDS)
                if t.gloss >= 0:
                    if keys and keys[-1].gloss == t.gloss and keys[-1].parts:
                        last = keys[-1]
                        keys[-1] = _Key(last.stem, last.neg, last.concepts, last.gloss, "", False,
                                        last.parts + (key,))
                    else:
                        keys.append(_Key(f"g{t.gloss}", t.neg, frozenset(), t.gloss, "", False, (key,)))
                    continue
                keys.append(key)
        if not keys and not bare:
            return self._keys(c, text, drop, bare=True)
        return keys

    def _compile_point(self, c: _Compiled, mp: MarkingPoint, prompt_tokens: list[Token],
                       prompt_stems: frozenset[str], prompt_sentences: list[list[Token]]) -> _Point:
        # Examples ("(such as pay, ...)", ", e.g. pay, ...") are not the point's idea: drop
        # them from its key words; a point that asks for an example accepts each of them.
        text = mp.text
        examples: list[str] = []
        for m in _EXAMPLES.finditer(text):
            examples += [e for e in re.split(r",|\bor\b|\band\b", m.group(2)) if e.strip()]
        text = _EXAMPLES.sub(" ", text).strip() or mp.text
        all_keys = self._keys(c, text)
        # the question's own words (or a term it names) are not evidence of the point
        keys = []
        for k in all_keys:
            if k.stem in prompt_stems and not k.quantity:
                continue
            if k.found(prompt_tokens):
                if k.parts or k.quantity:
                    continue
                # a synonym is in the prompt ("hang up" / "abandonment"): the word itself only
                k = _Key(k.stem, k.neg, k.concepts, k.gloss, k.quantity, k.surface_stop, (), True)
            keys.append(k)
        alternatives = list(mp.accept)
        if examples and re.search(r"\bexamples?\b", text, re.I):
            alternatives += [e.strip() for e in examples]
            keys = []  # "a valid example of X": only an example earns it, not naming X
        quantities = tuple(dict.fromkeys(k.quantity for k in all_keys
                                         if k.quantity and not k.neg and not k.quantity.startswith("n:")))
        accepts = []
        for phrase in alternatives:
            pk = self._keys(c, phrase)
            if not pk or all(k.surface_stop for k in pk):
                continue  # "will": only as a term in a list
            own = [k for k in pk if k.stem not in prompt_stems]
            if own and len(pk) > len(own) and 2 * len(own) >= len(pk):
                pk = own  # the learner need not repeat the question's words
            if any(_find(tuple(pk), ps, literal=len(pk) == 1) for ps in prompt_sentences):
                continue  # the prompt itself says this: echoing it earns nothing
            name_only = all(k.parts for k in pk) and any(not k.parts and k.stem not in _COMMON for k in keys)
            accepts.append(_Phrase(tuple(pk), phrase, name_only))
        terms = []
        m = _LABEL.match(mp.text)
        if m:
            label = m.group(1)
            names = [s for s in re.split(r"\(|\)|\bor\b|/|,", label) if s.strip()]
            names = [re.sub(r"^\s*[A-Za-z]\s+(?:is|=)\s+", "", s) for s in names]
            for name in names + list(mp.accept):
                pk = self._keys(c, name)
                if pk and len(pk) <= 3 and not _find(tuple(pk), prompt_tokens, literal=True):
                    terms.append(_Phrase(tuple(pk), name))
        is_example = bool(examples and re.search(r"\bexamples?\b", text, re.I))
        roles, category = self._roles(c, text, alternatives)
        return _Point(mp, tuple(keys), quantities, tuple(accepts), tuple(terms), roles=roles,
                      category=category if is_example else "", is_example=is_example and bool(category))

    def _roles(self, c: _Compiled, text: str, alternatives: list[str]) -> tuple[dict[str, tuple[str, str]], str]:
        """Who or what the point says each claim word of: the role named nearest before it."""
        roles: dict[str, tuple[str, str]] = {}
        category = ""
        for phrase in [text] + alternatives:
            s = self._sentence(c, phrase)
            if s is None:
                continue
            for pos, t in enumerate(s.words):
                r = s.roles[pos]
                if r is not None:
                    if r[0] == "category" and not category and phrase is text:
                        category = r[1]
                    continue
                for family in ("people", "category"):
                    got = s.role_before(pos, family)
                    if got is not None and t.stem not in roles:
                        roles[t.stem] = (family, got)
                        break
        return roles, category


def _role(c: _Compiled, t: Token) -> tuple[str, str] | None:
    """What a word names: a person's role ("callers" -> customer) or a point's category."""
    w = _singular(t.surface)
    if w in c.categories:
        return ("category", w)
    r = _PEOPLE.get(w)
    return ("people", r) if r else None


def _contradicts(cp: _Point, s: _Sentence) -> bool:
    """`s` negates a claim word of the point, or uses its opposite without the word itself."""
    opposite = False
    for k in cp.keys:
        if k.parts or k.quantity or k.stem in _COMMON:
            continue
        if k.found(s.words, s.index):
            return False  # the sentence says the point's own thing
        if (k.stem, not k.neg) in s.index.stems:
            opposite = True
        for g, neg in k.concepts:
            for og in OPPOSITES.get(g, ()):
                if (og, neg) in s.index.concepts:
                    opposite = True
    return opposite


def _expand_prefix(w: str, vocab: tuple[str, ...]) -> str:
    """'recog' -> 'recognition': a clipped word that starts words of one stem only."""
    i = bisect_left(vocab, w)
    found: list[str] = []
    while i < len(vocab) and vocab[i].startswith(w):
        if len(vocab[i]) >= len(w) + 2:
            found.append(vocab[i])
            if len(found) > 6:
                return w
        i += 1
    if not found or len({stem(f) for f in found}) != 1:
        return w
    return min(found, key=len)


def _split_compound(w: str, vocab: frozenset[str]) -> str:
    """'timebound' -> 'time bound' when both halves are words the question uses."""
    for i in range(3, len(w) - 2):
        if w[:i] in vocab and w[i:] in vocab:
            return f"{w[:i]} {w[i:]}"
    return ""


def _literal_map(words: list[Token]) -> dict[tuple[object, ...], list[int]]:
    """Where each word is, by what `_Key.same_word` compares: (stem, neg), glossary term, quantity."""
    out: dict[tuple[object, ...], list[int]] = {}
    for i, t in enumerate(words):
        if t.gloss >= 0:
            out.setdefault(("g", t.gloss, t.neg), []).append(i)
        if t.quantity:
            out.setdefault(("q", t.quantity, t.neg), []).append(i)
        else:
            out.setdefault(("s", t.stem, t.neg), []).append(i)
        for g, n in t.concepts:
            out.setdefault(("c", g, n != t.neg), []).append(i)
    return out


def _spots(keys: tuple[_Key, ...], words: list[Token], literal: bool, width: int = 0,
           where: dict[tuple[object, ...], list[int]] | None = None) -> list[int]:
    """Positions of all `keys` found close together among `words` (within a few words), or [].

    `where` (from `_literal_map(words)`) makes literal look-ups direct instead of a scan."""
    if not keys:
        return []
    spots: list[list[int]] = []
    for k in keys:
        if where is not None and (literal or not k.parts):
            if k.parts:
                pos = where.get(("g", k.gloss, k.neg), [])
            elif k.quantity:
                pos = where.get(("q", k.quantity, k.neg), [])
            else:
                pos = where.get(("s", k.stem, k.neg), [])
                if not literal and k.concepts and not k.literal:
                    extra = [p for c in k.concepts for p in where.get(("c",) + c, ())]
                    if extra:
                        pos = sorted(set(pos).union(extra))
        else:
            pos = [i for i, t in enumerate(words) if (k.same_word(t) if literal else k.matches(t))]
        if not pos:
            return []
        spots.append(pos)
    if len(spots) == 1:
        return spots[0][:1]
    width = width or 3 * len(keys) + 2
    for anchor in spots[0]:
        used = [anchor]
        for s in spots[1:]:
            # the nearest word not already used by another key: one word is one key
            free = [p for p in s if p not in used and abs(p - anchor) <= width]
            if not free:
                break
            used.append(min(free, key=lambda p: abs(p - anchor)))
        else:
            return used
    return []


def _find(keys: tuple[_Key, ...], words: list[Token], literal: bool,
          where: dict[tuple[object, ...], list[int]] | None = None) -> bool:
    """All `keys` found among `words`, close together (within a few words of each other)."""
    return bool(_spots(keys, words, literal, where=where))


def grade(question: Question, answer: str, glossary: Glossary | None = None) -> Marking:
    """Grade one answer (convenience: builds a Grader each call; keep a Grader to reuse)."""
    return Grader(glossary or Glossary()).grade(question, answer)


__all__ = ["PointResult", "Marking", "Grader", "grade", "MAX_ANSWER_CHARS"]
