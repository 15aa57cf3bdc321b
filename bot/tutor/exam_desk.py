"""The conversation about exam dates: `/exam`, the pace it sets, readiness, the countdown.

`ExamDesk` is composed into `Engine` (as `TutorDesk` is) and works from a small context;
the scheduling maths is `bot.tutor.exam`, pure. A learner's exam is their own date (`/exam`)
or, when they set none, their cohort's (`/cohortexam`, on the tutor's desk).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import fsrs

from bot.tutor.actions import SetExam
from bot.tutor.bank import QuestionBank
from bot.tutor.exam import INTRODUCE_BY_DAYS, ExamPlan, exam_plan, new_per_day, parse_exam_date
from bot.tutor.models import Learner, LearnerSettings
from bot.tutor.ports import TutorStore
from bot.tutor.replies import NEXT, ExamOutlook, Message, Reply, kb
from bot.tutor.srs import Scheduler, day_bounds, learner_day

__all__ = ["ExamDesk", "ExamContext", "exam_line"]


def exam_line(day: date, left: int) -> str:
    """The countdown: "Exam in 19 days (Friday 14 May 2027)."."""
    if left > 1:
        return f"Exam in {left} days ({day:%A %d %B %Y})."
    if left == 1:
        return f"Exam tomorrow ({day:%A %d %B})."
    if left == 0:
        return "Exam today: good luck!"
    return f"Your exam was on {day:%d %B %Y}."


@dataclass(frozen=True)
class ExamContext:
    store: TutorStore
    now: Callable[[], datetime]  # aware UTC
    bank: QuestionBank
    scheduler: Scheduler


class ExamDesk:
    def __init__(self, ctx: ExamContext) -> None:
        self.ctx = ctx
        self.store = ctx.store

    def _question_ids(self, settings: LearnerSettings) -> set[str]:
        topics = settings.topics
        return {q.id for q in self.ctx.bank if topics is None or q.topic in topics}

    def plan(self, learner: Learner, settings: LearnerSettings | None = None) -> ExamPlan | None:
        """The exam the learner revises for (their own date, else a cohort's), or None."""
        settings = settings or self.store.settings(learner.id)
        cohorts = [c.exam_date for c in self.store.cohorts(member_id=learner.id) if c.exam_date is not None]
        return exam_plan(settings.exam_date, cohorts, settings.timezone,
                         learner_day(self.ctx.now(), settings.timezone))

    def pace(self, learner: Learner, settings: LearnerSettings, today: date, introduced_today: int = 0) -> int:
        """New questions a day: the learner's own number, or more when an exam needs it.

        The pace is the day's: counted from what was left when the day began (`introduced_today`
        are back in the count), so it does not drop as the day's new questions are met.
        """
        plan = self.plan(learner, settings)
        if plan is None or not plan.applies(today):
            return settings.new_per_day
        seen = self.store.seen_questions(learner.id)
        remaining = len(self._question_ids(settings) - set(seen)) + introduced_today
        return new_per_day(settings.new_per_day, remaining, plan, today)

    def outlook(self, learner: Learner, settings: LearnerSettings, cards: Iterable[tuple[str, fsrs.Card]],
                due_today: int) -> ExamOutlook | None:
        """Days to the exam and readiness: predicted recall on the day over the learner's topics."""
        plan = self.plan(learner, settings)
        if plan is None:
            return None
        ids = self._question_ids(settings)
        ready = self.ctx.scheduler.readiness([c for qid, c in cards if qid in ids], len(ids), plan)
        return ExamOutlook(plan.day, plan.days_left(learner_day(self.ctx.now(), settings.timezone)),
                           ready.recall_on_day, ready.introduced_share, due_today)

    def set_exam(self, learner: Learner, action: SetExam) -> list[Reply]:
        settings = self.store.settings(learner.id)
        today = learner_day(self.ctx.now(), settings.timezone)
        arg = action.arg.strip().lower()
        if arg in ("off", "none", "clear"):
            self.store.update_settings(learner.id, exam_date=None)
            plan = self.plan(learner)
            after = (f" You still have your cohort's exam on {plan.day:%A %d %B %Y}." if plan and plan.applies(today)
                     else " Your schedule is back to normal.")
            return [Message("Your exam date is cleared." + after, kb([NEXT]))]
        if not arg:
            plan = self.plan(learner, settings)
            if plan is None:
                return [Message("No exam date is set. Send /exam 2027-05-14 and I'll pace your revision so "
                                "everything is covered, and reviewed, before the day.")]
            return [Message(exam_line(plan.day, plan.days_left(today)) + " /exam off clears your own date.",
                            kb([NEXT]))]
        day = parse_exam_date(action.arg, today)
        if isinstance(day, str):
            return [Message(day)]
        self.store.update_settings(learner.id, exam_date=day)
        settings = dataclasses.replace(settings, exam_date=day)
        start, end = day_bounds(today, settings.timezone)
        pace = self.pace(learner, settings, today, self.store.introduced_count(learner.id, start, end))
        total = len(self._question_ids(settings))
        deadline = day - timedelta(days=INTRODUCE_BY_DAYS)
        usual = f" (your usual is {settings.new_per_day})" if pace > settings.new_per_day else ""
        return [Message(
            f"Exam set for {day:%A %d %B %Y}: {(day - today).days} days to go. To meet all {total} questions in "
            f"your topics by {deadline:%d %B}, you'll get up to {pace} new questions a day{usual}. Reviews get "
            "more frequent in the last two weeks, and everything you've learned comes back in the last week.",
            kb([NEXT]), title="Exam date")]
