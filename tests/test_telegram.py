"""The Telegram channel: the real PTB Application over HTTP against the fake Bot API server.

Each test builds the Application with `build_application`, points it at `tests/fakebot.py`
with `base_url`, injects updates and waits for the requests the bot makes. No Bot method
is patched: the whole path (HTTP, PTB, handlers, engine, grader, store) is real.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot import app as composition
from bot.channels import telegram as tg
from bot.channels.telegram import build_application, webhook_options
from bot.config import Settings
from bot.store import Store
from bot.store import schema as s
from bot.tutor.bank import Question, QuestionBank
from bot.tutor.commands import COMMANDS
from bot.tutor.engine import Engine
from tests.fakebot import Call, FakeBotAPI, User, fakebot, running  # noqa: F401

AMIRA = User(1001, "Amira", "Khan", username="amira")
BEN = User(1002, "Ben")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- fixtures and helpers


@pytest_asyncio.fixture
async def fake(fakebot: FakeBotAPI) -> AsyncIterator[FakeBotAPI]:  # noqa: F811
    """The fake server; after the test, no request may have broken Telegram's limits."""
    yield fakebot
    assert not fakebot.violations, [(c.method, c.error, c.text[:80]) for c in fakebot.violations]


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Store]:
    st = Store.open(sqlite_url)
    yield st
    st.close()


def settings_for(fake: FakeBotAPI, **kw: Any) -> Settings:
    return Settings(telegram_bot_token=fake.token, telegram_base_url=fake.url, **kw)


def make_app(fake: FakeBotAPI, store: Store, bank: QuestionBank, clock: Any, **kw: Any) -> Any:
    return build_application(settings_for(fake), Engine(bank, store, clock=clock), **kw)


def learner_id(store: Store, user: User) -> int:
    found = store.find_learner("telegram", str(user.id))
    assert found is not None
    return found.id


def question_of(store: Store, bank: QuestionBank, user: User) -> Question:
    pending = store.get_pending(learner_id(store, user))
    assert pending is not None
    question = bank.get(pending.question_id)
    assert question is not None
    return question


async def say(fake: FakeBotAPI, user: User, text: str, count: int = 1, method: str = "sendMessage") -> list[Call]:
    mark = fake.mark()
    fake.send_text(user, text)
    return await fake.wait_for(method, chat_id=user.id, count=count, since=mark)


def _is_question(c: Call) -> bool:
    return c.method == "sendPoll" or "Type your answer" in c.text or c.params.get("reply_markup") is not None and any(
        d.startswith("choose:") for _, d in c.buttons)


async def start(fake: FakeBotAPI, user: User, text: str = "/start") -> list[Call]:
    """Send /start and wait until the first question is asked; return every message sent."""
    mark = fake.mark()
    fake.send_text(user, text)
    await fake.wait_for(("sendMessage", "sendPoll"), chat_id=user.id, since=mark, where=_is_question)
    return fake.sent(user.id, since=mark)


async def press(fake: FakeBotAPI, user: User, data: str, then: str | None = "sendMessage",
                count: int = 1) -> tuple[Call, list[Call]]:
    """Tap a button; return the answerCallbackQuery call and the `then` calls that follow."""
    mark = fake.mark()
    fake.press(user, data)
    [answer] = await fake.wait_for("answerCallbackQuery", since=mark)
    calls = await fake.wait_for(then, chat_id=user.id, count=count, since=mark) if then else []
    return answer, calls


def partial_answer(question: Question) -> str:
    """An answer that earns the first marking point (in the examiner's words) and nothing else."""
    return question.marking_points[0].text


async def start_and_answer(fake: FakeBotAPI, store: Store, bank: QuestionBank, user: User) -> Call:
    """/start, then a partial answer to the first question; returns the feedback message."""
    await start(fake, user)
    question = question_of(store, bank, user)
    [feedback] = await say(fake, user, partial_answer(question))
    return feedback


def review_id_of(feedback: Call) -> int:
    [data] = [d for _, d in feedback.buttons if d.startswith("override:")]
    return int(data.split(":")[1])


def sub_bank(bank: QuestionBank, questions: list[Question]) -> QuestionBank:
    """A bank of just `questions`, in their own topics."""
    topics = [dataclasses.replace(t, questions=tuple(q for q in questions if q.topic == t.slug)) for t in bank.topics]
    return QuestionBank(tuple(t for t in topics if t.questions), bank.glossary)


def rows_of(store: Store, table: Any, lid: int) -> int:
    with store.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(table.c.learner_id == lid)).scalar_one())


# ---------------------------------------------------------------------------- the learner's loop


async def test_new_learner_whole_loop(fake: FakeBotAPI, store: Store, bank: QuestionBank, clock: Any) -> None:
    async with running(make_app(fake, store, bank, clock)):
        assert [c["command"] for c in fake.commands] == [name for name, _ in COMMANDS]
        assert all(c["description"] for c in fake.commands)
        welcome, remind, ask = await start(fake, AMIRA)
        assert [d for _, d in remind.buttons][-1] == "remind:none"
        assert "Welcome" in welcome.text and "Privacy" in welcome.text
        assert welcome.params["parse_mode"] == "HTML" and "<b>Welcome!</b>" in welcome.params["text"]
        assert "Type your answer" in ask.text
        question = question_of(store, bank, AMIRA)

        [feedback] = await say(fake, AMIRA, partial_answer(question))
        assert f"✅ {question.marking_points[0].text}" in feedback.text  # text is escaped HTML: plain here
        assert "❌" in feedback.text and "Model answer:" in feedback.text
        assert [label for label, _ in feedback.buttons] == ["Next ▶", "I was right", "Stop"]
        assert [d.split(":")[0] for _, d in feedback.buttons] == ["next", "override", "stop"]
        assert all(len(d.encode()) <= 64 for _, d in feedback.buttons)
        assert feedback.params["link_preview_options"] == {"is_disabled": True}  # the Application's default
        assert len(store.reviews(learner_id(store, AMIRA))) == 1

        answer, [ask2] = await press(fake, AMIRA, "next:")
        assert answer.params["callback_query_id"].startswith("cbq-")
        assert "Type your answer" in ask2.text
        assert question_of(store, bank, AMIRA).id != question.id
    assert store.find_learner("telegram", str(AMIRA.id)).display_name == "Amira Khan"  # type: ignore[union-attr]


async def test_engine_calls_run_in_the_engines_threads_not_on_the_event_loop(
        fake: FakeBotAPI, db: Store, bank: QuestionBank) -> None:
    """As `run_bot` runs it: every engine call (actions and channel events) in the engine's own threads."""
    threads: list[str] = []

    class Spy(Engine):
        def handle(self, who: Any, action: Any) -> Any:
            threads.append(threading.current_thread().name)
            return super().handle(who, action)

        def notice(self, event: Any) -> Any:
            threads.append(threading.current_thread().name)
            return super().notice(event)

    engine = Spy(bank, db, clock=lambda: datetime.now(timezone.utc))
    async with running(build_application(settings_for(fake), engine)):
        await start(fake, AMIRA)
        question = question_of(db, bank, AMIRA)
        [feedback] = await say(fake, AMIRA, partial_answer(question))
        assert f"✅ {question.marking_points[0].text}" in feedback.text and "Model answer:" in feedback.text
        [hint] = await say(fake, AMIRA, "/nonsense")
        assert "I don't know /nonsense" in hint.text
    assert len(threads) >= 4 and all(name.startswith("engine") for name in threads), threads
    assert threading.main_thread().name not in threads


async def test_start_payload_reaches_the_engine(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                clock: Any) -> None:
    seen: list[Any] = []

    class Spy(Engine):
        def handle(self, who: Any, action: Any) -> Any:
            seen.append(action)
            return super().handle(who, action)

    app = build_application(settings_for(fake), Spy(bank, db, clock=clock))
    async with running(app):
        await start(fake, AMIRA, "/start cohort-ABC123")
    assert seen[0].payload == "cohort-ABC123"


async def test_choice_question_is_a_quiz_poll(fake: FakeBotAPI, db: Store, bank: QuestionBank, clock: Any) -> None:
    choices = [q for q in bank if q.is_choice and q.fits_quiz_poll][:3]
    small = sub_bank(bank, choices)
    async with running(make_app(fake, db, small, clock)):
        [poll] = await say(fake, AMIRA, "/quiz", method="sendPoll")
        question = question_of(db, small, AMIRA)
        assert poll.params["type"] == "quiz" and poll.params["is_anonymous"] is False
        # Options in this learner's order; the keyed one marked where it is shown.
        shown = [o["text"] if isinstance(o, dict) else str(o) for o in poll.params["options"]]
        [correct] = poll.params["correct_option_ids"]
        assert sorted(shown) == sorted(question.options) and shown[correct] == question.options[question.answer or 0]
        assert poll.params["question"] == question.prompt  # plain text: polls have no parse mode
        lid = learner_id(db, AMIRA)
        await _until(lambda: getattr(db.get_pending(lid), "poll_id", None) == "poll-1")

        mark = fake.mark()
        assert question.answer is not None
        fake.answer_poll(AMIRA, "poll-1", correct)
        [verdict] = await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark)
        assert "✅ Correct!" in verdict.text
        stats, _chart = await say(fake, AMIRA, "/stats", count=2, method=("sendMessage", "sendPhoto"))  # type: ignore[arg-type]
        assert "in total: 1" in stats.text

        mark = fake.mark()
        fake.answer_poll(BEN, "poll-1", 0)  # someone else's poll (forwarded): refused, nothing recorded
        [refused] = await fake.wait_for("sendMessage", chat_id=BEN.id, since=mark)
        assert "already been answered" in refused.text
    assert len(db.reviews(learner_id(db, AMIRA))) == 1


async def test_choice_too_long_for_a_poll_gets_buttons(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                       clock: Any) -> None:
    base = next(q for q in bank if q.is_choice)
    long = dataclasses.replace(base, id="long-choice", prompt="Which is right? " + "A very long scenario. " * 20)
    assert not long.fits_quiz_poll
    small = sub_bank(bank, [long])
    async with running(make_app(fake, db, small, clock)):
        [ask] = await say(fake, AMIRA, "/quiz")
        assert not fake.find("sendPoll")
        datas = [d for _, d in ask.buttons]
        assert len(datas) == len(long.options) and all(d.startswith("choose:") for d in datas)
        right = next(i for i, (label, _) in enumerate(ask.buttons) if label.endswith(long.options[long.answer or 0]))
        toast, [verdict] = await press(fake, AMIRA, datas[right])
        assert "✅ Correct!" in verdict.text and "Correct" in toast.params.get("text", "")


async def test_i_was_right_rerates_the_card(fake: FakeBotAPI, db: Store, bank: QuestionBank, clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        feedback = await start_and_answer(fake, db, bank, AMIRA)
        rid = review_id_of(feedback)
        lid = learner_id(db, AMIRA)
        before = db.cards(lid)[0]
        clock.advance(minutes=1)
        toast, [noted] = await press(fake, AMIRA, f"override:{rid}")
        assert "counted that answer as right" in noted.text
        assert "Noted" in toast.params["text"]
    assert db.get_review(rid).overridden
    after = db.cards(lid)[0]
    assert after.due > before.due  # rated Good instead of Again: due later


async def test_topics_toggle_is_saved(fake: FakeBotAPI, db: Store, bank: QuestionBank, clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        [menu] = await say(fake, AMIRA, "/topics")
        assert "topic:kpis" in [d for _, d in menu.buttons]
        _, [edited] = await press(fake, AMIRA, "topic:kpis", then="editMessageText")
        assert "▫️ KPIs and performance metrics" in [label for label, _ in edited.buttons]
        lid = learner_id(db, AMIRA)
        assert db.settings(lid).topics == tuple(t.slug for t in bank.topics if t.slug != "kpis")
        _, [edited] = await press(fake, AMIRA, "topic:*", then="editMessageText")
        assert db.settings(lid).topics is None


async def test_stats_sends_a_png_chart(fake: FakeBotAPI, db: Store, bank: QuestionBank, clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        await start_and_answer(fake, db, bank, AMIRA)
        text, photo = await say(fake, AMIRA, "/stats", count=2, method=("sendMessage", "sendPhoto"))  # type: ignore[arg-type]
        assert text.method == "sendMessage" and "Your progress" in text.text and "in total: 1" in text.text
        assert photo.method == "sendPhoto"
        png = photo.files["photo"]
        assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000


async def test_mydata_sends_a_json_document(fake: FakeBotAPI, db: Store, bank: QuestionBank, clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        await start_and_answer(fake, db, bank, AMIRA)
        [doc] = await say(fake, AMIRA, "/mydata", method="sendDocument")
    assert doc.params["_filename_document"] == "my-revision-data.json"
    assert b'"reviews"' in doc.files["document"]


# ---------------------------------------------------------------------------- what shouldn't happen


async def test_forged_and_junk_callbacks_change_nothing(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                        clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        rid = review_id_of(await start_and_answer(fake, db, bank, AMIRA))
        await start(fake, BEN)
        toast, [refusal] = await press(fake, BEN, f"override:{rid}")  # Amira's review id
        assert "can't be changed" in toast.params["text"] and "can't be changed" in refusal.text
        for junk in ("zzz", "override:abc", "override:", "choose:123:x", "x" * 64):
            mark = fake.mark()
            toast, _ = await press(fake, BEN, junk, then=None)
            assert toast.params["text"] == tg.EXPIRED_BUTTON
            assert not fake.sent(BEN.id, since=mark)
    assert not db.get_review(rid).overridden
    assert len(db.reviews(learner_id(db, BEN))) == 0


async def test_long_answer_is_graded_on_the_first_4096(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                       clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        await start(fake, AMIRA)
        question = question_of(db, bank, AMIRA)
        answer = (partial_answer(question) + " ") * 300
        answer = answer[:5000]
        [feedback] = await say(fake, AMIRA, answer)
        assert "5,000 characters; I marked the first 4,096" in feedback.text
        assert "✅" in feedback.text
    [review] = db.reviews(learner_id(db, AMIRA))
    assert len(review.answer) == 4096


async def test_sticker_gets_a_hint(fake: FakeBotAPI, db: Store, bank: QuestionBank, clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        await start(fake, AMIRA)
        mark = fake.mark()
        fake.send_sticker(AMIRA)
        [hint] = await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark)
    assert "can only mark typed answers" in hint.text and "sticker" in hint.text and "still waiting" in hint.text


async def test_edited_answer_is_not_regraded(fake: FakeBotAPI, db: Store, bank: QuestionBank, clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        await start(fake, AMIRA)
        question = question_of(db, bank, AMIRA)
        mark = fake.mark()
        fake.send_text(AMIRA, "first try")
        await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark)
        mark = fake.mark()
        fake.edit_text(AMIRA, 1, question.model_answer)
        [note] = await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark)
        assert "edits aren't re-marked" in note.text
    [review] = db.reviews(learner_id(db, AMIRA))
    assert review.answer == "first try"


async def test_forget_erases_every_row(fake: FakeBotAPI, db: Store, bank: QuestionBank, clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        rid = review_id_of(await start_and_answer(fake, db, bank, AMIRA))
        await press(fake, AMIRA, f"override:{rid}")
        await say(fake, AMIRA, "/topics")
        await press(fake, AMIRA, "next:")  # a pending question too
        lid = learner_id(db, AMIRA)
        [confirm] = await say(fake, AMIRA, "/forget")
        assert ("Yes, erase everything", "forget:yes") in confirm.buttons
        _, [done] = await press(fake, AMIRA, "forget:yes")
        assert "erased" in done.text
    tables = [t for t in s.metadata.sorted_tables if "learner_id" in t.c]
    assert tables and all(rows_of(db, t, lid) == 0 for t in tables)
    assert db.find_learner("telegram", str(AMIRA.id)) is None


async def test_group_messages_only_commands_addressed_to_the_bot(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                                 clock: Any) -> None:
    group = {"id": -100500, "type": "supergroup", "title": "Cohort 7"}
    async with running(make_app(fake, db, bank, clock)):
        mark = fake.mark()
        fake.send_text(AMIRA, "hello everyone", chat=group)
        fake.send_text(AMIRA, "/stats@someotherbot", chat=group)
        fake.send_text(AMIRA, "/frobnicate", chat=group)
        fake.send_text(AMIRA, "/help@tutor_test_bot", chat=group)
        [help_] = await fake.wait_for("sendMessage", chat_id=-100500, since=mark)
        await asyncio.sleep(0.2)
        assert "How this works" in help_.text
        assert len(fake.sent(-100500, since=mark)) == 1
    learner = db.find_learner("telegram", str(AMIRA.id))
    assert learner is not None and learner.chat_id is None  # a group is not the learner's own chat


async def test_html_in_text_is_escaped(fake: FakeBotAPI, db: Store, bank: QuestionBank, clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        [unknown, _help] = await say(fake, AMIRA, "/x<b>&amp", count=2)
    assert "I don't know /x<b>&amp." in unknown.text  # the fake shows what the learner sees
    assert "/x&lt;b&gt;&amp;amp" in unknown.params["text"]


async def test_long_reply_is_split_with_buttons_on_the_last_part(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                                 clock: Any) -> None:
    base = next(q for q in bank if not q.is_choice)
    model = "\n\n".join(f"Paragraph {i} & more: " + "word " * 120 for i in range(12))
    long = dataclasses.replace(base, id="long-model", model_answer=model)
    small = sub_bank(bank, [long])
    async with running(make_app(fake, db, small, clock)):
        await say(fake, AMIRA, "/quiz")
        parts = await say(fake, AMIRA, "no idea", count=2)
        await asyncio.sleep(0.1)
        parts = fake.sent(AMIRA.id)[1:]
    assert len(parts) == 2
    assert not parts[0].buttons and parts[-1].buttons
    assert all(len(p.text) <= 4096 for p in parts)


# ---------------------------------------------------------------------------- surviving a restart


async def test_restart_keeps_progress_and_the_pending_question(fake: FakeBotAPI, sqlite_url: str,
                                                               bank: QuestionBank, clock: Any) -> None:
    first = Store.open(sqlite_url)
    try:
        async with running(make_app(fake, first, bank, clock)):
            await start_and_answer(fake, first, bank, AMIRA)
            await press(fake, AMIRA, "next:")
            waiting = question_of(first, bank, AMIRA)
    finally:
        first.close()
    second = Store.open(sqlite_url)
    try:
        async with running(make_app(fake, second, bank, clock)):
            [feedback] = await say(fake, AMIRA, partial_answer(waiting))
            assert "Model answer:" in feedback.text
            stats, _chart = await say(fake, AMIRA, "/stats", count=2, method=("sendMessage", "sendPhoto"))  # type: ignore[arg-type]
            assert "in total: 2" in stats.text
        assert [r.question_id for r in second.reviews(learner_id(second, AMIRA))][-1] == waiting.id
    finally:
        second.close()


# ---------------------------------------------------------------------------- webhook


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_checks_the_secret(fake: FakeBotAPI, db: Store, bank: QuestionBank, clock: Any) -> None:
    port = _free_port()
    settings = settings_for(fake, webhook_url=f"http://127.0.0.1:{port}/tg/hook", webhook_listen="127.0.0.1",
                            webhook_port=port, webhook_secret="s3cret_Token-1")
    app = build_application(settings, Engine(bank, db, clock=clock))
    options = webhook_options(settings)
    assert options["url_path"] == "tg/hook" and options["secret_token"] == "s3cret_Token-1"
    await app.initialize()
    await app.post_init(app)  # type: ignore[misc]
    url = f"http://127.0.0.1:{port}/tg/hook"
    try:
        await app.updater.start_webhook(**options)  # type: ignore[union-attr]
        await app.start()
        assert fake.webhook["url"] == settings.webhook_url and fake.webhook["secret_token"] == "s3cret_Token-1"
        async with aiohttp.ClientSession() as http:
            for user, headers in ((BEN, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}), (BEN, {})):
                update = fake.update_dict("message", fake.message_dict(user, "/help"))
                async with http.post(url, json=update, headers=headers) as resp:
                    assert resp.status == 403
            update = fake.update_dict("message", fake.message_dict(AMIRA, "/help"))
            async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret_Token-1"}) as r:
                assert r.status == 200
        [reply] = await fake.wait_for("sendMessage", chat_id=AMIRA.id)
        assert "How this works" in reply.text
        assert not fake.find(chat_id=BEN.id) and db.find_learner("telegram", str(BEN.id)) is None
    finally:
        if app.updater.running:  # type: ignore[union-attr]
            await app.updater.stop()  # type: ignore[union-attr]
        if app.running:
            await app.stop()
        await app.shutdown()


# ---------------------------------------------------------------------------- Telegram's refusals


async def test_blocked_learner_is_marked_inactive(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                  clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        await start(fake, AMIRA)
        lid = learner_id(db, AMIRA)
        fake.block(AMIRA.id)
        mark = fake.mark()
        fake.send_text(AMIRA, "/help")
        [refused] = await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark, ok=False)
        assert refused.status == 403
        await _until(lambda: not db.get_learner(lid).active)
        assert not fake.find("sendMessage", chat_id=AMIRA.id, since=mark)  # no apology either

        fake.member_status(AMIRA, "member", old="kicked")  # unblocked
        await _until(lambda: db.get_learner(lid).active)
        fake.member_status(AMIRA, "kicked")  # blocked again
        await _until(lambda: not db.get_learner(lid).active)


async def test_flood_control_is_retried_once_delivered(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                       clock: Any) -> None:
    async with running(make_app(fake, db, bank, clock)):
        fake.flood("sendMessage", retry_after=1, chat_id=AMIRA.id)
        mark = fake.mark()
        fake.send_text(AMIRA, "/help")
        [delivered] = await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark)
        await asyncio.sleep(0.1)
    calls = fake.find("sendMessage", chat_id=AMIRA.id, since=mark, ok=None)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.95
    assert "How this works" in delivered.text


async def test_an_error_is_logged_and_the_learner_reassured(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                           clock: Any, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Engine):
        def handle(self, who: Any, action: Any) -> Any:
            raise RuntimeError("grader exploded")

    app = build_application(settings_for(fake), Broken(bank, db, clock=clock))
    with caplog.at_level(logging.ERROR, logger="bot.channels.telegram"):
        async with running(app):
            update_id = fake.send_text(AMIRA, "an answer")
            [sorry] = await fake.wait_for("sendMessage", chat_id=AMIRA.id)
    assert "progress is saved" in sorry.text
    [record] = [r for r in caplog.records if r.name == "bot.channels.telegram"]
    assert f"update {update_id} failed" in record.getMessage()
    assert record.exc_info is not None and "grader exploded" in str(record.exc_info[1])


async def test_extensions_are_wired_before_the_catch_alls(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                          clock: Any) -> None:
    from telegram.ext import CommandHandler

    started: list[str] = []

    async def join(update: Any, context: Any) -> None:
        await context.bot.send_message(update.effective_chat.id, "joined")

    async def hook(app: Any) -> None:
        started.append(app.bot.username)

    def extension(app: Any) -> None:
        app.add_handler(CommandHandler("hello", join))
        tg.on_startup(app, hook)

    async with running(make_app(fake, db, bank, clock, extensions=[extension])):
        [reply] = await say(fake, AMIRA, "/hello")
    assert reply.text == "joined" and started == ["tutor_test_bot"]


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def test_run_bot_wires_polling_and_webhook(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """run_bot's choice of mode, without a network: run_polling / run_webhook are recorded."""
    from telegram.ext import Application

    from bot.channels.telegram import app as tg_app

    async def link_base(settings: Settings) -> str:
        return "https://t.me/tutor_test_bot?start="

    monkeypatch.setattr(tg_app, "deep_link_base", link_base)  # the one getMe before the engine is built
    ran: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(Application, "run_polling", lambda self, **kw: ran.append(("polling", kw)))
    monkeypatch.setattr(Application, "run_webhook", lambda self, **kw: ran.append(("webhook", kw)))
    base = dict(telegram_bot_token="123:ABC", database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert composition.run_bot(Settings(**base)) == 0  # type: ignore[arg-type]
    assert composition.run_bot(Settings(**base, webhook_url="https://example.org/tg/abc", webhook_port=8443,  # type: ignore[arg-type]
                               webhook_secret="sekret")) == 0
    assert ran[0][0] == "polling" and "poll_answer" in ran[0][1]["allowed_updates"]
    kind, kw = ran[1]
    assert kind == "webhook" and kw["url_path"] == "tg/abc" and kw["secret_token"] == "sekret"
    assert kw["webhook_url"] == "https://example.org/tg/abc" and kw["port"] == 8443
