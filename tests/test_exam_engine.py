"""Revision that aims at the exam, through the engine: the first day, "show me", shuffles, exam dates."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from bot.store import Store
from bot.tutor.actions import (
    AddTutor, Answer, Choose, CohortExam, CohortExamSet, Dashboard, Join, NewCohort, Next, SetExam, ShowAnswer, Stats,
    Who, question_key,
)
from bot.tutor.bank import QuestionBank, load_bank
from bot.tutor.engine import Engine
from bot.tutor.exam import LAST_WEEK_DAYS, ExamPlan
from bot.tutor.replies import AskQuestion, DashboardData, Feedback, Message, Reply
from bot.tutor.session import MAX_FREE_TEXT_RUN
from bot.tutor.srs import Rating, learner_day

from tests.conftest import Clock

ROOT = Path(__file__).resolve().parent.parent
ANN = Who("shell", "ann", "Ann")
BEN = Who("shell", "ben", "Ben")


@pytest.fixture(scope="module")
def bundled() -> QuestionBank:
    return load_bank(ROOT / "content")


def one_topic(bank: QuestionBank, slug: str) -> QuestionBank:
    return QuestionBank(tuple(t for t in bank.topics if t.slug == slug), bank.glossary)


def asked(replies: list[Reply]) -> AskQuestion | None:
    return next((r for r in replies if isinstance(r, AskQuestion)), None)


def answer_right(engine: Engine, who: Who, ask: AskQuestion) -> list[Reply]:
    q = ask.question
    if q.is_choice:
        return engine.handle(who, Choose(question_key(q.id), ask.answer_position or 0))
    return engine.handle(who, Answer(q.model_answer))


def texts(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies if isinstance(r, Message))


def test_a_first_day_interleaves_types_and_shows_a_way_out(store: Store, clock: Clock, bundled: QuestionBank) -> None:
    engine = Engine(bundled, store, clock=clock, new_per_day=10)
    kinds = []
    for _ in range(10):
        ask = asked(engine.handle(ANN, Next()))
        assert ask is not None and ask.header.startswith("New question")
        kinds.append(ask.question.is_choice)
        if not ask.question.is_choice:  # every free-text question offers "I don't know — show me"
            assert [b.action for row in ask.buttons for b in row] == [ShowAnswer(question_key(ask.question.id))]
        answer_right(engine, ANN, ask)
    run = longest = 0
    for is_choice in kinds:
        run = 0 if is_choice else run + 1
        longest = max(longest, run)
    assert longest <= MAX_FREE_TEXT_RUN and sum(kinds) >= 3


def test_i_dont_know_shows_the_answer_and_rates_again(store: Store, clock: Clock, bundled: QuestionBank) -> None:
    engine = Engine(bundled, store, clock=clock)
    ask = asked(engine.handle(ANN, Next()))
    assert ask is not None and not ask.question.is_choice
    [fb] = engine.handle(ANN, ShowAnswer(question_key(ask.question.id)))
    assert isinstance(fb, Feedback) and fb.shown and fb.question.model_answer
    lid = store.find_learner("shell", "ann").id  # type: ignore[union-attr]
    [review] = store.reviews(lid)
    assert review.rating == int(Rating.Again) and review.score == 0 and review.answer == ""
    assert set(review.misses) == {p.id for p in ask.question.marking_points}
    card = store.card(lid, ask.question.id)
    assert card is not None and card.due < clock.now + timedelta(hours=1)  # comes back soon
    again = engine.handle(ANN, ShowAnswer(question_key(ask.question.id)))  # answered already
    assert "already been answered" in texts(again) and len(store.reviews(lid)) == 1


def test_choice_options_are_shuffled_per_learner_and_stable(store: Store, clock: Clock,
                                                            bundled: QuestionBank) -> None:
    choices = [q for q in bundled if q.is_choice][:1]
    bank = QuestionBank(tuple(dataclasses.replace(t, questions=tuple(q for q in t.questions if q in choices))
                              for t in bundled.topics if any(q in choices for q in t.questions)))
    engine = Engine(bank, store, clock=clock)
    orders = {}
    start = clock.now
    for n in range(8):
        clock.now = start
        who = Who("shell", f"l{n}")
        first = asked(engine.handle(who, Next()))
        assert first is not None and sorted(first.order) == list(range(len(first.question.options)))
        wrong = next(pos for pos in range(len(first.order)) if pos != first.answer_position)
        engine.handle(who, Choose(question_key(first.question.id), wrong))
        clock.advance(minutes=15)  # it comes back (a learning step): asked again in the same order
        again = asked(Engine(bank, store, clock=clock).handle(who, Next()))  # after a restart, even
        assert again is not None and again.header.startswith("Review") and again.order == first.order
        assert "✅ Correct!" in texts(answer_right(engine, who, again))
        orders[n] = first.order
    assert len(set(orders.values())) > 1


@pytest.mark.parametrize(("arg", "says"), [
    ("2026-02-01", "in the past"),
    ("2029-03-01", "more than 2 years"),
    ("next tuesday", "couldn't read"),
    ("2026-02-30", "couldn't read"),
    ("３０/05/2026", "couldn't read"),
])
def test_exam_dates_that_cannot_be_set_get_a_polite_refusal(store: Store, clock: Clock, bundled: QuestionBank,
                                                            arg: str, says: str) -> None:
    engine = Engine(bundled, store, clock=clock)
    reply = texts(engine.handle(ANN, SetExam(arg)))
    assert says in reply and "/exam 2027-05-14" in reply or "two years" in reply
    assert store.settings(store.find_learner("shell", "ann").id).exam_date is None  # type: ignore[union-attr]


def test_setting_an_exam_tells_the_pace_and_stats_count_down(store: Store, clock: Clock,
                                                              bundled: QuestionBank) -> None:
    engine = Engine(one_topic(bundled, "kpis"), store, clock=clock, new_per_day=1)
    reply = texts(engine.handle(ANN, SetExam("01/04/2026")))  # the clock is 2 March 2026
    assert "Wednesday 01 April 2026: 30 days to go" in reply
    assert "up to 2 new questions a day (your usual is 1)" in reply  # 20 questions over 17 days
    answer_right(engine, ANN, asked(engine.handle(ANN, Next())))  # type: ignore[arg-type]
    stats = texts(engine.handle(ANN, Stats()))
    assert "Exam in 30 days" in stats and "of your questions met so far" in stats and "5%" in stats
    assert "Exam in 30 days" in texts(engine.handle(ANN, SetExam("")))
    assert "cleared" in texts(engine.handle(ANN, SetExam("off")))
    assert "Exam in" not in texts(engine.handle(ANN, Stats()))


def test_an_exam_in_30_days_is_met_in_time_and_reviewed_in_its_last_week(sqlite_url: str, clock: Clock,
                                                                         bundled: QuestionBank) -> None:
    store = Store.open(sqlite_url)
    bank = one_topic(bundled, "kpis")
    engine = Engine(bank, store, clock=clock, new_per_day=1)
    start = clock.now
    engine.handle(ANN, SetExam((start + timedelta(days=30)).date().isoformat()))
    lid = store.find_learner("shell", "ann").id  # type: ignore[union-attr]
    tz = store.settings(lid).timezone
    plan = ExamPlan(start.date() + timedelta(days=30), tz)
    for day in range(30):
        clock.now = start + timedelta(days=day, hours=day % 5)  # a different hour each day
        for _ in range(60):
            ask = asked(engine.handle(ANN, Next()))
            if ask is None:
                break
            answer_right(engine, ANN, ask)
        if day == 16:
            assert len(store.cards(lid)) == len(bank.questions), "the whole topic is met by day 16"
    reviews = store.reviews(lid)
    last_week = plan.starts - timedelta(days=LAST_WEEK_DAYS)
    reviewed_late = {r.question_id for r in reviews if r.reviewed_at >= last_week}
    assert reviewed_late == set(bank.questions), "every card is reviewed in the exam's last week"
    assert all(r.score == 1 for r in reviews)
    assert learner_day(clock.now, tz) < plan.day
    store.close()


def test_a_cohort_exam_is_inherited_and_shown_on_the_dashboard(store: Store, clock: Clock,
                                                               bundled: QuestionBank) -> None:
    tutor = Who("telegram", "2", "Tom", chat_id=2)
    learner = Who("telegram", "4", "Lee", chat_id=4)
    engine = Engine(one_topic(bundled, "kpis"), store, clock=clock, admins={("telegram", "1")})
    engine.handle(Who("telegram", "1", "Ada", chat_id=1), AddTutor("2"))
    engine.handle(tutor, NewCohort("Spring"))
    [cohort] = store.cohorts()
    engine.handle(learner, Join(cohort.join_code))
    assert "in the past" in texts(engine.handle(tutor, CohortExam("2020-01-01")))
    assert "not a tutor" not in texts(engine.handle(tutor, CohortExam("2026-04-01")))
    assert store.cohort(cohort.id).exam_date.isoformat() == "2026-04-01"  # type: ignore[union-attr]
    refused = texts(engine.handle(learner, CohortExamSet(cohort.id, "2026-05-01")))  # a learner's forged button
    assert "only for tutors" in refused and store.cohort(cohort.id).exam_date.isoformat() == "2026-04-01"  # type: ignore[union-attr]
    answer_right(engine, learner, asked(engine.handle(learner, Next())))  # type: ignore[arg-type]
    assert "Exam in 30 days" in texts(engine.handle(learner, Stats()))  # inherited
    replies = engine.handle(tutor, Dashboard(cohort.id))
    data = next(r for r in replies if isinstance(r, DashboardData))
    assert data.exam is not None and data.exam.days_left == 30 and data.exam.introduced_share == pytest.approx(1 / 20)
    assert data.readiness_by_topic is not None and 0 < data.readiness_by_topic["KPIs and performance metrics"] < 0.1
    assert "Exam 01 April 2026 (in 30 days)" in texts(replies)
