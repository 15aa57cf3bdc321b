"""What a session asks next among new questions, and in what order a choice's options appear.

Pure and deterministic: the same learner gets the same order every time (tests pin it),
two learners get different orders (a stable hash of the learner and the question).

The rules for new questions, in order:

1. **Interleave types.** Two free-text questions, then a choice one, and so on: at most
   two free-text questions in a row while a choice question remains in the learner's
   topics (typing on a phone is work, a quiz poll is a breather).
2. **Foundations first.** Within a type, a lower `level` (1 recall, 2 explain, 3 scenario)
   comes before a higher one, so definitions come before the scenarios that rest on them.
3. **Mix topics.** Among equals, the topic the learner has seen least.
4. **Spread learners.** Remaining ties fall to a per-learner hash, so a cohort does not all
   meet the same question on the same day.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence

from bot.tutor.bank import Question

__all__ = ["MAX_FREE_TEXT_RUN", "level_of", "next_new_question", "option_order"]

MAX_FREE_TEXT_RUN = 2


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest(), "big")


def level_of(question: Question) -> int:
    """The question's level: as the bank sets it, else choice 1, free text 2 (the bank's default)."""
    return question.level


def next_new_question(candidates: Sequence[Question], introduced: Sequence[Question],
                      learner_key: str) -> Question | None:
    """The next new question for a learner.

    `candidates` are the questions not yet introduced, in the learner's topics; `introduced`
    are the ones already introduced, oldest first (the recent run decides the type).
    """
    if not candidates:
        return None
    run = 0
    for q in reversed(introduced):
        if q.is_choice:
            break
        run += 1
    choices = [q for q in candidates if q.is_choice]
    typed = [q for q in candidates if not q.is_choice]
    pool: Sequence[Question] = candidates
    if choices and (run >= MAX_FREE_TEXT_RUN or not typed):
        pool = choices
    elif typed:
        pool = typed
    per_topic = Counter(q.topic for q in introduced)
    return min(pool, key=lambda q: (level_of(q), per_topic[q.topic], _digest(learner_key, q.id), q.id))


def option_order(learner_key: str, question_id: str, count: int) -> tuple[int, ...]:
    """A permutation of a choice question's option indexes, stable per learner and question.

    `order[i]` is the bank index of the option shown in position `i`.
    """
    order = list(range(count))
    random.Random(_digest("options", learner_key, question_id)).shuffle(order)
    return tuple(order)
