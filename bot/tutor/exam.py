"""Revision that aims at an exam day: retention that rises, intervals that land before the day.

FSRS schedules for a recall target with no end date; a learner revises for an assessment on
a known day. With an `ExamPlan` the schedule changes in three ways, all pure functions of
the plan and an injected `now`:

1. **The target rises.** The desired retention ramps from the learner's usual target (0.90)
   to `PEAK_RETENTION` (0.95) over the last `RAMP_DAYS` (14) days before the exam.
2. **Nothing sleeps through the day.** An interval that would end after the exam, set by a
   review before the exam's last `LAST_WEEK_DAYS` (7) days, is cut so the card comes back
   inside that last week (spread over its first five days by card, so the load is even).
3. **Everything is met in time.** The new-question pace rises so that every question in the
   learner's topics is introduced by `INTRODUCE_BY_DAYS` (14) days before the exam.

After the exam day the plan no longer applies and the schedule is the usual one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import fsrs


__all__ = [
    "RAMP_DAYS",
    "PEAK_RETENTION",
    "LAST_WEEK_DAYS",
    "INTRODUCE_BY_DAYS",
    "MAX_NEW_PER_DAY",
    "ExamPlan",
    "Readiness",
    "target_retention",
    "exam_due",
    "new_per_day",
    "readiness",
    "mean_recall",
    "parse_exam_date",
    "exam_plan",
]

RAMP_DAYS = 14
PEAK_RETENTION = 0.95
LAST_WEEK_DAYS = 7
INTRODUCE_BY_DAYS = 14
MAX_NEW_PER_DAY = 40  # a catch-up pace, however late the date was set
_SPREAD_DAYS = 5
DAY_STARTS_AT = time(4, 0)  # as Anki: a late-night session counts for the day before


@dataclass(frozen=True)
class ExamPlan:
    """A learner's exam day in their time zone."""

    day: date
    timezone: str

    @property
    def starts(self) -> datetime:
        """The start of the exam day (the learner's day starts at 04:00 local, as in `srs`), in UTC."""
        return datetime.combine(self.day, DAY_STARTS_AT, ZoneInfo(self.timezone)).astimezone(timezone.utc)

    def days_left(self, today: date) -> int:
        """Whole days from `today` (the learner's day) to the exam: 0 on the day itself."""
        return (self.day - today).days

    def applies(self, today: date) -> bool:
        return self.days_left(today) >= 0


def target_retention(base: float, plan: ExamPlan | None, today: date) -> float:
    """The desired retention for a review on `today`: `base`, rising to the peak near the exam."""
    if plan is None or not plan.applies(today):
        return base
    left = plan.days_left(today)
    peak = max(base, PEAK_RETENTION)
    if left >= RAMP_DAYS:
        return base
    return round(base + (peak - base) * (RAMP_DAYS - left) / RAMP_DAYS, 4)


def exam_due(due: datetime, now: datetime, card_id: int, plan: ExamPlan | None) -> datetime:
    """The due time to store: FSRS's `due`, cut back into the exam's last week where needed."""
    if plan is None:
        return due
    exam = plan.starts
    last_week = exam - timedelta(days=LAST_WEEK_DAYS)
    if now >= exam or due < exam or now >= last_week:
        return due  # after the exam, landing before it, or reviewed inside the last week already
    return last_week + timedelta(days=card_id % _SPREAD_DAYS, hours=1)


def new_per_day(base: int, remaining: int, plan: ExamPlan | None, today: date) -> int:
    """New questions allowed today: `base`, or more so all `remaining` are met in time."""
    if plan is None or not plan.applies(today) or remaining <= 0:
        return base
    days = plan.days_left(today) - INTRODUCE_BY_DAYS + 1  # today included
    needed = remaining if days <= 0 else math.ceil(remaining / days)
    return max(base, min(needed, MAX_NEW_PER_DAY))


@dataclass(frozen=True)
class Readiness:
    """How ready a learner is for the exam, predicted from their cards."""

    recall_on_day: float  # mean predicted recall on the exam day over the learner's questions
    introduced: int
    total: int

    @property
    def introduced_share(self) -> float:
        return self.introduced / self.total if self.total else 0.0


def _retrievability(scheduler: fsrs.Scheduler, card: fsrs.Card, at: datetime) -> float:
    return float(scheduler.get_card_retrievability(card, at.astimezone(timezone.utc)))


def readiness(scheduler: fsrs.Scheduler, cards: Iterable[fsrs.Card], total: int, plan: ExamPlan) -> Readiness:
    """Predicted recall on the exam day, averaged over `total` questions (unmet ones count 0)."""
    values = [_retrievability(scheduler, c, plan.starts) for c in cards]
    return Readiness(sum(values) / total if total else 0.0, len(values), total)


def mean_recall(scheduler: fsrs.Scheduler, card: fsrs.Card, now: datetime, days: int = 7) -> float:
    """The recall expected over the next `days` days (the mean of one reading a day)."""
    return sum(_retrievability(scheduler, card, now + timedelta(days=d)) for d in range(1, days + 1)) / days


MAX_YEARS_AHEAD = 2
_DATE_HELP = "Send it as /exam 2027-05-14 (year-month-day) or /exam 14/05/2027, or /exam off."


def parse_exam_date(text: str, today: date) -> date | str:
    """An exam date from a learner or tutor: the date, or a polite refusal saying why.

    Accepts ISO (`2027-05-14`) and the UK day-first form (`14/05/2027`, `14.05.2027`).
    Refuses dates in the past and more than two years ahead.
    """
    raw = text.strip()
    day: date | None = None
    try:
        if len(raw) == 10 and raw[4] == "-":
            day = date.fromisoformat(raw)
        elif len(raw) == 10 and raw[2] in "/." and raw[5] == raw[2]:
            day = date(int(raw[6:]), int(raw[3:5]), int(raw[:2]))
    except ValueError:
        day = None
    if day is None or not raw.isascii():
        return f"I couldn't read {raw[:20]!r} as a date. {_DATE_HELP}"
    if day < today:
        return f"{day:%d %B %Y} is in the past. {_DATE_HELP}"
    if (day - today).days > 365 * MAX_YEARS_AHEAD + 1:  # two years, leap day included
        return f"{day:%d %B %Y} is more than {MAX_YEARS_AHEAD} years away: set a date within two years."
    return day


def exam_plan(own: date | None, cohort_days: Iterable[date], tz: str, today: date) -> ExamPlan | None:
    """The exam a learner revises for: their own date, else their cohorts' next (or, all past, latest)."""
    if own is not None:
        return ExamPlan(own, tz)
    days = sorted(set(cohort_days))
    if not days:
        return None
    upcoming = [d for d in days if d >= today]
    return ExamPlan(upcoming[0] if upcoming else days[-1], tz)
