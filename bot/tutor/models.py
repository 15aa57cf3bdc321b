"""Typed records the core works with; the store reads and writes them (no SQL here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import fsrs

__all__ = ["Learner", "Arrival", "LearnerSettings", "CardRow", "Review", "Pending", "Reminder", "OutboxItem", "Cohort",
           "Broadcast"]


@dataclass(frozen=True)
class Learner:
    id: int
    channel: str
    external_id: str
    display_name: str
    chat_id: int | None
    created_at: datetime
    last_active_at: datetime | None
    active: bool


@dataclass(frozen=True)
class LearnerSettings:
    timezone: str
    new_per_day: int
    topics: tuple[str, ...] | None  # None: every topic
    paused_until: datetime | None = None
    exam_date: date | None = None  # their own assessment date (/exam); a cohort's otherwise


@dataclass(frozen=True)
class CardRow:
    learner_id: int
    question_id: str
    topic: str
    card: fsrs.Card
    due: datetime
    introduced_at: datetime
    reviews: int


@dataclass(frozen=True)
class Review:
    """One answer in the append-only review log, and the schedule it moved.

    Written by the engine (no `id` yet; `card_after` and `log` go with it, None for extra
    practice) and read back by the store with its `id` and whether "I was right" overrode it.
    """

    learner_id: int
    question_id: str
    topic: str
    kind: str  # free_text | choice
    reviewed_at: datetime
    rating: int | None  # fsrs.Rating; None for extra practice
    score: float
    hits: tuple[str, ...]
    misses: tuple[str, ...]
    answer: str
    extra: bool
    card_before: fsrs.Card | None
    due_after: datetime | None
    card_after: fsrs.Card | None = None  # written, not read back: the card row holds it
    log: fsrs.ReviewLog | None = None
    id: int | None = None
    overridden: bool = False


@dataclass(frozen=True)
class Pending:
    learner_id: int
    question_id: str
    mode: str  # due | new | extra
    asked_at: datetime
    poll_id: str | None = None


@dataclass(frozen=True)
class Arrival:
    """A learner as they act, read in one go: what answering needs without asking the store again.

    `pending` is the question they are answering (if any) and `card` their card for it (None:
    a new question, or nothing pending); `drafting` says a broadcast of theirs waits for its
    message; `backed_off` is their reminder as it was if it had backed off (activity resets it).
    """

    learner: Learner
    pending: Pending | None = None
    card: CardRow | None = None
    drafting: bool = False
    backed_off: Reminder | None = None


@dataclass(frozen=True)
class Reminder:
    learner_id: int
    local_time: str  # HH:MM
    timezone: str
    next_fire_at: datetime
    enabled: bool
    ignored: int  # reminders sent in a row with no activity since
    last_sent_at: datetime | None


@dataclass(frozen=True)
class OutboxItem:
    """One message waiting to go out through the paced sender (a reminder or a broadcast copy)."""

    id: int
    kind: str  # reminder | broadcast
    learner_id: int
    chat_id: int
    payload: dict[str, Any]
    attempts: int
    broadcast_id: int | None = None


@dataclass(frozen=True)
class Cohort:
    id: int
    name: str
    owner_id: int | None
    join_code: str
    created_at: datetime
    closed_at: datetime | None
    members: int
    exam_date: date | None = None  # members inherit it unless they set their own


@dataclass(frozen=True)
class Broadcast:
    id: int
    cohort_id: int | None
    tutor_id: int | None
    status: str  # draft | ready | sending | done | cancelled
    from_chat_id: int | None
    message_id: int | None
    summary: str
    progress_chat_id: int | None
    progress_message_id: int | None
    created_at: datetime
    finished_at: datetime | None
