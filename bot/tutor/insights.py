"""What a set of reviews says: accuracy per topic and the marking points missed most (learner and cohort)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from bot.tutor.bank import QuestionBank
from bot.tutor.models import Review

__all__ = ["accuracy_by_topic", "top_missed_points"]


def accuracy_by_topic(bank: QuestionBank, reviews: Iterable[Review]) -> dict[str, tuple[int, int]]:
    """Topic title -> (right, answered). Full marks or an "I was right" override count as right."""
    titles = {t.slug: t.title for t in bank.topics}
    acc: dict[str, list[int]] = {}
    for r in reviews:
        a = acc.setdefault(titles.get(r.topic, r.topic), [0, 0])
        a[0] += int(r.score >= 1 or r.overridden)
        a[1] += 1
    return {t: (a[0], a[1]) for t, a in acc.items()}


def top_missed_points(bank: QuestionBank, reviews: Iterable[Review], n: int = 5) -> list[tuple[str, str, int]]:
    """(question prompt, marking point text, times missed), most missed first, for free-text reviews."""
    missed: Counter[tuple[str, str]] = Counter()
    for r in reviews:
        if r.kind == "free_text" and not r.overridden:
            missed.update((r.question_id, p) for p in r.misses)
    top: list[tuple[str, str, int]] = []
    for (qid, pid), count in missed.most_common():
        q = bank.get(qid)
        point = q.point(pid) if q else None
        if q and point:
            top.append((q.prompt, point.text, count))
            if len(top) == n:
                break
    return top
