"""The conversation with a pinned clock: due order, new-card limit, day boundary, streaks, override."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.store import Store
from bot.tutor.bank import MarkingPoint, Question, QuestionBank, QuestionType, Topic
from bot.tutor import buttons
from bot.tutor.actions import (
    Answer, CancelForget, Choose, ConfirmForget, Extra, Forget, Help, Next, NotText, Override, Remind, Start, Stats,
    Stop, ToggleTopic, Topics, Unknown, Who, question_key,
)
from bot.tutor.commands import parse_command
from bot.tutor.engine import Engine
from bot.tutor.replies import AskQuestion, Chart, Document, Feedback, Message
from bot.tutor.srs import Rating, Scheduler, day_bounds, learner_day, streaks

from tests.conftest import Clock

ANN = Who("shell", "ann", "Ann")


def free(qid: str, topic: str, *points: tuple[str, str], level: int = 0) -> Question:
    mps = tuple(MarkingPoint(pid, text) for pid, text in points)
    return Question(qid, topic, QuestionType.FREE_TEXT, f"Question {qid}: explain the idea.", mps,
                    model_answer=" ".join(t for _, t in points), explanation="Because.", unit="U", level=level)


def choice(qid: str, topic: str, level: int = 0) -> Question:
    return Question(qid, topic, QuestionType.CHOICE, f"Pick for {qid}", options=("Alpha", "Bravo", "Charlie"),
                    answer=1, explanation="Bravo it is.", unit="U", level=level)


def small_bank() -> QuestionBank:
    # a1 is a foundation (level 1), so every learner meets it first; b3 is a harder choice than a3.
    a = (free("a1", "ta", ("refund", "Offer the customer a full refund."), ("apology", "Apologise to the customer sincerely."),
              level=1),
         free("a2", "ta", ("escalate", "Escalate the complaint to a manager.")),
         choice("a3", "ta"))
    b = (free("b1", "tb", ("ico", "Report the breach to the regulator quickly.")),
         free("b2", "tb", ("record", "Record the call details on the system.")),
         choice("b3", "tb", level=2))
    return QuestionBank((Topic("ta", "Topic A", "U", a), Topic("tb", "Topic B", "U", b)))


@pytest.fixture
def engine(store: Store, clock: Clock) -> Engine:
    return Engine(small_bank(), store, clock=clock, new_per_day=3)


def ask(replies: list) -> AskQuestion:  # type: ignore[type-arg]
    asks = [r for r in replies if isinstance(r, AskQuestion)]
    assert asks, replies
    return asks[0]


def answer_right(engine: Engine, who: Who = ANN) -> Feedback | Message:
    asked = ask(engine.handle(who, Next()))
    q = asked.question
    if q.is_choice:  # the learner taps where the keyed option is shown to them
        return engine.handle(who, Choose(question_key(q.id), asked.answer_position or 0))[0]  # type: ignore[return-value]
    return engine.handle(who, Answer(q.model_answer))[0]  # type: ignore[return-value]


def test_start_welcomes_mentions_privacy_and_asks_the_first_question(engine: Engine) -> None:
    replies = engine.handle(ANN, Start())
    assert isinstance(replies[0], Message) and "/privacy" in replies[0].text
    offer = replies[1]
    assert isinstance(offer, Message) and Remind("18:00") in [b.action for row in offer.buttons for b in row]
    assert ask(replies).header.startswith("New question")


def test_a_free_text_answer_is_marked_point_by_point(engine: Engine) -> None:
    assert ask(engine.handle(ANN, Next())).question.id == "a1"
    fb = engine.handle(ANN, Answer("I'd apologise sincerely to the customer"))[0]
    assert isinstance(fb, Feedback)
    assert fb.marking.hits == ("apology",) and not fb.marking.passed
    labels = [b.label for row in fb.buttons for b in row]
    assert labels == ["Next ▶", "I was right", "Stop"]


def test_new_questions_mix_topics_and_stop_at_the_daily_limit(engine: Engine, clock: Clock) -> None:
    seen = []
    for _ in range(3):
        asked = ask(engine.handle(ANN, Next()))
        q = asked.question
        seen.append(q.topic)
        engine.handle(ANN, Answer(q.model_answer) if not q.is_choice else Choose(question_key(q.id), 1))
    assert seen == ["ta", "tb", "ta"]  # a1 (the foundation), the other topic, then a choice (a3 before b3)
    done = engine.handle(ANN, Next())[0]
    assert isinstance(done, Message) and "All done for now" in done.text
    assert [b.action for row in done.buttons for b in row][0] == Extra()


def test_due_reviews_come_first_most_overdue_first(engine: Engine, clock: Clock, store: Store) -> None:
    # Answer three questions wrongly at different times: all come back, the oldest first.
    order = []
    for _ in range(3):
        q = ask(engine.handle(ANN, Next())).question
        order.append(q.id)
        engine.handle(ANN, Answer("no idea") if not q.is_choice else Choose(question_key(q.id), 0))
        clock.advance(minutes=20)
    clock.advance(days=1)
    again = [ask(engine.handle(ANN, Next())).question.id]
    engine.handle(ANN, Stop())
    lid = store.find_learner("shell", "ann").id  # type: ignore[union-attr]
    due = [c.question_id for c in sorted(store.cards(lid), key=lambda c: c.due)]
    assert again[0] == due[0] == order[0]


def test_the_day_starts_at_four_in_the_learners_time_zone() -> None:
    late = datetime(2026, 3, 3, 2, 30, tzinfo=timezone.utc)  # 02:30 London, 08:00 Kolkata
    assert learner_day(late, "Europe/London") == date(2026, 3, 2)
    assert learner_day(late, "Asia/Kolkata") == date(2026, 3, 3)
    ny = datetime(2026, 3, 3, 8, 59, tzinfo=timezone.utc)  # 03:59 in New York (EST)
    assert learner_day(ny, "America/New_York") == date(2026, 3, 2)
    start, end = day_bounds(date(2026, 3, 28), "Europe/London")  # clocks go forward in this day
    assert start == datetime(2026, 3, 28, 4, tzinfo=timezone.utc) and end == datetime(2026, 3, 29, 3, tzinfo=timezone.utc)


def test_new_card_limit_resets_at_four_local_not_midnight(store: Store, clock: Clock) -> None:
    eng = Engine(small_bank(), store, clock=clock, new_per_day=1, default_timezone="Asia/Kolkata")
    clock.now = datetime(2026, 3, 2, 22, 0, tzinfo=timezone.utc)  # 03:30 in Kolkata: still 1 March's day
    answer_right(eng)
    clock.now = datetime(2026, 3, 2, 22, 20, tzinfo=timezone.utc)  # 03:50: the learning step is due
    review = ask(eng.handle(ANN, Next()))
    assert review.header.startswith("Review")
    eng.handle(ANN, Answer(review.question.model_answer))
    assert isinstance(eng.handle(ANN, Next())[0], Message)  # no new question left today
    clock.now = datetime(2026, 3, 2, 22, 40, tzinfo=timezone.utc)  # 04:10: a new day
    assert ask(eng.handle(ANN, Next())).header.startswith("New question")


def test_streaks_count_days_and_quiet_days_do_not_break_them() -> None:
    tz = "Europe/London"
    at = lambda d, h=10: datetime(2026, 3, d, h, tzinfo=timezone.utc)  # noqa: E731
    # Day 1 and 2 revised; the card is next due on day 6, so days 3-5 are quiet; day 6 revised.
    events = [("q", at(1), at(2)), ("q", at(2), at(6)), ("q", at(6), at(20))]
    assert streaks(events, date(2026, 3, 6), tz).current == 3
    # Missing a day on which something was due breaks the streak.
    events = [("q", at(1), at(2)), ("q", at(3), at(4)), ("q", at(4), at(30))]
    s = streaks(events, date(2026, 3, 4), tz)
    assert (s.current, s.best) == (2, 2)
    # Today without a review yet does not break it; a late-night review counts for the day before.
    events = [("q", at(1), at(2)), ("q", at(3, 1), at(3))]  # 01:00 on the 3rd = 2 March's day
    assert streaks(events, date(2026, 3, 3), tz).current == 2


def test_i_was_right_re_rates_good_and_is_recorded(engine: Engine, store: Store) -> None:
    ask(engine.handle(ANN, Next()))
    fb = engine.handle(ANN, Answer("say sorry"))[0]
    assert isinstance(fb, Feedback)
    lid = store.find_learner("shell", "ann").id  # type: ignore[union-attr]
    due_before = store.card(lid, "a1").due  # type: ignore[union-attr]
    reply = engine.handle(ANN, Override(fb.review_id))[0]
    assert isinstance(reply, Message) and "counted that answer as right" in reply.text
    assert store.get_review(fb.review_id).overridden
    assert store.card(lid, "a1").due > due_before  # type: ignore[union-attr]
    again = engine.handle(ANN, Override(fb.review_id))[0]  # only once
    assert isinstance(again, Message) and "can't be changed" in again.text


def test_foreign_and_stale_overrides_change_nothing(engine: Engine, store: Store) -> None:
    ask(engine.handle(ANN, Next()))
    fb = engine.handle(ANN, Answer("no clue"))[0]
    assert isinstance(fb, Feedback)
    bob = Who("shell", "bob")
    refused = engine.handle(bob, Override(fb.review_id))[0]
    assert isinstance(refused, Message) and "can't be changed" in refused.text
    assert isinstance(engine.handle(ANN, Override(999999))[0], Message)
    assert not store.get_review(fb.review_id).overridden
    assert buttons.decode("override:abc") is None and buttons.decode("garbage") is None


def test_choice_answers_and_stale_choices(store: Store, clock: Clock) -> None:
    bank = QuestionBank((Topic("ta", "A", "U", (choice("c1", "ta"), choice("c2", "ta", level=2))),))
    eng = Engine(bank, store, clock=clock)
    asked = ask(eng.handle(ANN, Next()))
    assert asked.question.id == "c1" and [b.action for row in asked.buttons for b in row] == [
        Choose(question_key("c1"), pos) for pos in range(3)]  # buttons carry the position shown
    assert [b.label for row in asked.buttons for b in row] == [f"{i + 1}. {o}" for i, o in enumerate(asked.options)]
    wrong = eng.handle(ANN, Choose(question_key("c1"), asked.order.index(0)))[0]  # where "Alpha" is shown
    assert isinstance(wrong, Message) and wrong.text.startswith("❌ Not quite. The answer is: Bravo") and wrong.toast
    lid = store.find_learner("shell", "ann").id  # type: ignore[union-attr]
    [review] = store.reviews(lid)
    assert (review.question_id, review.kind, review.score, review.misses, review.answer) == (
        "c1", "choice", 0.0, ("correct",), "Alpha")
    again = eng.handle(ANN, Choose(question_key("c1"), 1))[0]  # the same button twice: answered already
    assert isinstance(again, Message) and "already been answered or has expired" in again.text
    assert ask(eng.handle(ANN, Next())).question.id == "c2"
    eng.handle(ANN, Stop())
    stale = eng.handle(ANN, Choose(question_key("c2"), 1))[0]  # stopped: the question has expired
    assert isinstance(stale, Message) and "already been answered or has expired" in stale.text
    assert len(store.reviews(lid)) == 1


def test_typed_option_number_answers_a_choice_question(store: Store, clock: Clock) -> None:
    bank = QuestionBank((Topic("ta", "A", "U", (choice("c1", "ta"),)),))
    eng = Engine(bank, store, clock=clock)
    asked = ask(eng.handle(ANN, Next()))
    reply = eng.handle(ANN, Answer(str((asked.answer_position or 0) + 1)))[0]  # the number shown beside it
    assert isinstance(reply, Message) and reply.text.startswith("✅")


def test_extra_practice_does_not_move_the_schedule(engine: Engine, store: Store, clock: Clock) -> None:
    answer_right(engine)
    lid = store.find_learner("shell", "ann").id  # type: ignore[union-attr]
    card = store.card(lid, "a1")
    q = ask(engine.handle(ANN, Extra()))
    assert q.header.startswith("Extra practice")
    fb = engine.handle(ANN, Answer("nothing"))[0]
    assert isinstance(fb, Feedback) and all(b.label != "I was right" for row in fb.buttons for b in row)
    assert store.card(lid, "a1") == card
    assert store.reviews(lid)[-1].extra


def test_topics_can_be_restricted(engine: Engine, store: Store) -> None:
    engine.handle(ANN, ToggleTopic("ta"))  # everything but ta
    lid = store.find_learner("shell", "ann").id  # type: ignore[union-attr]
    assert store.settings(lid).topics == ("tb",)
    for _ in range(2):
        q = ask(engine.handle(ANN, Next())).question
        assert q.topic == "tb"
        engine.handle(ANN, Answer(q.model_answer))
    topics_msg = engine.handle(ANN, Topics())[0]
    assert isinstance(topics_msg, Message) and "Topic B" in topics_msg.text


def test_stats_count_answers_and_survive_a_new_engine(store: Store, clock: Clock) -> None:
    eng = Engine(small_bank(), store, clock=clock)
    ask(eng.handle(ANN, Next()))
    eng.handle(ANN, Answer("apologise"))
    answer_right(eng)
    again = Engine(small_bank(), store, clock=clock)  # a restart
    replies = again.handle(ANN, Stats())
    text = replies[0].text  # type: ignore[union-attr]
    assert "Answered today: 2 · in total: 2" in text
    assert "Offer the customer a full refund." in text  # the point missed most
    chart = [r for r in replies if isinstance(r, Chart)][0]
    assert chart.stats.answered_total == 2 and chart.stats.reviews_per_day[-1][1] == 2


def test_privacy_export_and_forget(engine: Engine, store: Store) -> None:
    answer_right(engine)
    doc = engine.handle(ANN, parse_command("/mydata"))[0]  # type: ignore[arg-type]
    assert isinstance(doc, Document)
    data = json.loads(doc.data)
    assert data["learners"][0]["external_id"] == "ann" and len(data["reviews"]) == 1
    confirm = engine.handle(ANN, Forget())[0]
    assert isinstance(confirm, Message) and [b.action for row in confirm.buttons for b in row] == [ConfirmForget(), CancelForget()]
    assert store.find_learner("shell", "ann") is not None  # nothing erased before confirming
    engine.handle(ANN, ConfirmForget())
    assert store.find_learner("shell", "ann") is None


def test_stray_input_gets_help_never_an_error(engine: Engine) -> None:
    for action in (Unknown("/frobnicate"), Answer("hello?"), NotText("sticker"), Help(), parse_command("/pause x")):
        replies = engine.handle(ANN, action)  # type: ignore[arg-type]
        assert replies and all(isinstance(r, Message) for r in replies)
    sticker = engine.handle(ANN, NotText("sticker"))[0]
    assert "typed answers" in sticker.text  # type: ignore[union-attr]


def test_long_answers_are_graded_on_the_first_4096_characters(engine: Engine, store: Store) -> None:
    ask(engine.handle(ANN, Next()))
    fb = engine.handle(ANN, Answer("Apologise to the customer sincerely. " + "x" * 5000))[0]
    assert isinstance(fb, Feedback) and "4,096" in fb.note and "apology" in fb.marking.hits
    lid = store.find_learner("shell", "ann").id  # type: ignore[union-attr]
    assert len(store.reviews(lid)[-1].answer) == 4096


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["right", "wrong", "partial", "override", "extra", "skip"]),
                                st.integers(min_value=0, max_value=3000)), min_size=1, max_size=25))
def test_review_log_and_cards_stay_consistent(tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int]]) -> None:
    st_ = Store.open(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.sqlite3'}")
    clock = Clock(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    eng = Engine(small_bank(), st_, clock=clock, new_per_day=50)
    eng.handle(ANN, Start())
    last_feedback: Feedback | None = None
    for kind, minutes in steps:
        clock.advance(minutes=minutes)
        if kind == "override":
            if last_feedback is not None:
                eng.handle(ANN, Override(last_feedback.review_id))
            continue
        replies = eng.handle(ANN, Extra() if kind == "extra" else Next())
        asks = [r for r in replies if isinstance(r, AskQuestion)]
        if not asks or kind == "skip":
            continue
        q = asks[0].question
        if q.is_choice:
            eng.handle(ANN, Choose(question_key(q.id), 1 if kind == "right" else 0))
            last_feedback = None
        else:
            text = {"right": q.model_answer, "wrong": "no idea at all",
                    "partial": q.marking_points[0].text, "extra": q.model_answer}[kind]
            fb = eng.handle(ANN, Answer(text))[0]
            last_feedback = fb if isinstance(fb, Feedback) else None
    lid = st_.find_learner("shell", "ann").id  # type: ignore[union-attr]
    reviews = st_.reviews(lid)
    cards = {c.question_id: c for c in st_.cards(lid)}
    scheduled = [r for r in reviews if not r.extra]
    # Every scheduled review has a card; each card's count equals its scheduled reviews.
    assert set(cards) == {r.question_id for r in scheduled}
    for qid, card in cards.items():
        mine = [r for r in scheduled if r.question_id == qid]
        assert card.reviews == len(mine)
        assert card.introduced_at == mine[0].reviewed_at
        last = mine[-1]
        if not last.overridden:
            assert card.due == last.due_after
        else:
            assert card.due >= last.reviewed_at
        # Each review starts from the state the previous one left (the log chains): the first from a
        # new card, the next from the previous review's card after its rating ("I was right": Good).
        assert mine[0].card_before == Scheduler.new_card(qid, mine[0].reviewed_at)
        for prev, nxt in zip(mine, mine[1:]):
            assert prev.card_before is not None and prev.rating is not None and nxt.reviewed_at >= prev.reviewed_at
            rating = Rating.Good if prev.overridden else Rating(prev.rating)
            assert nxt.card_before == eng.scheduler.review(prev.card_before, rating, prev.reviewed_at)[0]
        assert last.card_before is not None and last.rating is not None
        rating = Rating.Good if last.overridden else Rating(last.rating)
        assert card.card == eng.scheduler.review(last.card_before, rating, last.reviewed_at)[0]
    st_.close()


def test_the_daily_new_question_limit_is_set_per_learner(engine: Engine, store: Store) -> None:
    engine.handle(ANN, parse_command("/daily 1"))  # type: ignore[arg-type]
    lid = store.find_learner("shell", "ann").id  # type: ignore[union-attr]
    assert store.settings(lid).new_per_day == 1
    answer_right(engine)
    assert isinstance(engine.handle(ANN, Next())[0], Message)  # the one new question is done
    assert "up to 1 new" in engine.handle(ANN, parse_command("/daily"))[0].text  # type: ignore[arg-type,union-attr]
    assert isinstance(parse_command("/daily 1000"), Unknown)


@pytest.mark.parametrize("text", ["/pause ²", "/daily ³", "/pause 99999999999999999999", "/leave ⁴", "/dashboard ½",
                                  "/remind 2³:00", "/join " + "x" * 500, "/timezone " + "y" * 300, "/start \x00"])
def test_odd_command_arguments_get_a_polite_answer(engine: Engine, text: str) -> None:
    replies = engine.handle(ANN, parse_command(text))  # type: ignore[arg-type]
    assert replies and all(isinstance(r, Message | AskQuestion) for r in replies)


@pytest.mark.parametrize("typed", ["²", "Ω", "é", "99999999999999999999", "b"])
def test_odd_replies_to_a_choice_question_never_raise(store: Store, clock: Clock, typed: str) -> None:
    bank = QuestionBank((Topic("ta", "A", "U", (choice("c1", "ta"),)),))
    eng = Engine(bank, store, clock=clock)
    ask(eng.handle(ANN, Next()))
    reply = eng.handle(ANN, Answer(typed))[0]
    assert isinstance(reply, Message)


def test_control_characters_in_an_answer_are_dropped_and_it_is_still_marked(engine: Engine, store: Store) -> None:
    ask(engine.handle(ANN, Next()))
    fb = engine.handle(ANN, Answer("Apologise\x00 to the customer\x07 sincerely."))[0]
    assert isinstance(fb, Feedback) and "apology" in fb.marking.hits
    lid = store.find_learner("shell", "ann").id  # type: ignore[union-attr]
    assert store.reviews(lid)[-1].answer == "Apologise to the customer sincerely."
