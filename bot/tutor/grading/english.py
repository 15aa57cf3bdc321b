"""General English for the grader: normalisation, stems, numbers, sentences, tokens.

Nothing here knows about any particular question, and no vocabulary lives here: the words
(synonym groups, opposites, stop words, text-speak, negation cues, ...) are read from
`content/lexicon.yaml` (`bot.tutor.grading.lexicon`) and compiled into a `Vocab`. What stays
in code is the machinery of English:

- `normalise(text)`: lower case, symbols spelt out, contractions and text-speak expanded,
  British spellings mapped to one form (colour/color, organise/organize, centre/center);
- `stem(word)`: a light suffix stripper, so escalate / escalated / escalation agree;
- number words and quantities: "one month" = "1 month" = "a month", "eighty per cent" =
  "80%", "four out of five" = "80%", "20 secs" = "20 seconds";
- `tokenize(sentence)`: tokens with stems, negation scope, quantities and lexicon groups. A
  negation denies what follows it; a negated dismissal ("large print isn't really needed") and
  a dismissing predicate ("asking permission wastes time") deny their subject too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from bot.tutor.grading.lexicon import Lexicon, bundled_lexicon
from bot.tutor.grading.negation import deny_subject, dismissed_subjects, dismisses

__all__ = ["Token", "Vocab", "default_vocab", "normalise", "stem", "split_sentences", "tokenize", "lowered"]

# --------------------------------------------------------------------------- normalising

_SYMBOLS = [
    (re.compile(r"[\u2018\u2019\u201b\u2032`´]"), "'"),
    (re.compile(r"[\u201c\u201d\u201e\u2033]"), '"'),
    (re.compile(r"\s[\u2013\u2014]+\s|\s-+\s|\u2014"), " , "),  # a dash between words: a pause, like a comma
    (re.compile(r"[\u2013\u2014\u2212]"), " - "),
    (re.compile(r"->|=>|\u2192|\u27f6|\u21d2"), " leads to "),
    (re.compile(r"\u2260|!="), " is not "),
    (re.compile(r"\u2191"), " higher "),
    (re.compile(r"\u2193"), " lower "),
    (re.compile(r"\u00f7"), " divided by "),
    (re.compile(r"\u00d7"), " times "),
    (re.compile(r"(?<=\d)\s*%|%"), " percent "),
    (re.compile(r"&"), " and "),
    (re.compile(r"\+"), " and "),
    (re.compile(r"(?<![<>!=])=(?!=)"), " is "),
    (re.compile(r"\be\.g\.?(?=\s|$)|\beg\b|\bfor example\b|\bfor instance\b|\bsuch as\b"), " like "),
    (re.compile(r"\bi\.e\.?(?=\s|$)|\bie\b"), " that is "),
    (re.compile(r"\bw/in\b"), " within "),
    (re.compile(r"\bw/o\b"), " without "),
    (re.compile(r"\bw/(?=\s|[a-z])"), " with "),
    (re.compile(r"\bb/c\b"), " because "),
    (re.compile(r"\bper\s+cent\b|\bpct\b"), " percent "),
]

# Dotted abbreviations ("e.g.", "i.e.", "F.C.R.", "K.P.I.s"): their dots end no sentence.
_DOTTED = re.compile(r"(?<![^\W\d_])[A-Za-z](?:\.[A-Za-z](?![^\W\d_]))+\.?(?:(?<=\.)s\b)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_CONTRACTION_TAILS = re.compile(r"(?<=[a-z])'(s|re|ve|ll|d|m)\b")
_WORD = re.compile(r"\d+(?:[.,]\d+)?/\d+(?:[.,]\d+)?|\d+(?:\.\d+)?|[a-z]+(?:'[a-z]+)?|[,:()\-]")
_DIGIT_SUFFIX = re.compile(r"\b(\d+(?:\.\d+)?)([a-z]+)\b")


# Memoised pure functions of one word (no state, same answer every call): bounded, so a
# stream of unseen words costs at most ~65k entries each; shared by every Grader safely.
@lru_cache(maxsize=65536)
def _uk_us(word: str) -> str:
    """Map British and American spellings of one word to a single form (consistently)."""
    if len(word) < 5:
        return word
    w = word
    w = re.sub(r"isation(s?)$", r"ization\1", w)
    w = re.sub(r"is(e|es|ed|ing|er|ers)$", r"iz\1", w) if len(w) > 6 else w
    w = re.sub(r"ys(e|es|ed|ing|is)$", r"yz\1", w)
    w = re.sub(r"^(.{3,})our(s|ed|ing|ite|ites|able|er|ers|ful|ism)?$", r"\1or\2", w)
    w = re.sub(r"^(.{2,}[^aeiou])(t|b)re(s|d)?$", r"\1\2er\3", w)  # centre, fibre
    w = re.sub(r"^(.{3,})ell(ed|ing|er|ers)$", r"\1el\2", w)      # cancelled, travelling
    w = re.sub(r"^(.{3,})ogue(s?)$", r"\1og\2", w)                # catalogue, dialogue
    w = re.sub(r"mme(s?)$", r"m\1", w)                               # programme
    w = re.sub(r"ence(s?)$", r"ense\1", w) if w.endswith(("licence", "licences", "defence", "offence", "offences", "pretence")) else w
    w = re.sub(r"gement(s?)$", r"gment\1", w)                      # judgement
    w = w.replace("enquir", "inquir")
    return w


def normalise(text: str, v: Vocab | None = None) -> str:
    """Lower-case, spell out symbols and text-speak, expand contractions, unify spelling."""
    v = v or default_vocab()
    t = unicodedata.normalize("NFKC", text)
    if "." in t:
        t = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), t)  # "F.C.R." -> "FCR"
    t = t.lower()
    for pattern, repl in _SYMBOLS:
        t = pattern.sub(repl, t)
    t = _DIGIT_SUFFIX.sub(lambda m: m.group(1) + " " + m.group(2) if m.group(2) not in ("st", "nd", "rd", "th") else m.group(0), t)
    t = _THOUSANDS.sub("", t)  # "48,000" is one number
    # a decimal is one word ("0.7%", "3.5 hours"): its point ends no sentence and splits nothing
    words = re.findall(r"\d+\.\d+(?!\.?\d)|[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", t)
    out: list[str] = []
    for w in words:
        if w in v.contractions:
            out.append(v.contractions[w])
            continue
        if w.endswith("n't"):
            out.append(w[:-3] + " not")
            continue
        if "'" in w:
            w = _CONTRACTION_TAILS.sub("", w)
        w = v.textspeak.get(w, w)
        out.append(_uk_us(w) if w.isalpha() else w)
    return " ".join(out)


# --------------------------------------------------------------------------- stemming

_SUFFIXES = (
    "izations", "ization", "ational", "fulness", "iveness", "lessness",
    "ations", "ation", "itions", "ition", "utions", "ution", "ements", "ement", "ments", "ment",
    "nesses", "ness", "ables", "able", "ibles", "ible", "ators", "ator", "izers", "izer",
    "izing", "ized", "izes", "ize", "ities", "ity", "ively", "ive", "ists", "ist",
    "ances", "ance", "ences", "ence", "ants", "ant", "ents", "ent", "ical", "ial", "al",
    "ful", "ous", "ic", "ers", "er", "ors", "or", "ates", "ated", "ating", "ate",
)
_VOWELS = set("aeiouy")


@lru_cache(maxsize=65536)  # pure: see _uk_us
def stem(word: str) -> str:
    """A light stemmer: inflections, then one derivational suffix; consistent, not pretty."""
    w = word
    if len(w) <= 3 or not w.isalpha():
        return w
    # comparatives of -y adjectives: happier / happiest -> happy
    if w.endswith(("ier", "iest")) and len(w) > 5 and w not in ("cashier", "premier", "frontier", "barrier", "carrier"):
        w = w[: -3 if w.endswith("ier") else -4] + "y"
    # inflections
    if w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        w = w[:-1]
    for suf in ("ingly", "edly", "ing", "ed", "ly"):
        if w.endswith(suf) and len(w) - len(suf) >= 3 and _VOWELS & set(w[: -len(suf)]):
            if suf == "ly" and w.endswith("ply"):
                break
            w = w[: -len(suf)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz" and w[-1] not in _VOWELS:
                w = w[:-1]
            elif suf != "ly" and w.endswith(("at", "bl", "iz")):
                w += "e"
            break
    if w.endswith("i") and len(w) > 3:
        w = w[:-1] + "y"
    # lution -> lv (resolution/resolve, solution/solve)
    if w.endswith(("lution", "lutions")):
        return w[: w.rfind("lution")] + "lv"
    for suf, repl in (("fication", "f"), ("faction", "f"), ("fications", "f")):
        if w.endswith(suf):
            return w[: -len(suf)] + repl
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 4:
            w = w[: -len(suf)]
            break
    if w.endswith("y") and len(w) > 4:
        w = w[:-1]
    if w.endswith("e") and len(w) >= 4:
        w = w[:-1]
    return w


# --------------------------------------------------------------------------- numbers

_UNITS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "zero": 0, "nil": 0, "half": 0.5,
    "dozen": 12, "hundred": 100, "thousand": 1000, "once": 1, "twice": 2,
}
_TENS = {"twenty", "thirty", "forty", "fourty", "fifty", "sixty", "seventy", "eighty", "ninety"}

# unit word -> (dimension, size in the dimension's base unit)
UNIT_WORDS: dict[str, tuple[str, float]] = {
    "second": ("t", 1), "seconds": ("t", 1), "s": ("t", 1),
    "minute": ("t", 60), "minutes": ("t", 60), "m": ("t", 60),
    "hour": ("t", 3600), "hours": ("t", 3600), "h": ("t", 3600),
    "day": ("t", 86400), "days": ("t", 86400), "d": ("t", 86400),
    "week": ("t", 604800), "weeks": ("t", 604800),
    "month": ("t", 2592000), "months": ("t", 2592000),
    "year": ("t", 31536000), "years": ("t", 31536000),
    "percent": ("p", 1), "pence": ("gbp", 0.01), "p": ("gbp", 0.01), "pound": ("gbp", 1),
    "pounds": ("gbp", 1), "quid": ("gbp", 1),
}
# words the typo corrector must leave alone: "three" is a number, not a slip for "there"
NUMBER_WORDS = frozenset(_UNITS) | frozenset(w for w in UNIT_WORDS if len(w) > 1)


@dataclass(slots=True)
class Token:
    """One word of a sentence: its (normalised) surface form, stem and meaning."""

    surface: str
    stem: str
    index: int          # position in the sentence
    neg: bool = False   # under a negation cue (or a negative word such as "unhappy")
    concepts: tuple[tuple[int, bool], ...] = ()
    quantity: str = ""  # "t:2592000" for "one month", "p:80" for "80%", "n:3" for a bare 3
    gloss: int = -1     # glossary group id, if this token stands for a glossary phrase
    skip: bool = False  # a filler (stop word, punctuation) inside the sentence
    cont: bool = False  # continues a lexicon phrase begun by an earlier token ("hang *up*")
    low: bool = False   # negated by a decrease word before or after it ("lower *satisfaction*")


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


_DECIMAL = re.compile(r"\d+(?:\.\d+)?")


def _numbers(words: list[str], fillers: frozenset[str]) -> list[str]:
    """Turn number words into digits and quantities into single 'q:dim:value' words."""
    out: list[str] = []
    i = 0
    n = len(words)
    while i < n:
        w = words[i]
        val: float | None = None
        j = i
        if w[:1].isdigit() and _DECIMAL.fullmatch(w):
            val = float(w)
            j = i + 1
        elif w in _UNITS and w not in ("once", "twice") and not (w == "one" and not (i + 1 < n and (
                words[i + 1] in UNIT_WORDS or words[i + 1] in fillers or words[i + 1] == "out"
                or words[i + 1:i + 4] == ["and", "a", "half"]))):
            val = float(_UNITS[w])
            j = i + 1
            if w == "half" and j + 1 < n and words[j] in ("a", "an") and words[j + 1] in UNIT_WORDS:
                j += 1  # "half an hour" is 30 minutes
            if w in _TENS and j < n and words[j] in _UNITS and _UNITS[words[j]] < 10:
                val += _UNITS[words[j]]
                j += 1
            elif j < n and words[j] == "-" and j + 1 < n and words[j + 1] in _UNITS:
                val += _UNITS[words[j + 1]]
                j += 2
            if j < n and words[j] in ("hundred", "thousand") and val < 100:
                val *= _UNITS[words[j]]
                j += 1
        elif w in ("a", "an") and i + 1 < n and (words[i + 1] in UNIT_WORDS and words[i + 1] not in ("s", "m", "h", "d", "p", "percent")
                                                  or (words[i + 1] in fillers and i + 2 < n and words[i + 2] in ("month", "week", "day", "year", "hour", "minute"))):
            val = 1.0
            j = i + 1
        if val is None:
            out.append(w)
            i += 1
            continue
        if j + 2 < n and words[j] == "and" and words[j + 1] == "a" and words[j + 2] == "half" and val == int(val):
            val += 0.5  # "seven and a half" is 7.5
            j += 3
        if j < n and words[j] in ("k", "grand") and val < 1000:
            val *= 1000  # "72k", "six grand"
            j += 1
        # "four out of (every) five" -> 80 percent
        if j + 2 < n and words[j] == "out" and words[j + 1] == "of":
            k = j + 2
            if k < n and words[k] in ("every", "each", "all", "the"):
                k += 1
            if k < n:
                den = float(words[k]) if _DECIMAL.fullmatch(words[k]) else _UNITS.get(words[k])
                if den:
                    out.append(f"q:p:{_fmt(round(val * 100 / den, 1))}")
                    i = k + 1
                    continue
        k = j
        while k < n and words[k] in fillers and words[k] != "per" and k - j < 2:
            k += 1  # ("6,000 per month" is a rate, not 6,000 months)
        if k < n and words[k] in UNIT_WORDS and not (words[k] in ("m", "d", "p") and k != j):
            dim, size = UNIT_WORDS[words[k]]
            total = val * size
            i = k + 1
            if words[i:i + 3] == ["and", "a", "half"]:
                total += size / 2  # "an hour and a half"
                i += 3
            # "8 minutes 40 seconds", "an hour and five minutes": one duration, not "8 minutes"
            while dim == "t":
                a = i + (1 if i < n and words[i] == "and" else 0)
                more = (float(words[a]) if a < n and _DECIMAL.fullmatch(words[a])
                        else _UNITS.get(words[a]) if a < n and words[a] not in ("once", "twice", "half") else None)
                unit = UNIT_WORDS.get(words[a + 1]) if more is not None and a + 1 < n else None
                if more is None or unit is None or unit[0] != "t" or unit[1] >= size:
                    break
                size = unit[1]
                total += more * size
                i = a + 2
            out.append(f"q:{dim}:{_fmt(total)}")
            continue
        out.append(f"q:n:{_fmt(val)}")
        i = j
    return out


# --------------------------------------------------------------------------- sentences

_SENT_SPLIT = re.compile(r"(?<!\d)[.!?;]+(?![\d\"'\u201d\u2019])|[.!?;]+(?=\s|$)|\n+\s*(?:[-\u2022*]\s)?|^\s*[-\u2022*]\s")




def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (split on . ! ? ; new lines, bullets)."""
    spans: list[tuple[int, int]] = []
    start = 0
    dotted = [m.span() for m in _DOTTED.finditer(text)] if "." in text else []
    for m in _SENT_SPLIT.finditer(text):
        if dotted and text[m.start()] == "." and m.end() - m.start() == 1 and any(
                a <= m.start() < b for a, b in dotted):
            continue
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]



class Vocab:
    """A Lexicon compiled for reading: stems, group ids (by name), phrase look-ups.

    Built once per Lexicon (`Vocab.of`), shared by every Grader that uses that lexicon."""

    def __init__(self, lex: Lexicon) -> None:
        self.source = lex
        self.contractions = dict(lex.contractions)
        self.textspeak = dict(lex.textspeak)
        self.stopwords = frozenset(lex.stopwords)
        self.negations = frozenset(lex.negations)
        self.scope_breaks = frozenset(lex.scope_breaks)
        self.structure_words = frozenset(lex.structure_words)
        self.phrasal_objects = frozenset(lex.phrasal_objects)
        self.unit_fillers = frozenset(lex.unit_fillers)
        self.keep_words = frozenset(stem(w) for w in lex.keep_words)
        self.group_names: tuple[str, ...] = tuple(lex.synonyms)
        self.groups: tuple[tuple[str, ...], ...] = tuple(lex.synonyms.values())
        ids = {name: gid for gid, name in enumerate(self.group_names)}
        self.group_id = ids
        # phrase (as stems) -> ((group id, negated), ...)
        lexmap: dict[tuple[str, ...], list[tuple[int, bool]]] = {}
        for gid, group in enumerate(self.groups):
            for phrase in group:
                neg = phrase.startswith("!")
                words = tuple(stem(w) for w in normalise(phrase.lstrip("!"), self).split())
                lexmap.setdefault(words, [])
                if (gid, neg) not in lexmap[words]:
                    lexmap[words].append((gid, neg))
        self.lexicon: dict[tuple[str, ...], tuple[tuple[int, bool], ...]] = {k: tuple(x) for k, x in lexmap.items()}
        opp: dict[int, set[int]] = {}
        for a, b in lex.opposites:
            opp.setdefault(ids[a], set()).add(ids[b])
            opp.setdefault(ids[b], set()).add(ids[a])
        # group id -> ids of the groups that say the opposite
        self.opposites: dict[int, frozenset[int]] = {k: frozenset(x) for k, x in opp.items()}
        self.continuing = ids.get(lex.continuing, -1)
        self.before = ids.get(lex.before, -1)
        self.polar = frozenset(ids[n] for n in lex.polar)
        self.down_groups = frozenset(ids[n] for n in lex.decrease_groups)
        self.down_words = frozenset(stem(w) for w in lex.decrease_words)
        # multi-word lexicon phrases by their first stem, longest first
        phrases: dict[str, tuple[tuple[str, ...], ...]] = {}
        for k in sorted((k for k in self.lexicon if len(k) > 1), key=len, reverse=True):
            phrases[k[0]] = phrases.get(k[0], ()) + (k,)
        self.lex_phrases = phrases
        # every word of the lexicon's phrases, as written: real words, never "corrected"
        self.lex_words = frozenset(w for grp in self.groups for phrase in grp
                                   for w in normalise(phrase.lstrip("!"), self).split()
                                   if len(w) >= 4 and w.isalpha())
        self.common = frozenset(stem(w) for w in lex.common)
        self.generic = frozenset(lex.generic)
        self.people = {w: role for role, ws in lex.people.items() for w in ws}
        # named bodies (regulators, ombudsmen): name -> its phrases, normalised
        self.bodies = {name: tuple(normalise(p, self) for p in ps) for name, ps in lex.bodies.items()}
        self.time_limit_phrases = tuple(normalise(p, self) for p in lex.time_limit_phrases)
        self.negated_clause_words = frozenset(lex.negated_clause_words)
        self.predicate_verbs = frozenset(lex.predicate_verbs)
        self.limiting_words = frozenset(lex.limiting_words)
        self.dismissals = frozenset(lex.dismissals)
        self.dismissing_verbs = tuple(tuple(normalise(p, self).split()) for p in lex.dismissing_verbs)
        self.dismissing_words = tuple(tuple(normalise(p, self).split()) for p in lex.dismissing_words)
        self.dismissing_firsts = frozenset(p[0] for p in self.dismissing_verbs + self.dismissing_words if p)
        self.clause_breaks = frozenset(lex.clause_breaks)
        self.not_category = frozenset(lex.not_category)

    @staticmethod
    @lru_cache(maxsize=8)
    def of(lex: Lexicon) -> Vocab:
        return Vocab(lex)

    def concepts_of(self, stems: tuple[str, ...]) -> tuple[tuple[int, bool], ...]:
        """Lexicon groups (id, negated) that a word or phrase (as stems) belongs to."""
        return self.lexicon.get(stems, ())

    def is_down(self, t: Token) -> bool:
        return not t.skip and (t.stem in self.down_words or any(
            g in self.down_groups and not n for g, n in t.concepts))

    def is_polar(self, t: Token) -> bool:
        return not t.skip and t.gloss < 0 and any(g in self.polar and not n for g, n in t.concepts)


def default_vocab() -> Vocab:
    """The bundled lexicon (content/lexicon.yaml), compiled once on first use."""
    return Vocab.of(bundled_lexicon())


_DOWN_REACH = 4  # content words between the decrease and what it decreases


def _flip_first_polar(v: Vocab, tokens: list[Token], order: range, reach: int, allow_and: bool) -> bool:
    """Negate the first polar word in `order` before a scope break; True if one was found."""
    seen = 0
    for j in order:
        x = tokens[j]
        if x.skip or (x.surface in v.scope_breaks and not (allow_and and x.surface == "and")) \
                or x.surface in v.negations:
            return False
        if v.is_polar(x):
            x.neg = not x.neg
            x.low = True
            return True
        if x.surface not in v.stopwords:
            seen += 1
            if seen > reach:
                return False
    return False


def lowered(tokens: list[Token], v: Vocab | None = None) -> None:
    """"lower customer satisfaction", "morale drops": the polar word, negated (the decrease
    word is then part of it, not a word of its own)."""
    v = v or default_vocab()
    n = len(tokens)
    for i, t in enumerate(tokens):
        if not v.is_down(t) or t.cont:
            continue
        # forwards: "lower (the) customer satisfaction", "hurts team morale";
        # then backwards: "satisfaction drops", "morale will go down"
        if (_flip_first_polar(v, tokens, range(i + 1, n), _DOWN_REACH, allow_and=True)
                or _flip_first_polar(v, tokens, range(i - 1, -1, -1), 2, allow_and=False)):
            t.cont = True


_NEG_PREFIX = re.compile(r"^(un|dis|non)(?=[a-z]{4,})")


_PREDICATE_LINKS = frozenset(("and", "or", "that", "which", "who", "where", "when", "as", "than"))


def _continues_predicate(tokens: list[Token], n: int, v: Vocab) -> bool:
    """Inside a negated predicate, whether the break word at `n` goes on with it ("not written
    down *and* agreed", "not the work *that* an agent does") rather than begin a new clause
    ("not A, *and* it is B", "not A *because* ..."): a linking word not followed, within three
    words, by a predicate verb of its own."""
    if tokens[n].surface not in _PREDICATE_LINKS:
        return False
    return not any(x.surface in v.predicate_verbs for x in tokens[n + 1:n + 4])


def tokenize(sentence: str, known: frozenset[str] = frozenset(),
             correct: Callable[[str], str] | None = None, v: Vocab | None = None) -> list[Token]:
    """Tokens of one sentence, with stems, negation scope, quantities and lexicon groups.

    `known` is a set of stems; a word `un`+X / `dis`+X whose X stems into `known` (or the
    lexicon) is read as a negated X. `correct` maps a misspelt word to a known one.
    """
    v = v or default_vocab()
    words = normalise(sentence, v).split()
    if correct is not None:
        words = " ".join(correct(w) for w in words).split()
    words = _numbers(words, v.unit_fillers)
    tokens: list[Token] = []
    for w in words:
        if w.startswith("q:"):
            tokens.append(Token(w, w, len(tokens), quantity=w[2:]))
        elif w.isalnum():
            tokens.append(Token(w, stem(w), len(tokens)))
        else:
            tokens.append(Token(w, w, len(tokens), skip=True))
    # lexicon phrases (longest first), negative-prefix words
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.skip or t.quantity:
            i += 1
            continue
        matched = False
        for key in v.lex_phrases.get(t.stem, ()):
            size = len(key)
            span = tokens[i:i + size]
            if tuple(x.stem for x in span) != key:
                # a phrasal verb with its object inside: "start it back up", "let them know"
                if size < 2 or i + 1 >= len(tokens) or tokens[i + 1].surface not in v.phrasal_objects:
                    continue
                span = [tokens[i]] + tokens[i + 2:i + size + 1]
                if tuple(x.stem for x in span) != key:
                    continue
                tokens[i + 1].cont = True
            c = v.lexicon[key]
            for n, x in enumerate(span):
                x.concepts = x.concepts + c
                x.cont = x.cont or n > 0
            matched = True
            break
        own = v.lexicon.get((t.stem,))
        if own:
            t.concepts = t.concepts + own
        elif not matched:
            m = _NEG_PREFIX.match(t.surface)
            if m:
                root = stem(t.surface[m.end():])
                rc = v.lexicon.get((root,))
                if rc or root in known:
                    t.stem = root
                    t.concepts = rc or ()
                    t.neg = True
        i += 1
    # "keep recording", "kept talking": continuing, the opposite of stopping
    for n, t in enumerate(tokens[:-1]):
        if t.stem in v.keep_words:
            nxt = tokens[n + 1]
            if not nxt.skip and nxt.surface.endswith("ing") and len(nxt.surface) > 5:
                t.concepts = t.concepts + ((v.continuing, False),)
    for n, t in enumerate(tokens[:-1]):
        if t.stem == "first" and t.concepts:
            nxt = tokens[n + 1]
            if not nxt.skip and (nxt.quantity or nxt.surface not in v.stopwords):
                t.concepts = tuple(c for c in t.concepts if c[0] != v.before)
    dismissed_subjects(tokens, v)
    # negation scope: a cue negates the words after it up to a break or 4 content words;
    # "it is not true that ...", "not the case that ...": the whole clause after "that";
    # after a predicate verb ("is not", "should never") the whole predicate, to its clause's end
    scope = 0
    clause = False
    predicate = False
    for n, t in enumerate(tokens):
        if t.surface in v.negations:
            if n >= 2 and tokens[n - 1].surface in ("or", "/") and tokens[n - 2].surface in ("yes", "whether"):
                t.skip = True  # "a yes or no answer", "yes/no", "whether or not": no negation
                continue
            t.skip = True
            if n + 1 < len(tokens) and tokens[n + 1].surface in v.limiting_words:
                scope = 0  # "not only", "not just": affirmed
                continue
            scope = 4
            ahead = [x.surface for x in tokens[n + 1:n + 4]]
            clause = "that" in ahead and any(w in v.negated_clause_words for w in ahead[:ahead.index("that")])
            before = next((x for x in reversed(tokens[:n]) if not x.skip), None)
            predicate = not clause and before is not None and before.surface in v.predicate_verbs
            if predicate:
                scope = 40
                if before is not None and dismisses(tokens, n, v):
                    deny_subject(tokens, before.index, v)
            continue
        if clause and scope and t.surface == "that":
            scope = 12
            clause = False
            t.skip = True
            continue
        if t.skip and t.surface in (",", ":", "(", ")"):
            scope = 0
            continue
        if t.surface in v.scope_breaks:
            if not (predicate and scope and _continues_predicate(tokens, n, v)):
                scope = 0
                continue
        if scope and not t.skip:
            t.neg = not t.neg
            if t.surface not in v.stopwords:
                scope -= 1
    return tokens
