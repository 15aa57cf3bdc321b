"""What the lexical stage works on: a question compiled into key words and phrases, an answer
read into sentences, and how key words are found close together in a sentence.

`evidence.Matcher` builds these (`_Compiled` per question, `_Sentence` per sentence); the guards
and the learned stage read them. Everything here is data and pure functions.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache

from jellyfish import metaphone
from rapidfuzz.distance import OSA

from bot.tutor.bank import MarkingPoint, Question
from bot.tutor.grading.english import Token, Vocab, normalise, split_sentences, stem

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
    common: bool = False   # a word of almost every question (lexicon `common`): weak evidence

    def matches(self, t: Token) -> bool:
        if self.parts:
            return (t.gloss == self.gloss and t.neg == self.neg) or any(
                p.part_of_name(t) for p in self.parts if not p.common)
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
        own = [p for p in self.parts if not p.common] or list(self.parts)
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


LIST_ITEMS = 4  # items from which a list is a list of terms, not a terse answer
_ITEM_WORDS = 4  # words in one item of a list of terms
_OTHER_SHARE = 5  # at most one item in this many may be other than a name
_ITEM_SPLIT = re.compile(r"[,;.\n\u2022]+|^\s*-\s", re.M)
_SLASHES = re.compile(r"\s/\s")  # "SAR / portability / consent / ...": a list written with slashes
_BULLET = re.compile(r"^[ \t]*[-*\u2022][ \t]+", re.M)  # "- FOS" at a line's start: a bullet, not "X - Y"
# an item that says something of a name: "= ASA", "talk + hold", "Health - dementia", "(e.g. ...)"
_CLAIM_SIGNS = re.compile(r"[=+:<>()\u2192\u2013\u2014]|\s-\s|\d\s*%|\b(?:e\.?g|eg|for example|such as|like)\b", re.I)
_PRONOUNS = frozenset(("i", "you", "we", "they", "he", "she", "it", "this", "there", "my", "our", "your"))


def term_list_items(answer: str, v: Vocab) -> int:
    """The answer is a list of terms and nothing else: at least LIST_ITEMS items (split at
    commas, semicolons, full stops, new lines and bullets, and at slashes when they run through
    the whole answer), each a name of at most _ITEM_WORDS words with no verb, pronoun or link
    of a claim ("Honesty, realistic timescale, five working days, process, updates";
    "Measurable. Time-bound. SMART. Deadline."; "- FOS\n- final response\n- free\n- 8 wks").
    "Queue 40s = ASA, excluded" and "talk + hold + ACW" are claims, not names. One item in
    five may be a capitalised word that is also a verb or a pronoun ("Will" in a list of
    GROW's stages, "IT"). The number of items, or 0."""
    if len(_SLASHES.findall(answer)) >= LIST_ITEMS - 1:
        answer = _SLASHES.sub(", ", answer)  # (one " / " among sentences is "this / that")
    if sum(answer.count(ch) for ch in ",;.\n\u2022") < LIST_ITEMS - 1 \
            or _CLAIM_SIGNS.search(_BULLET.sub("", answer)):
        return 0  # too few separators for four items, or a claim in it
    items = [x for x in _ITEM_SPLIT.split(answer) if _ALNUM.search(x)]
    if len(items) < LIST_ITEMS:
        return 0
    if any(len(item.split()) > 2 * _ITEM_WORDS for item in items):
        return 0  # a sentence, not a name (before the cost of normalising)
    others = 0
    for item in items:
        words = [w for w in normalise(item, v).split() if w.isalnum()]
        if not words:
            return 0
        claim = any(w in v.predicate_verbs or w in v.clause_breaks or w in v.negations or w in _PRONOUNS
                    for w in words)
        if len(words) > _ITEM_WORDS or (claim and not (len(words) == 1 and item.strip()[:1].isupper())):
            return 0  # a verb, a negation or a pronoun: a claim ("Don't interrupt"), not a name
        if claim:  # a capitalised name that is also a verb or a pronoun ("Will", "IT")
            others += 1
            if others * _OTHER_SHARE > len(items) or len(items) - others < LIST_ITEMS:
                return 0
    return len(items)


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
        pair = _Sentence(f"{a.text} {b.text}", a.words + b.words, a.is_list and b.is_list,
                         a.roles + b.roles, a.clauses + [c + shift for c in b.clauses], (a.text, b.text))
        if a.in_term_list:
            pair.in_term_list, pair.list_items, pair.shotgun = True, a.list_items, a.shotgun
        out.append(pair)
    return out


def _singular(surface: str) -> str:
    if len(surface) > 4 and surface.endswith("s") and not surface.endswith("ss"):
        return surface[:-1]
    return surface


class _Sentence:
    """One sentence of an answer, analysed once: its words, what they name, its clauses."""

    __slots__ = ("text", "words", "is_list", "is_bag", "index", "roles", "clauses", "contra", "where", "parts",
                 "in_term_list", "list_items", "shotgun", "tokens")

    def __init__(self, text: str, words: list[Token], is_list: bool,
                 roles: list[tuple[str, str] | None], clauses: list[int],
                 parts: tuple[str, ...] = ()) -> None:
        self.text = text
        self.parts = parts or (text,)  # the sentences read as one (a pair's two), in order
        self.words = words
        self.is_list = is_list
        self.is_bag = False
        self.in_term_list = False  # the whole answer is a list of terms, sentence or not ("A. B. C. D.")
        self.list_items = len(set(clauses)) if is_list else 0  # items of the list it is in
        self.shotgun = False  # in a list of names at least twice as long as the prompt asks for
        self.where = _literal_map(words)
        self.index = _Index(words)
        self.roles = roles      # per word: ("people", "agent"), ("category", "hygiene") or None
        self.clauses = clauses  # per word: clause number within the sentence
        self.contra: frozenset[int] | None = None  # points this sentence contradicts (lazy)
        self.tokens: list[Token] | None = None  # every token of the sentence, punctuation included

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
    # the quantities it states that the prompt does not give: what a calculation works out
    # ("5 hours 15 minutes", "80%"), not what it starts from (bare numbers are not read so:
    # "times 100", "a half")
    results: tuple[str, ...] = ()


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
    prompt_quantities: frozenset[str] = frozenset()  # the quantities the prompt gives
    corrections: dict[str, str] = field(default_factory=dict, compare=False)
    categories: frozenset[str] = frozenset()  # terms that tell points apart ("hygiene", "motivator")
    asks_for_list: bool = True  # the prompt asks to name or list things: a list can answer it
    asked_count: int = 0  # how many things it asks for ("give three ..."), if it says
    sounds: dict[str, str] = field(default_factory=dict, compare=False)  # `_sound_index` of `vocab`



def _role(v: Vocab, c: _Compiled, t: Token) -> tuple[str, str] | None:
    """What a word names: a person's role ("callers" -> customer) or a point's category."""
    w = _singular(t.surface)
    if w in c.categories:
        return ("category", w)
    r = v.people.get(w)
    return ("people", r) if r else None


def _contradicts(v: Vocab, cp: _Point, s: _Sentence) -> bool:
    """`s` negates a claim word of the point, or uses its opposite without the word itself."""
    opposite = False
    for k in cp.keys:
        if k.parts or k.quantity or k.common:
            continue
        if k.found(s.words, s.index):
            return False  # the sentence says the point's own thing
        if (k.stem, not k.neg) in s.index.stems:
            opposite = True
        for g, neg in k.concepts:
            for og in v.opposites.get(g, ()):
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


@lru_cache(maxsize=65536)
def _sound(w: str) -> str:
    return metaphone(w)


def _sound_index(vocab: tuple[str, ...]) -> dict[str, str]:
    """Metaphone key -> the one word (or words of one stem) with it; "" where words of two stems share it."""
    out: dict[str, str] = {}
    for v in vocab:
        if len(v) >= 4:
            k = _sound(v)
            out[k] = "" if k in out and stem(out[k]) != stem(v) else out.get(k, v)
    return out


def _sounds_like(w: str, c: _Compiled) -> str:
    """'instrucshuns' -> 'instructions', 'polisy' -> 'policy': phone spelling, written as it sounds.

    The one word the question uses with the same Metaphone key, the same first letter and at most
    a third of its letters changed; otherwise `w` unchanged."""
    hit = c.sounds.get(_sound(w), "")
    if hit and hit[0] == w[0] and OSA.distance(w, hit) <= max(2, len(w) // 3):
        return hit
    return w


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
