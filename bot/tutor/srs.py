"""Spaced repetition on top of `fsrs` (FSRS-6): ratings from markings, days, streaks, recall.

Pure functions and a thin `Scheduler` wrapper; every function takes `now` (aware datetimes).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import fsrs

from bot.tutor.exam import DAY_STARTS_AT, ExamPlan, Readiness, exam_due, mean_recall, readiness, target_retention
from bot.tutor.grading import Marking

__all__ = ["Rating", "Scheduler", "rating_for", "learner_day", "day_bounds", "Streaks", "streaks", "DAY_STARTS_AT"]

Rating = fsrs.Rating


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime (UTC)")
    return now.astimezone(timezone.utc)


def rating_for(marking: Marking | None = None, *, correct: bool | None = None) -> fsrs.Rating:
    """Full marks -> Good, partial -> Hard, nothing -> Again; a choice right -> Good, wrong -> Again."""
    if marking is None:
        if correct is None:
            raise ValueError("give a marking or correct=")
        return Rating.Good if correct else Rating.Again
    if marking.passed:
        return Rating.Good
    return Rating.Hard if marking.earned > 0 else Rating.Again


class Scheduler:
    """FSRS-6 with the learner's desired retention, on `fsrs.Card`s (the store serialises them).

    With an `ExamPlan` (`bot.tutor.exam`) a review aims at the exam day: the target retention
    rises over its last two weeks and an interval that would sleep through the day is cut
    back into its last week.
    """

    def __init__(self, desired_retention: float = 0.9) -> None:
        self.desired_retention = desired_retention
        self._by_target: dict[float, fsrs.Scheduler] = {}
        self._fsrs = self._target(desired_retention)

    def _target(self, retention: float) -> fsrs.Scheduler:
        key = round(retention, 4)
        if key not in self._by_target:
            # No fuzzing: the same answers at the same times give the same schedule (testable).
            self._by_target[key] = fsrs.Scheduler(desired_retention=key, enable_fuzzing=False)
        return self._by_target[key]

    @staticmethod
    def new_card(question_id: str, now: datetime) -> fsrs.Card:
        card_id = zlib.crc32(question_id.encode()) or 1
        return fsrs.Card(card_id=card_id, due=_aware(now))

    def review(self, card: fsrs.Card, rating: fsrs.Rating, now: datetime,
               plan: ExamPlan | None = None) -> tuple[fsrs.Card, datetime, fsrs.ReviewLog]:
        """Apply a rating: (the new card, its due time, the review log). `card` itself is not changed."""
        now = _aware(now)
        sched = self._fsrs
        if plan is not None:
            sched = self._target(target_retention(self.desired_retention, plan, learner_day(now, plan.timezone)))
        new, log = sched.review_card(card, rating, now)
        if plan is not None:
            new.due = exam_due(new.due, now, new.card_id, plan)
        return new, new.due, log

    def retrievability(self, card: fsrs.Card, now: datetime) -> float:
        return float(self._fsrs.get_card_retrievability(card, _aware(now)))

    def recall_ahead(self, card: fsrs.Card, now: datetime, days: int = 7) -> float:
        """The recall expected over the next `days` days: what a learner can count on, not the
        value at the moment of the last review (which reads 100 % for a card just failed)."""
        return mean_recall(self._fsrs, card, _aware(now), days)

    def readiness(self, cards: Iterable[fsrs.Card], total: int, plan: ExamPlan) -> Readiness:
        return readiness(self._fsrs, cards, total, plan)


def learner_day(moment: datetime, tz: str) -> date:
    """The learner's day for an instant: days start at 04:00 local time."""
    local = _aware(moment).astimezone(ZoneInfo(tz))
    return (local - timedelta(hours=DAY_STARTS_AT.hour, minutes=DAY_STARTS_AT.minute)).date()


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a learner's day (04:00 local to 04:00 local next day)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, DAY_STARTS_AT, zone)
    end = datetime.combine(day + timedelta(days=1), DAY_STARTS_AT, zone)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


@dataclass(frozen=True)
class Streaks:
    current: int
    best: int


@dataclass(frozen=True)
class _Event:
    question_id: str
    at: datetime
    due_after: datetime | None


def streaks(events: Iterable[tuple[str, datetime, datetime | None]], today: date, tz: str) -> Streaks:
    """Current and best streak of revision days.

    `events` are (question id, reviewed at, due after) for scheduled reviews. A day with a
    review extends the streak; a day without one breaks it only if something was due that
    day (a card whose latest due time fell before the day's end); a quiet day with nothing
    due neither breaks nor extends it. Today without a review yet does not break it.
    """
    evs = sorted((_Event(q, _aware(a), d) for q, a, d in events), key=lambda e: e.at)
    if not evs:
        return Streaks(0, 0)
    active_days = {learner_day(e.at, tz) for e in evs}
    first = min(active_days)
    # Walk the days once, tracking each card's due time as of the day's start.
    due: dict[str, datetime] = {}
    i = 0
    run = best = 0
    day = first
    current = 0
    while day <= today:
        start, end = day_bounds(day, tz)
        while i < len(evs) and evs[i].at < start:
            due_after = evs[i].due_after
            if due_after is not None:
                due[evs[i].question_id] = due_after
            i += 1
        if day in active_days:
            run += 1
        elif day == today:
            pass  # the day is not over
        elif any(d < end for d in due.values()):
            run = 0
        best = max(best, run)
        current = run
        day += timedelta(days=1)
    return Streaks(current, best)
