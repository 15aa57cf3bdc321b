"""The content every replica marks with: the bank as applied in the chat, and accept wordings tutors taught.

`LiveContent.bank()` is the bundled bank merged with the live content version (question files
uploaded in the chat, stored in the database); `question(q)` is `q` with the learned accept
wordings of its marking points added (`dataclasses.replace` of each `MarkingPoint.accept`).
Both are refreshed from the store by version numbers, read at most every few seconds, so an
upload, a rollback or a learned wording reaches every replica without a restart; a write
made here calls `reload()` and is seen at once. The same overlaid `Question` object is
returned until something changes (graders that cache compiled questions by identity stay warm).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.errors import ContentError
from bot.tutor.bank import Question, QuestionBank, load_topic, merge_topics
from bot.tutor.ports import Marking

log = logging.getLogger(__name__)

__all__ = ["LiveContent", "CONTENT_EVERY", "LEARNED_EVERY"]

CONTENT_EVERY = timedelta(seconds=30)  # "every replica within a minute"
LEARNED_EVERY = timedelta(seconds=2)


class LiveContent:
    """The live bank and learned accepts, refreshed from `store` (see the module docstring)."""

    def __init__(self, base: QuestionBank, store: Marking, now: Callable[[], datetime], *,
                 content_every: timedelta = CONTENT_EVERY, learned_every: timedelta = LEARNED_EVERY) -> None:
        self.base = base
        self.store = store
        self.now = now
        self.content_every = content_every
        self.learned_every = learned_every
        self._lock = threading.Lock()
        self._bank = base
        self._version = 0
        self._learned: dict[str, dict[str, tuple[str, ...]]] = {}
        self._learned_version = -1
        self._overlaid: dict[str, Question] = {}
        self._content_checked: datetime | None = None
        self._learned_checked: datetime | None = None

    @property
    def version(self) -> int:
        """The content version this replica marks with (0: the bundled content)."""
        self.bank()
        return self._version

    def reload(self) -> None:
        """Read both versions again on the next call (after a write made here)."""
        self._content_checked = self._learned_checked = None

    def bank(self) -> QuestionBank:
        now = self.now()
        if self._content_checked is None or now - self._content_checked >= self.content_every:
            with self._lock:
                self._content_checked = now
                version = self.store.content_version()
                if version != self._version:
                    self._apply(version)
        return self._bank

    def _apply(self, version: int) -> None:
        cv = self.store.content(version) if version else None
        try:
            topics = [load_topic(text.encode("utf-8"), f"{slug}.yaml (version {version})")
                      for slug, text in (cv.topics.items() if cv else ())]
            bank = merge_topics(self.base, topics)
        except ContentError as exc:  # it was valid when applied: the loader changed since
            log.error("content version %s no longer loads; keeping version %s:\n%s", version, self._version, exc)
            return
        self._bank, self._version = bank, version
        self._overlaid = {}

    def titles(self) -> dict[str, str]:
        return {t.slug: t.title for t in self.bank().topics}

    def topic_order(self) -> list[str]:
        return [t.slug for t in self.bank().topics]

    def learned(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """question id -> marking point id -> learned wordings."""
        now = self.now()
        if self._learned_checked is None or now - self._learned_checked >= self.learned_every:
            with self._lock:
                self._learned_checked = now
                version = self.store.learned_version()
                if version != self._learned_version:
                    table: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
                    for la in self.store.learned_accepts():
                        table[la.question_id][la.point_id].append(la.wording)
                    self._learned = {q: {p: tuple(w) for p, w in ps.items()} for q, ps in table.items()}
                    self._learned_version = version
                    self._overlaid = {}
        return self._learned

    def question(self, question: Question) -> Question:
        """`question` with its learned accept wordings (the same object while nothing changed)."""
        learned = self.learned().get(question.id)
        if not learned:
            return question
        found = self._overlaid.get(question.id)
        if found is not None and found.source == question.source and found.prompt == question.prompt:
            return found
        found = overlay(question, learned)
        self._overlaid[question.id] = found
        return found


def overlay(question: Question, learned: dict[str, tuple[str, ...]]) -> Question:
    """`question` with `learned` (point id -> wordings) added to its points' accepts."""
    points = tuple(dataclasses.replace(p, accept=p.accept + tuple(w for w in learned.get(p.id, ()) if w not in p.accept))
                   for p in question.marking_points)
    return dataclasses.replace(question, marking_points=points)
