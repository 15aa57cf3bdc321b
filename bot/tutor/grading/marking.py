"""What grading returns: a `Marking` of `PointResult`s, each saying why it was decided.

Every point records the stage that decided it (`lexical`, `model`, `guard` or `none`), the rule
within that stage ("accept", "point-words", "swapped-definition", ...), a confidence in [0, 1]
that the decision is right, and `maybe`: the learned stage thinks the answer may cover the
point but is not sure enough to award it. A "maybe" is never a mark: the learner is told "your
answer may cover this; compare with the model answer", and the answer is worth a tutor's look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.tutor.bank import MarkingPoint, Question

__all__ = ["PointResult", "Marking", "MAX_ANSWER_CHARS", "LOW_CONFIDENCE"]

MAX_ANSWER_CHARS = 4096
# A decision less sure than this is borderline: shown first to a tutor reviewing marks.
LOW_CONFIDENCE = 0.6


@dataclass(frozen=True)
class PointResult:
    point: MarkingPoint
    earned: bool
    evidence: str  # the part of the learner's answer that earned it (or nearly did), "" if none
    stage: str = "none"     # lexical | model | guard | none
    rule: str = ""          # the rule within the stage: accept, point-words, negation, ...
    confidence: float = 1.0  # that this decision is right
    maybe: bool = False     # not earned, but the answer may cover it (a hint, never a mark)

    @property
    def borderline(self) -> bool:
        return self.confidence < LOW_CONFIDENCE

    def explain(self) -> str:
        verdict = "earned" if self.earned else ("may cover" if self.maybe else "not earned")
        why = f"{self.stage}:{self.rule}" if self.rule else self.stage
        flag = "  (borderline)" if self.borderline else ""
        ev = f"  <- {self.evidence!r}" if self.evidence else ""
        return f"{self.point.id}: {verdict} by {why}, confidence {self.confidence:.2f}{flag}{ev}"


@dataclass(frozen=True)
class Marking:
    question_id: str
    points: tuple[PointResult, ...]
    needed: int
    truncated: bool = False
    advice: str = ""  # a tip about the answer as a whole ("a list of terms: write a sentence each")

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
    def maybe_points(self) -> tuple[MarkingPoint, ...]:
        """Points not earned that the answer may cover: hints, and a reason for a tutor's look."""
        return tuple(r.point for r in self.points if r.maybe and not r.earned)

    @property
    def needs_review(self) -> bool:
        """A likely miss of the grader (a "maybe"), or a borderline mark: worth a tutor's look."""
        return any((r.maybe and not r.earned) or (r.earned and r.borderline) for r in self.points)

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
            "points": [{"id": r.point.id, "earned": r.earned, "evidence": r.evidence, "stage": r.stage,
                        "rule": r.rule, "confidence": round(r.confidence, 3), "maybe": r.maybe}
                       for r in self.points],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], question: Question) -> Marking:
        rows = {str(p["id"]): p for p in d.get("points", [])}
        results = []
        for mp in question.marking_points:
            row = rows.get(mp.id, {})
            results.append(PointResult(mp, bool(row.get("earned", False)), str(row.get("evidence", "")),
                                       str(row.get("stage", "none")), str(row.get("rule", "")),
                                       float(row.get("confidence", 1.0)), bool(row.get("maybe", False))))
        return cls(
            question_id=str(d.get("question_id", question.id)),
            points=tuple(results),
            needed=int(d.get("needed", question.points_needed)),
            truncated=bool(d.get("truncated", False)),
        )
