"""The lexical stage: which sentences of an answer state a marking point, and by which rule.

`Matcher(glossary, vocab)` compiles each question once (cached) into key words, accept phrases
and list terms, splits an answer into sentences (`bot.tutor.grading.english` does the English),
and `evidence(question, answer)` returns, per point, the first sentence that earns it and the
rule that did. How a point is earned, for each sentence of the answer:

1. **Accept phrases** (rule `accept`). Every key word of one of the point's `accept` phrases is
   found close together in one sentence (same stem, a glossary equivalent, an everyday synonym,
   a slip of one or two letters, or a word spelt as it sounds: "instrucshuns"), with the same
   polarity: "you don't need to reply within a month" does not match "a month".
2. **The point's own words** (rule `point-words`). Enough of the point text's key words (its
   content words, less those the prompt already uses) are found in one sentence, with the same
   polarity.
3. **Numbers.** A point or phrase that states a quantity ("72 hours", "80%") is only matched
   by the same quantity ("one month" = "1 month" = "30 days"; "two months" is not).
4. **Term lists** (rule `term`). A sentence with no structure at all (no verb, article or
   preposition: "Goal, Reality, Options, Will") is a list. In a list, an item earns a point only
   if it names the point's term (its label, "Goal: ..."), or the list is mostly items that each
   fully match an accept phrase; otherwise it is a bag of keywords and earns nothing. An answer
   that is only names, however punctuated ("Honesty. Realistic timescale. Updates. Process."),
   is a list too. A list answers only a prompt that asks to name or list things, and not when it
   names at least twice as many things as the prompt asks for (five or more; a prompt that gives
   no number, "name some ...", asks for as many as it has points): a shotgun. Such
   an answer is told why it earned nothing (`Matcher.advice`).

The question's own words never earn anything: key words the prompt uses are dropped, and an
accept phrase that the prompt itself matches is ignored. Role swaps ("callers hang up" vs
"agents hang up"), named terms inside a contradicted claim, and examples filed under the other
type are refused here; the other guards run after this stage (`bot.tutor.grading.guards`).
Run-on sentences are read in overlapping windows; two adjacent short sentences may be read
together (rule `pair`).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from rapidfuzz.distance import OSA
from rapidfuzz.process import extractOne

from bot.tutor.bank import Glossary, MarkingPoint, Question
from bot.tutor.grading.english import NUMBER_WORDS, Token, Vocab, default_vocab, lowered, normalise, split_sentences, stem, tokenize
from bot.tutor.grading.spans import (
    LIST_ITEMS, _ALNUM, _STEP, _WINDOW, _Compiled, _contradicts, _expand_prefix, _find, _Key, _pairs, _Phrase, _pieces, _Point,
    _role, _Sentence, _singular, _sound_index, _sounds_like, _split_compound, _spots, term_list_items,
)

_CACHE_SIZE = 512
# Share of the point text's key words one sentence must contain.
COVERAGE = 0.5


class Reading:
    """An answer read against one compiled question: its sentences (pairs built on demand)."""

    __slots__ = ("matcher", "compiled", "sentences", "_pairs", "memo")

    def __init__(self, matcher: Matcher, compiled: _Compiled, sentences: list[_Sentence]) -> None:
        self.matcher = matcher
        self.compiled = compiled
        self.sentences = sentences
        self._pairs: list[_Sentence] | None = None
        self.memo: dict[tuple[str, str], object] = {}  # per-sentence work the guards share across points

    def pairs(self) -> list[_Sentence]:
        if self._pairs is None:
            self._pairs = _pairs(self.sentences)
        return self._pairs


# "(7 x 45 minutes = 315 minutes)": an aside in a point's text (a calculation's working)
_ASIDES = re.compile(r"\([^()]*\)")
# "(e.g. pay, ...)", ", such as pay": examples; a whole word only ("likely" is no "like")
_EXAMPLES = re.compile(r"(\(\s*|,?\s*\b)(?:e\.g\.|(?:eg|for example|for instance|such as|like)\b)\s*([^()]*?)(?:\)|$)",
                       re.I | re.S)
# "Name the four drivers", "Give three ways", "List two": a prompt a list of terms can answer
# "name three ...", "give two ...", "what are the four ...": the prompt asks for a number of things
_ASKS = r"\b(?:name|list|give|state|identify|suggest|outline|describe|what are)\b(?:\W+[\w-]+){0,4}?\W+"
_LIST_PROMPT = re.compile(_ASKS + r"(?:two|three|four|five|six|seven|\d+|some|several)\b"
                          r"|\bstands? for\b|\beach letter\b|\bletters\b", re.I)  # an acronym spelt out
_COUNTS = re.compile(_ASKS + r"(two|three|four|five|six|seven|[2-9])\b", re.I)
_COUNT_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_SHOTGUN_ITEMS = 5  # a list of names this long, twice what the prompt asks for, is a shotgun
_LABEL = re.compile(r"^\s*(?:[A-Za-z]\s+(?:is|=|stands for)\s+)?([^:.;]{1,60}):")


def _asked_count(prompt: str) -> int:
    """How many things the prompt asks for ("give three ..."), or 0 if it says no number."""
    m = _COUNTS.search(prompt)
    if not m:
        return 0
    w = m.group(1).lower()
    return int(w) if w.isdigit() else _COUNT_WORDS[w]


class Matcher:
    """The lexical stage: compiles questions (cached) and finds the sentences that state a point."""

    def __init__(self, glossary: Glossary = Glossary(), vocab: Vocab | None = None) -> None:
        self.glossary = glossary
        self.v = vocab or default_vocab()
        phrases: dict[tuple[str, ...], int] = {}
        words: set[str] = set()
        canon: list[tuple[Token, ...]] = []
        for gid, group in enumerate(glossary.groups):
            # the canonical form: the first spelt-out phrase ("average handling time")
            full = [p for p in group if len(normalise(p, self.v).split()) >= 2
                    and all(w.isalpha() for w in normalise(p, self.v).split())
                    and max(len(w) for w in normalise(p, self.v).split()) >= 4]
            canon.append(tuple(t for t in tokenize(full[0] if full else group[0], v=self.v) if not t.skip))
            for phrase in group:
                ws = normalise(phrase, self.v).split()
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

    def compiled(self, question: Question) -> _Compiled:
        return self._compiled(question)

    def read(self, compiled: _Compiled, answer: str) -> Reading:
        """The answer's sentences, analysed once (shared by every point and stage)."""
        return Reading(self, compiled, self._sentences(compiled, answer))

    def advice(self, reading: Reading) -> str:
        """Why a list earned nothing, for the learner: the question asks to explain, or for
        fewer things than were listed. "" otherwise."""
        c, s = reading.compiled, reading.sentences
        if not s:
            return ""
        if s[0].shotgun:
            asks = f"asks for {c.asked_count}" if c.asked_count else f"has {len(c.points)} points"
            return (f"You listed {s[0].list_items} things and the question {asks}: "
                    f"give the {c.asked_count or len(c.points)} you are surest of, with a few words on each.")
        if not c.asks_for_list and (s[0].in_term_list or all(x.list_items >= LIST_ITEMS for x in s)):
            return "Your answer is a list of terms, and this question asks you to explain: write a sentence for each idea."
        return ""

    def candidates(self, reading: Reading, n: int) -> Iterator[tuple[_Sentence, str]]:
        """Each sentence (then each adjacent pair of short sentences) that states point `n`,
        in answer order, with the rule that matched: "term", "accept" or "point-words"."""
        c, cp = reading.compiled, reading.compiled.points[n]
        for s in reading.sentences:
            rule = self._earns(c, n, cp, s)
            if rule:
                yield s, rule
        if len(reading.sentences) > 1:
            # the point stated across two short sentences ("If agents rush, the issue
            # isn't fixed. So the customer rings back."): read each adjacent pair as one
            for s in reading.pairs():
                rule = self._earns(c, n, cp, s)
                if rule:
                    yield s, f"pair/{rule}"

    # ----------------------------------------------------------------- matching

    def _earns(self, c: _Compiled, n: int, cp: _Point, s: _Sentence) -> str:
        if s.in_term_list or s.list_items >= LIST_ITEMS:
            if not c.asks_for_list:
                return ""  # a list of terms answers "name three ...", not "explain why ..." ("ICO, 72 hrs" is terse, not a list)
            if s.shotgun:
                return ""  # "give two KPIs": six names at once is a shotgun, not an answer
        words = s.words
        if s.is_bag and not c.asks_for_list:
            return ""  # a bag of keywords answers no "explain" question, not even by naming a term
        for term in cp.terms:
            if _find(term.keys, words, literal=True, where=s.where):
                return "term"
        if s.is_bag:
            return ""
        for ph in cp.accepts:
            spot = _spots(ph.keys, words, literal=s.is_list or len(ph.keys) == 1, where=s.where)
            if not spot:
                continue
            if ph.name_only and not s.is_list and self._contradicted(c, s):
                continue  # "keep recording, PCI DSS says so": the name inside a wrong claim
            if self._swapped(cp, s, [(k, p) for k, p in zip(ph.keys, spot)]):
                continue
            return "accept"
        if s.is_list or not cp.keys:
            return ""
        index = s.index
        for q in cp.quantities:
            if (q, False) not in index.quantities:
                return ""
        got = [k for k in cp.keys if k.found(words, index)]
        # a key whose synonym the prompt uses counts when said, and is not missed when not
        total = cp.required + sum(1 for k in got if k.literal)
        if len(got) < (2 if total >= 3 else 1):
            return ""
        if any(k.parts and k not in got for k in cp.keys):
            return ""  # the point names a term ("PCI DSS"): the answer must name it too
        if cp.roles and any(self._key_swapped(cp, s, k) for k in got):
            return ""  # a claim word said of someone or something else: a role swap
        if all(k.parts for k in got) and self._contradicted(c, s):
            return ""  # "keep recording, PCI DSS says so": the name inside a wrong claim
        have = sum(cp.weights[k] for k in got)
        ok = have >= COVERAGE * (cp.weight + have - sum(cp.weights[k] for k in got if not k.literal)) - 1e-9
        return "point-words" if ok else ""

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
            s.contra = frozenset(n for n, cp in enumerate(c.points) if _contradicts(self.v, cp, s))
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
        items = term_list_items(answer, self.v)
        if items:
            # asked for N things, given at least twice as many names (and five or more): a shotgun
            # (where the prompt gives no number, the points it has are what it asks for)
            asked = c.asked_count or len(c.points)
            shotgun = c.asks_for_list and items >= max(2 * asked, _SHOTGUN_ITEMS)
            for s in out:
                s.in_term_list, s.list_items, s.shotgun = True, items, shotgun
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
            if t.surface in self.v.clause_breaks:
                clause += 1
            words.append(t)
            clauses.append(clause)
            roles.append(_role(self.v, c, t))
        if not words:
            return None
        # (two durations, "10,000 min added, 14,000 saved, net 4,000 min", are a
        # calculation's results, not a list of terms)
        is_list = len(words) >= 2 and not any(
            t.surface in self.v.structure_words and t.stem not in c.term_words for t in tokens) \
            and sum(1 for t in words if t.quantity.startswith("t:")) < 2
        s = _Sentence(text, words, is_list, roles, clauses)
        s.is_bag = is_list and self._is_bag(c, words, s.where)
        s.tokens = tokens  # the guards read them again
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
        tokens = tokenize(text, c.known, lambda w: self._correct(c, w), self.v)
        tokens = self._glossed(tokens)
        lowered(tokens, self.v)
        if c.prompt_glosses:
            for t in tokens:
                if t.gloss in c.prompt_glosses:
                    t.skip = True  # the question's own term, restated: not evidence
        return tokens

    def _correct(self, c: _Compiled, w: str) -> str:
        """Map a misspelt word to a word the question uses (same first letter, one or two slips,
        a clipped word, or phone spelling with the same sound)."""
        if (len(w) < 3 or not w.isalpha() or w in c.vocab_set or w in self.v.stopwords or w in self.v.structure_words
                or w in NUMBER_WORDS):
            return w
        hit = c.corrections.get(w)
        if hit is not None:
            return hit
        fixed = w
        if stem(w) not in c.known and (stem(w),) not in self.v.lexicon:
            if len(w) == 4:
                # too many real short words are one slip from another; one that sounds the same is meant
                fixed = _sounds_like(w, c)
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
                    if fixed == w:
                        fixed = _sounds_like(w, c)
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
            vocab_words.update(w for w in normalise(t, self.v).split() if w.isalpha() and len(w) >= 3)
        vocab_words.update(self.v.lex_words)
        known = frozenset(stem(w) for w in vocab_words)
        vocab_set = frozenset(vocab_words)
        vocab = tuple(sorted(vocab_set))
        sounds = _sound_index(vocab)
        proto = _Compiled(q, (), frozenset(), known, vocab, vocab_set, sounds=sounds)
        prompt_sentences = [[t for t in self._tokens(proto, q.prompt[a:b]) if not t.skip]
                            for a, b in split_sentences(q.prompt)]
        prompt_tokens = [t for s in prompt_sentences for t in s]
        prompt_stems = frozenset(t.stem for t in prompt_tokens)
        categories = self._categories(proto, q, prompt_stems)
        given = frozenset(t.quantity for t in prompt_tokens if t.quantity)
        proto = _Compiled(q, (), frozenset(), known, proto.vocab, vocab_set, prompt_quantities=given,
                          categories=categories, sounds=sounds)
        points = []
        for mp in q.marking_points:
            points.append(self._compile_point(proto, mp, prompt_tokens, prompt_stems, prompt_sentences))
        # A key word shared by several points tells them apart less: weight 1/(points using it).
        df: dict[str, int] = {}
        for p in points:
            for st in {k.stem for k in p.keys}:
                df[st] = df.get(st, 0) + 1
        for i, p in enumerate(points):
            p.weights.update({k: (0.5 if k.common else 1.0) / df[k.stem] for k in p.keys})
            points[i] = replace(p, required=sum(1 for k in p.keys if not k.literal),
                                weight=sum(w for k, w in p.weights.items() if not k.literal))
        term_words = frozenset(k.stem for p in points for t in p.terms for k in t.keys if k.surface_stop)
        prompt_glosses = frozenset(t.gloss for t in prompt_tokens if t.gloss >= 0)
        lists = bool(_LIST_PROMPT.search(q.prompt))
        return _Compiled(q, tuple(points), prompt_stems, known, proto.vocab, vocab_set, term_words,
                         prompt_glosses, given, categories=categories, asks_for_list=lists, sounds=sounds,
                         asked_count=_asked_count(q.prompt))

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
                if t.quantity or t.surface in self.v.stopwords or t.surface in self.v.generic:
                    continue
                if t.stem not in prompt_stems and len(t.surface) >= 4 and t.surface not in self.v.not_category \
                        and _singular(t.surface) not in self.v.people:
                    firsts.add(_singular(t.surface))
                break
        return frozenset(w for w in firsts if sum(w in ws for ws in seen) >= 2)

    def _keys(self, c: _Compiled, text: str, drop: frozenset[str] = frozenset(), bare: bool = False) -> list[_Key]:
        keys: list[_Key] = []
        seen: set[tuple[str, bool, int]] = set()
        for a, b in split_sentences(text) or [(0, len(text))]:
            for t in self._tokens(c, text[a:b]):
                if t.skip or t.stem in drop or t.cont:
                    continue
                if not bare and ((t.surface in self.v.stopwords and not t.quantity) or t.surface in self.v.generic):
                    continue
                if len(t.surface) < 2 and not t.quantity:
                    continue
                if (t.stem, t.neg, t.gloss) in seen:
                    continue
                seen.add((t.stem, t.neg, t.gloss))
                concepts = frozenset((g, n != t.neg) for g, n in t.concepts)
                key = _Key(t.stem, t.neg, concepts, t.gloss, t.quantity, t.surface in self.v.stopwords,
                           common=t.stem in self.v.common)
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
                k = replace(k, parts=(), literal=True)
            keys.append(k)
        alternatives = list(mp.accept)
        if examples and re.search(r"\bexamples?\b", text, re.I):
            alternatives += [e.strip() for e in examples]
            keys = []  # "a valid example of X": only an example earns it, not naming X
        quantities = tuple(dict.fromkeys(k.quantity for k in all_keys
                                         if k.quantity and not k.neg and not k.quantity.startswith("n:")))
        # the prompt's sentences, and each two adjacent ones (an answer's pairs are read together)
        prompt_reads = prompt_sentences + [a + b for a, b in zip(prompt_sentences, prompt_sentences[1:])]
        accepts = []
        for phrase in alternatives:
            pk = self._keys(c, phrase)
            if not pk or all(k.surface_stop for k in pk):
                continue  # "will": only as a term in a list
            own = [k for k in pk if k.stem not in prompt_stems or k.quantity]  # numbers stay: "342/450 = 76%"
            if own and len(pk) > len(own) and 2 * len(own) >= len(pk) and not all(k.common or k.quantity for k in own):
                pk = own  # the learner need not repeat the question's words (but one common word is no idea)
            if any(_find(tuple(pk), ps, literal=len(pk) == 1) for ps in prompt_reads):
                continue  # the prompt itself says this: echoing it earns nothing
            name_only = all(k.parts for k in pk) and any(not k.parts and not k.common for k in keys)
            accepts.append(_Phrase(tuple(pk), phrase, name_only))
        terms = []
        lab = _LABEL.match(mp.text)
        if lab:
            label = lab.group(1)
            names = [s for s in re.split(r"\(|\)|\bor\b|/|,", label) if s.strip()]
            names = [re.sub(r"^\s*[A-Za-z]\s+(?:is|=)\s+", "", s) for s in names]
            for name in names + list(mp.accept):
                pk = self._keys(c, name)
                if pk and len(pk) <= 3 and not _find(tuple(pk), prompt_tokens, literal=True):
                    terms.append(_Phrase(tuple(pk), name))
        is_example = bool(examples and re.search(r"\bexamples?\b", text, re.I))
        roles, category = self._roles(c, text, alternatives)
        given = c.prompt_quantities
        main = _ASIDES.sub(" ", text)  # "(7 x 45 minutes = 315 minutes)" is the working, not the result
        results = tuple(dict.fromkeys(k.quantity for k in (self._keys(c, main) if main != text else all_keys)
                                      if k.quantity in quantities and k.quantity not in given))
        return _Point(mp, tuple(keys), quantities, tuple(accepts), tuple(terms), roles=roles, results=results,
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

