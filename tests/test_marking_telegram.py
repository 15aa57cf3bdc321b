"""The marking loop through the real Application against the fake Bot API, on SQLite and PostgreSQL.

A claim accepted for a point makes a second learner's identical answer earn it; a rejected claim
is reversed (card and stats); a generic wording is refused with the reason; a question file with
errors is refused naming each, a good one goes live without a restart, a rollback restores the bank.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.channels.telegram import build_application
from bot.store import Store
from bot.tutor.engine import Engine
from tests.fakebot import Call, FakeBotAPI, User, fakebot, running  # noqa: F401
from tests.test_engine import small_bank
from tests.test_telegram import fake, learner_id, press, say, settings_for, start  # noqa: F401

AMIRA = User(1001, "Amira", "Khan")
BEN = User(1002, "Ben")
TUTOR = User(2001, "Tess", "Tutor")
ANSWER = "I'd apologise sincerely and give them their money back in full."


def app_for(fake: FakeBotAPI, store: Store, clock: Any) -> Any:  # noqa: F811
    engine = Engine(small_bank(), store, clock=clock, admins={("telegram", str(TUTOR.id))})
    return build_application(settings_for(fake), engine)


async def cohort_with(fake: FakeBotAPI, *learners: User) -> None:  # noqa: F811
    [made] = await say(fake, TUTOR, "/newcohort Spring")
    assert "/join " in made.text, made.text
    code = made.text.rsplit("/join ", 1)[1].strip()
    for user in learners:
        await start(fake, user, f"/start {code}")


async def claim(fake: FakeBotAPI, user: User, answer: str = ANSWER) -> Call:  # noqa: F811
    [feedback] = await say(fake, user, answer)
    [data] = [d for _, d in feedback.buttons if d.startswith("override:")]
    await press(fake, user, data)
    return feedback


async def claims(fake: FakeBotAPI) -> list[Call]:  # noqa: F811
    """/claims: the heading, then one message per claim."""
    mark = fake.mark()
    fake.send_text(TUTOR, "/claims")
    [head] = await fake.wait_for("sendMessage", chat_id=TUTOR.id, since=mark)
    if "No claims are waiting" in head.text:
        return []
    assert "waiting, oldest first" in head.text, head.text
    n = int(head.text.split("\n", 1)[1].split()[0])
    return (await fake.wait_for("sendMessage", chat_id=TUTOR.id, since=mark, count=1 + n))[1:]


async def told(fake: FakeBotAPI, user: User, mark: int, words: str) -> Call:  # noqa: F811
    [c] = await fake.wait_for("sendMessage", chat_id=user.id, since=mark, where=lambda c: words in c.text)
    return c


async def test_an_accepted_claim_teaches_the_grader_for_the_next_learner(fake: FakeBotAPI, store: Store,  # noqa: F811
                                                                        clock: Any) -> None:
    async with running(app_for(fake, store, clock)):
        await cohort_with(fake, AMIRA)
        feedback = await claim(fake, AMIRA)
        assert "❌ Offer the customer a full refund." in feedback.text
        [c] = await claims(fake)
        assert "Question a1" in c.text and ANSWER in c.text and "Missed:\n• Offer the customer a full refund." in c.text
        assert [label for label, _ in c.buttons] == ["Accept: Offer the customer a full refund.", "Reject"]
        mark = fake.mark()
        _, [done] = await press(fake, TUTOR, c.buttons[0][1])
        assert "Learned" in done.text
        assert "Your tutor agreed: “Offer the customer a full refund.”" in (await told(fake, AMIRA, mark, "agreed")).text
        [learned] = store.learned_accepts()
        assert (learned.question_id, learned.point_id) == ("a1", "refund")
        assert learned.learned_by == learner_id(store, TUTOR) and learned.from_learner == learner_id(store, AMIRA)

        await start(fake, BEN)  # not in the cohort: every learner gains from it
        [second] = await say(fake, BEN, ANSWER)
        assert "Full marks" in second.text and "✅ Offer the customer a full refund." in second.text
        assert await claims(fake) == []  # decided: gone from the queue
        _, [again] = await press(fake, TUTOR, c.buttons[0][1])  # a stale button
        assert "already been decided" in again.text


async def test_a_rejected_claim_is_reversed_with_the_tutors_reason(fake: FakeBotAPI, store: Store,  # noqa: F811
                                                                   clock: Any) -> None:
    async with running(app_for(fake, store, clock)):
        await cohort_with(fake, AMIRA)
        lid = learner_id(store, AMIRA)
        [feedback] = await say(fake, AMIRA, ANSWER)
        marked = store.cards(lid)[0]
        [data] = [d for _, d in feedback.buttons if d.startswith("override:")]
        await press(fake, AMIRA, data)
        assert store.cards(lid)[0].due > marked.due and store.reviews(lid)[0].overridden
        [c] = await claims(fake)
        mark = fake.mark()
        _, [asked] = await press(fake, TUTOR, c.buttons[-1][1])
        assert "Amira Khan has been told" in asked.text and asked.buttons[0][0] == "Skip"
        await told(fake, AMIRA, mark, "kept the original mark")  # at once, reason or not
        mark = fake.mark()
        await say(fake, TUTOR, "A refund needs a manager's approval first")
        note = await told(fake, AMIRA, mark, "they say")
        assert "they say: A refund needs a manager's approval first" in note.text
        after = store.cards(lid)[0]
        assert (after.due, after.card) == (marked.due, marked.card)  # rescheduled as the marking rated it
        assert not store.reviews(lid)[0].overridden
        stats = app_stats(fake, store, clock, lid)
        assert stats.accuracy == {"Topic A": (0, 1)}
        assert store.learned_accepts() == []


def app_stats(fake: FakeBotAPI, store: Store, clock: Any, lid: int) -> Any:  # noqa: F811
    return Engine(small_bank(), store, clock=clock).stats(store.get_learner(lid))


async def test_a_generic_wording_is_refused_with_the_reason(fake: FakeBotAPI, store: Store,  # noqa: F811
                                                           clock: Any) -> None:
    async with running(app_for(fake, store, clock)):
        await cohort_with(fake, AMIRA)
        await claim(fake, AMIRA, "The customer.")
        [c] = await claims(fake)
        assert len(c.buttons) == 3  # both points missed, and Reject
        _, [refused] = await press(fake, TUTOR, c.buttons[0][1])
        assert "too generic to be evidence" in refused.text
        assert [label for label, _ in refused.buttons] == ["Accept without learning", "Reject"]
        mark = fake.mark()
        _, [done] = await press(fake, TUTOR, refused.buttons[0][1])
        assert "nothing learned" in done.text
        await told(fake, AMIRA, mark, "Your tutor agreed")
        assert store.learned_accepts() == []


GOOD = b"""topic: tc
title: Topic C
questions:
  - id: c1
    type: free_text
    prompt: What should an agent do first with an angry caller?
    model_answer: Listen without interrupting.
    marking_points:
      - id: listen
        text: Listen without interrupting.
"""
BAD = b"""topic: tc
title: Topic C
questions:
  - id: c1
    type: free_text
    prompt: What should an agent do first?
    model_answer: Listen.
    marking_point:
      - id: listen
  - id: Bad Id
    type: choice
    prompt: Pick one
    options: [One, Two]
    answer: 5
"""


async def test_question_files_are_checked_applied_live_and_rolled_back(fake: FakeBotAPI, store: Store,  # noqa: F811
                                                                      clock: Any) -> None:
    async with running(app_for(fake, store, clock)):
        await start(fake, TUTOR)
        mark = fake.mark()
        fake.send_document(TUTOR, "tc.yaml", BAD)
        [refused] = await fake.wait_for("sendMessage", chat_id=TUTOR.id, since=mark)
        assert "Not applied: 4 problems" in refused.text, refused.text
        assert "tc.yaml:8 questions[0] (c1) marking_point: unknown key (did you mean 'marking_points'?)" in refused.text
        assert "tc.yaml:4 questions[0] (c1) marking_points: required field is missing" in refused.text
        assert "tc.yaml:10 questions[1].id: 'Bad Id' is not a slug" in refused.text
        assert "questions[1] (Bad Id) answer: must be an index from 0 to 1" in refused.text
        assert store.content_version() == 0

        for name, data, words in (("big.yaml", b"x", "limit is 1,000,000"), ("latin.yaml", "é: 1".encode("latin-1"),
                                  "isn't UTF-8"), ("broken.yaml", b"topic: [unclosed\n", "YAML syntax error")):
            mark = fake.mark()
            fake.send_document(TUTOR, name, data, size=2_000_000 if name == "big.yaml" else None)
            [no] = await fake.wait_for("sendMessage", chat_id=TUTOR.id, since=mark)
            assert words in no.text, no.text

        mark = fake.mark()
        fake.send_document(TUTOR, "tc.yaml", GOOD)
        [applied] = await fake.wait_for("sendMessage", chat_id=TUTOR.id, since=mark)
        assert "Applied: content version 1" in applied.text and "Topic C" in applied.text
        [topics] = await say(fake, BEN, "/topics")  # live without a restart
        assert "Topic C" in [label.strip("✅☑️ ") for label, _ in topics.buttons] or "Topic C" in str(topics.buttons)
        [info] = await say(fake, TUTOR, "/content")
        assert "Content version 1" in info.text and "Topic C (tc): 1 question" in info.text
        _, [back] = await press(fake, TUTOR, info.buttons[0][1])
        assert "version 0 is live again" in back.text
        [topics] = await say(fake, BEN, "/topics")
        assert "Topic C" not in str(topics.buttons)
        _, [stale] = await press(fake, TUTOR, info.buttons[0][1])
        assert "isn't the live one" in stale.text


@pytest.mark.parametrize("who", [AMIRA])
async def test_a_learner_cannot_see_claims_or_upload(fake: FakeBotAPI, store: Store, clock: Any,  # noqa: F811
                                                    who: User) -> None:
    async with running(app_for(fake, store, clock)):
        await cohort_with(fake, AMIRA)
        await claim(fake, AMIRA)
        [c] = await claims(fake)
        [no] = await say(fake, AMIRA, "/claims")
        assert "only for tutors" in no.text
        _, [no] = await press(fake, AMIRA, c.buttons[0][1])
        assert "only for tutors" in no.text
        mark = fake.mark()
        fake.send_document(AMIRA, "tc.yaml", GOOD)
        await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark, where=lambda c: "only for" in c.text)
        assert store.content_version() == 0 and store.claims()[0].status == "pending"
