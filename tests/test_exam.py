"""Exam-aware scheduling: rising retention, the last week, the new-question pace, readiness."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import fsrs
import pytest

from bot.tutor.exam import (
    LAST_WEEK_DAYS,
    PEAK_RETENTION,
    ExamPlan,
    exam_due,
    mean_recall,
    new_per_day,
    readiness,
    target_retention,
)

PLAN = ExamPlan(date(2026, 4, 1), "Europe/London")


@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 3, 1), 0.90),   # a month out: the usual target
    (date(2026, 3, 18), 0.90),  # 14 days out: the ramp starts tomorrow
    (date(2026, 3, 25), 0.925),  # halfway up the ramp
    (date(2026, 4, 1), PEAK_RETENTION),  # the day itself
    (date(2026, 4, 2), 0.90),   # after the exam: back to normal
])
def test_the_retention_target_rises_in_the_last_fourteen_days(today: date, expected: float) -> None:
    assert target_retention(0.90, PLAN, today) == pytest.approx(expected)
    assert target_retention(0.90, None, today) == 0.90


def test_an_interval_past_the_exam_is_cut_back_into_its_last_week() -> None:
    now = datetime(2026, 3, 10, 9, tzinfo=timezone.utc)
    far = datetime(2026, 5, 1, tzinfo=timezone.utc)
    due = exam_due(far, now, card_id=12345, plan=PLAN)
    assert PLAN.starts - timedelta(days=LAST_WEEK_DAYS) <= due < PLAN.starts
    soon = now + timedelta(days=3)
    assert exam_due(soon, now, 1, PLAN) == soon  # lands before the exam: untouched
    inside = PLAN.starts - timedelta(days=2)
    assert exam_due(far, inside, 1, PLAN) == far  # reviewed inside the last week already
    assert exam_due(far, now, 1, None) == far


def test_the_pace_introduces_everything_fourteen_days_before_the_exam() -> None:
    today = date(2026, 3, 2)  # 30 days out: 17 days to the deadline, today included
    assert new_per_day(10, 30, PLAN, today) == 10  # the usual pace is enough
    assert new_per_day(10, 340, PLAN, today) == 20  # 340 / 17
    assert new_per_day(10, 25, PLAN, date(2026, 3, 30)) == 25  # late: all of it
    assert new_per_day(10, 0, PLAN, today) == 10
    assert new_per_day(10, 500, None, today) == 10


def test_readiness_counts_unmet_questions_as_forgotten() -> None:
    sched = fsrs.Scheduler(enable_fuzzing=False)
    now = datetime(2026, 3, 30, 9, tzinfo=timezone.utc)
    card, _ = sched.review_card(fsrs.Card(card_id=1, due=now), fsrs.Rating.Good, now)
    r = readiness(sched, [card], total=4, plan=PLAN)
    assert r.introduced == 1 and r.introduced_share == 0.25
    assert 0 < r.recall_on_day < 0.25


def test_recall_over_the_next_week_is_below_the_value_at_the_review() -> None:
    sched = fsrs.Scheduler(enable_fuzzing=False)
    now = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    card, _ = sched.review_card(fsrs.Card(card_id=1, due=now), fsrs.Rating.Again, now)
    assert float(sched.get_card_retrievability(card, now)) == pytest.approx(1.0)
    assert mean_recall(sched, card, now) < 0.9  # a card just failed does not read 100 %
