"""Spaced repetition on top of `fsrs` (FSRS-6): ratings from markings, days, streaks, recall.

Pure functions and a thin `Scheduler` wrapper; every function takes `now` (aware datetimes).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import fsrs

from bot.tutor.grading import Marking

__all__ = ["Rating", "Scheduler", "rating_for", "learner_day", "day_bounds", "Streaks", "streaks", "DAY_STARTS_AT"]

Rating = fsrs.Rating
DAY_STARTS_AT = time(4, 0)  # as Anki: a late-night session counts for the day before


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
    """FSRS-6 with the learner's desired retention, on `fsrs.Card`s (the store serialises them)."""

    def __init__(self, desired_retention: float = 0.9) -> None:
        # No fuzzing: the same answers at the same times give the same schedule (testable).
        self._fsrs = fsrs.Scheduler(desired_retention=desired_retention, enable_fuzzing=False)

    @staticmethod
    def new_card(question_id: str, now: datetime) -> fsrs.Card:
        card_id = zlib.crc32(question_id.encode()) or 1
        return fsrs.Card(card_id=card_id, due=_aware(now))

    def review(self, card: fsrs.Card, rating: fsrs.Rating, now: datetime) -> tuple[fsrs.Card, datetime, fsrs.ReviewLog]:
        """Apply a rating: (the new card, its due time, the review log). `card` itself is not changed."""
        new, log = self._fsrs.review_card(card, rating, _aware(now))
        return new, new.due, log

    def retrievability(self, card: fsrs.Card, now: datetime) -> float:
        return float(self._fsrs.get_card_retrievability(card, _aware(now)))


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
