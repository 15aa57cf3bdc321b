"""The Grader: lexical evidence, then guards, then (for points still open) the learned stage.

For each marking point:

1. **Lexical** (`evidence.Matcher`): the first sentence that states the point by a rule
   (accept phrase, the point's own words, a term in a list) *and that no guard objects to*
   earns it: stage `lexical`, confidence the rule's measured precision.
2. **Guards** (`guards`): a sentence the lexical stage matched but a guard vetoes (a definition
   said of the wrong term, a wrong number or body, ...) earns nothing; if every matching
   sentence was vetoed the point is refused with stage `guard` and the guard's name.
3. **Model** (`model`, when loaded): for points still open, the cross-encoder reads the point
   with the sentences no guard objects to; the point is earned only at a calibrated probability
   at or above the operating threshold (chosen under a false-credit budget, leave-questions-out);
   between the hint threshold and that, the point is a `maybe`: a hint, never a mark. A lexical
   mark the model's doubt head finds likely wrong becomes a `maybe` as well.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Literal

from bot.tutor.bank import Glossary, Question
from bot.tutor.grading import guards
from bot.tutor.grading.english import Vocab, default_vocab
from bot.tutor.grading.evidence import Matcher, Reading
from bot.tutor.grading.lexicon import Lexicon
from bot.tutor.grading.marking import MAX_ANSWER_CHARS, Marking, PointResult
from bot.tutor.grading.model import SemanticModel, load_default

__all__ = ["Grader", "grade"]

log = logging.getLogger(__name__)

# How often a lexical mark by each rule is right (measured leave-questions-out on the corpus by
# benchmarks/grading_quality.py; the model's manifest overrides these with its own figures).
RULE_CONFIDENCE = {"term": 0.84, "accept": 0.89, "point-words": 0.82}
_PAIR_PENALTY = 0.9
_NO_EVIDENCE_CONFIDENCE = 0.8


class Grader:
    """Grades free-text answers against marking points; caches compiled questions.

    `model`: a `model.SemanticModel`, `None` to load the committed one (unless GRADER_MODEL=off
    or onnxruntime is missing: then the lexical path, with a warning), or `False` for none."""

    def __init__(self, glossary: Glossary = Glossary(), lexicon: Lexicon | None = None,
                 model: SemanticModel | Literal[False] | None = None) -> None:
        self.glossary = glossary
        self.vocab: Vocab = Vocab.of(lexicon) if lexicon is not None else default_vocab()
        self.matcher = Matcher(glossary, self.vocab)
        if model is None:
            model = load_default()
        self.model: SemanticModel | None = model or None
        self.rule_confidence = dict(RULE_CONFIDENCE)
        if self.model is not None:
            self.rule_confidence.update(self.model.rule_confidence)

    def warm(self, questions: Iterable[Question]) -> int:
        """Compile free-text questions, and what the guards know of each, ahead of time (at
        start-up), so no learner waits for it."""
        questions = list(questions)
        n = self.matcher.warm(questions)
        for q in questions:
            if not q.is_choice:
                guards.warm(self.matcher.read(self.matcher.compiled(q), ""))
        return n

    def grade(self, question: Question, answer: str) -> Marking:
        truncated = len(answer) > MAX_ANSWER_CHARS
        if truncated:
            answer = answer[:MAX_ANSWER_CHARS]
        compiled = self.matcher.compiled(question)
        reading = self.matcher.read(compiled, answer)
        results: list[PointResult | None] = []
        open_points: list[int] = []
        earned: dict[int, PointResult] = {}
        for n, cp in enumerate(compiled.points):
            result = self._lexical(reading, n)
            results.append(result)
            if result is None:
                open_points.append(n)
            elif result.earned:
                earned[n] = result
        if self.model is not None and (open_points or earned) and reading.sentences:
            for n, r in self.model.decide(reading, open_points, earned).items():
                if r is not None:
                    results[n] = r
        final = [r if r is not None else PointResult(cp.point, False, "", "none", "no evidence",
                                                     _NO_EVIDENCE_CONFIDENCE)
                 for r, cp in zip(results, compiled.points)]
        advice = "" if any(r.earned for r in final) else self.matcher.advice(reading)
        return Marking(question.id, tuple(final), question.points_needed, truncated, advice)

    def _lexical(self, reading: Reading, n: int) -> PointResult | None:
        cp = reading.compiled.points[n]
        vetoed: tuple[str, str] | None = None
        for s, rule in self.matcher.candidates(reading, n):
            objection = guards.objection(reading, n, s, rule, stage="lexical")
            if objection:
                vetoed = vetoed or (objection, s.text)
                continue
            base = rule.split("/")[-1]
            conf = self.rule_confidence.get(base, 0.85) * (_PAIR_PENALTY if rule.startswith("pair/") else 1.0)
            return PointResult(cp.point, True, s.text, "lexical", rule, conf)
        if vetoed:
            return PointResult(cp.point, False, vetoed[1], "guard", vetoed[0], guards.CONFIDENCE.get(vetoed[0], 0.8))
        return None


_SHARED: OrderedDict[tuple[int, ...], Grader] = OrderedDict()


def grade(question: Question, answer: str, glossary: Glossary | None = None) -> Marking:
    """Grade one answer with a shared Grader (one per glossary, kept; questions cached inside)."""
    key = (id(glossary),) if glossary is not None else ()
    g = _SHARED.get(key)
    if g is None or (glossary is not None and g.glossary is not glossary):
        g = Grader(glossary or Glossary())
        _SHARED[key] = g
        while len(_SHARED) > 8:
            _SHARED.popitem(last=False)
    return g.grade(question, answer)
