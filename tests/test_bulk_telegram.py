"""Reminders and broadcasts end to end: the real Application, the outbox and the paced sender,
over HTTP against the fake Bot API server (with its flood limits on)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import insert

from bot.app import outbox_extension
from bot.channels.telegram import build_application
from bot.config import Settings
from bot.store import Store
from bot.store import schema as s
from bot.tutor.bank import QuestionBank
from bot.tutor.engine import Engine
from tests.conftest import Clock
from tests.fakebot import FakeBotAPI, RateLimit, User, running

TUTOR = User(1, "Tess", "Tutor")
AMIRA = User(1001, "Amira", "Khan")


@pytest_asyncio.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeBotAPI]:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    server = await FakeBotAPI(rate_limit=RateLimit(overall=120, per_chat=1)).start()
    try:
        yield server
    finally:
        await server.close()
    assert not server.violations, [(c.method, c.error) for c in server.violations]


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Store]:
    st = Store.open(sqlite_url)
    yield st
    st.close()


def app_for(fake: FakeBotAPI, store: Store, bank: QuestionBank, clock: Any, rate: float = 100.0) -> Any:
    settings = Settings(telegram_bot_token=fake.token, telegram_base_url=fake.url, send_rate=rate,
                        tutor_admin_ids=frozenset({TUTOR.id}))
    engine = Engine(bank, store, clock=clock, admins={("telegram", str(TUTOR.id))},
                    link_base="https://t.me/tutor_test_bot?start=")
    return build_application(settings, engine, extensions=[outbox_extension(settings, store, clock)])


async def run_job(app: Any, name: str) -> None:
    [job] = [j for j in app.job_queue.jobs() if j.name == name]
    await job.run(app)


async def say(fake: FakeBotAPI, user: User, text: str, method: str = "sendMessage", count: int = 1) -> list[Any]:
    mark = fake.mark()
    fake.send_text(user, text)
    return await fake.wait_for(method, chat_id=user.id, since=mark, count=count)


# ---------------------------------------------------------------------------- reminders


async def test_a_reminder_arrives_and_its_button_starts_a_session(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                                   clock: Clock) -> None:
    clock.now = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    app = app_for(fake, db, bank, clock)
    async with running(app):
        replies = await say(fake, AMIRA, "/remind 19:30")
        assert "19:30" in replies[0].text
        clock.now = datetime(2026, 3, 2, 19, 30, 20, tzinfo=timezone.utc)
        mark = fake.mark()
        await run_job(app, "reminder-sweep")
        [reminder] = await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark)
        assert "new questions" in reminder.text and "minute" in reminder.text
        assert reminder.buttons == [("Start revising ▶", "next:")]
        await run_job(app, "reminder-sweep")  # the same minute again: nothing more
        await asyncio.sleep(0.3)
        assert len(fake.find("sendMessage", chat_id=AMIRA.id, since=mark)) == 1
        mark = fake.mark()
        fake.press(AMIRA, "next:")
        asked = await fake.wait_for(("sendMessage", "sendPoll"), chat_id=AMIRA.id, since=mark)
        assert asked[0].method == "sendPoll" or "Type your answer" in asked[0].text


async def test_a_blocked_learner_is_marked_inactive_and_gets_no_more_reminders(
        fake: FakeBotAPI, db: Store, bank: QuestionBank, clock: Clock) -> None:
    clock.now = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    app = app_for(fake, db, bank, clock)
    async with running(app):
        await say(fake, AMIRA, "/remind 19:30")
        lid = db.find_learner("telegram", str(AMIRA.id)).id  # type: ignore[union-attr]
        fake.block(AMIRA.id)
        clock.now = datetime(2026, 3, 2, 19, 30, 20, tzinfo=timezone.utc)
        mark = fake.mark()
        await run_job(app, "reminder-sweep")
        await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark, ok=False)
        for _ in range(50):
            if not db.get_learner(lid).active:
                break
            await asyncio.sleep(0.05)
        assert not db.get_learner(lid).active
        clock.now += timedelta(days=1)
        mark = fake.mark()
        await run_job(app, "reminder-sweep")
        await asyncio.sleep(0.5)
        assert fake.find("sendMessage", chat_id=AMIRA.id, since=mark, ok=None) == []


async def test_a_429_on_a_reminder_is_retried_after_the_delay(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                              clock: Clock) -> None:
    clock.now = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    app = app_for(fake, db, bank, clock)
    async with running(app):
        await say(fake, AMIRA, "/remind 19:30")
        fake.flood("sendMessage", retry_after=1, chat_id=AMIRA.id)
        clock.now = datetime(2026, 3, 2, 19, 30, 20, tzinfo=timezone.utc)
        mark = fake.mark()
        await run_job(app, "reminder-sweep")
        [refused] = await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark, ok=False)
        clock.now += timedelta(seconds=2)  # the outbox row's not_before is on the engine clock
        [sent] = await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark, timeout=10)
        assert refused.status == 429 and sent.at - refused.at >= 0.95
        await asyncio.sleep(0.3)
        assert len(fake.find("sendMessage", chat_id=AMIRA.id, since=mark)) == 1


# ---------------------------------------------------------------------------- broadcasts


def add_members(store: Store, cohort_id: int, n: int, first: int = 50_000) -> list[int]:
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    with store.tx() as c:
        c.execute(insert(s.learners), [dict(channel="telegram", external_id=str(first + i), chat_id=first + i,
                                            display_name=f"Learner {i}", created_at=now, active=True)
                                       for i in range(n)])
    ids = [store.find_learner("telegram", str(first + i)).id for i in range(n)]  # type: ignore[union-attr]
    with store.tx() as c:
        c.execute(insert(s.learner_settings), [dict(learner_id=i, timezone="Europe/London", new_per_day=10)
                                               for i in ids])
        c.execute(insert(s.memberships), [dict(cohort_id=cohort_id, learner_id=i, joined_at=now) for i in ids])
    return ids


async def test_broadcast_to_1000_members_is_paced_honours_429_and_reports_blocked(
        fake: FakeBotAPI, db: Store, bank: QuestionBank) -> None:
    app = app_for(fake, db, bank, lambda: datetime.now(timezone.utc), rate=100.0)
    async with running(app):
        [created] = await say(fake, TUTOR, "/newcohort Level 3 Spring")
        assert "https://t.me/" in created.text  # the join link: sent without a link preview
        assert created.params["link_preview_options"] == {"is_disabled": True}
        cohort = db.cohorts()[0]
        ids = add_members(db, cohort.id, 1000)
        blocked = [50_010, 50_500, 50_990]
        for chat in blocked:
            fake.block(chat)
        mark = fake.mark()
        fake.send_text(TUTOR, "/broadcast")
        await fake.wait_for("sendMessage", chat_id=TUTOR.id, since=mark)
        mark = fake.mark()
        fake.press(TUTOR, f"bcpick:{cohort.id}")
        await fake.wait_for("sendMessage", chat_id=TUTOR.id, since=mark)
        photo = fake.message_dict(TUTOR, None, caption="Mock exam on Friday",
                                  photo=[{"file_id": "ph1", "file_unique_id": "u1", "width": 90, "height": 90}])
        mark = fake.mark()
        fake.inject("message", photo)
        [preview] = await fake.wait_for("sendMessage", chat_id=TUTOR.id, since=mark)
        assert "1000 learners" in preview.text
        start = fake.mark()
        fake.press(TUTOR, preview.buttons[0][1])
        await fake.wait_for("copyMessage", since=start, count=400, timeout=30)
        fake.flood("copyMessage", retry_after=1)  # one 429 in the middle
        report = await fake.wait_for("sendMessage", chat_id=TUTOR.id, since=start, timeout=60,
                                     where=lambda c: "Broadcast finished" in c.text)
        copies = fake.find("copyMessage", since=start, ok=None)
    ok = [c for c in copies if c.ok]
    assert sorted(c.chat_id for c in ok) == sorted(50_000 + i for i in range(1000) if 50_000 + i not in blocked)
    assert all(c.params["from_chat_id"] == TUTOR.id and c.params["message_id"] == photo["message_id"] for c in ok)
    floods = [c for c in copies if c.status == 429]
    assert len(floods) == 1  # only the injected one: the sender never went over the limit itself
    after = [c.at for c in copies if c.at > floods[0].at]
    assert after and after[0] - floods[0].at >= 0.95  # the whole sender paused for retry_after
    times = sorted(c.at for c in copies)
    for i in range(len(times) - 100):  # never more than SEND_RATE in any second
        assert times[i + 100] - times[i] >= 0.97
    text = report[0].text
    assert "997 sent, 3 blocked" in text and "Learner 10" in text and "Learner 990" in text
    assert not any(db.get_learner(ids[i]).active for i in (10, 500, 990))
    edits = fake.find("editMessageText", chat_id=TUTOR.id, since=start)
    assert edits and "sent" in edits[0].text  # the progress message was edited as it went


async def test_broadcast_survives_a_crash_with_no_one_lost_and_at_most_one_duplicate(
        fake: FakeBotAPI, db: Store, bank: QuestionBank) -> None:
    offset = timedelta(0)
    clock = lambda: datetime.now(timezone.utc) + offset  # noqa: E731
    app = app_for(fake, db, bank, lambda: clock(), rate=50.0)
    async with running(app):
        await say(fake, TUTOR, "/newcohort Crash test")
        cohort = db.cohorts()[0]
        add_members(db, cohort.id, 200)
        bid = db.create_broadcast(cohort.id, db.find_learner("telegram", str(TUTOR.id)).id, clock())  # type: ignore[union-attr]
        db.set_broadcast_message(bid, TUTOR.id, 77, "hello")
        assert db.start_broadcast(bid, clock()) == 200
        start = fake.mark()
        app.bot_data["sender"].wake()
        await fake.wait_for("copyMessage", since=start, count=60, timeout=20)
        app.bot_data["paced-sender_task"].cancel()  # the process dies mid-send
        await asyncio.sleep(0)
    first = fake.find("copyMessage", since=start)
    assert 60 <= len(first) < 200
    offset = timedelta(seconds=31)  # the restarted process: the dead one's lease has run out
    app2 = app_for(fake, db, bank, lambda: clock(), rate=50.0)
    async with running(app2):
        app2.bot_data["sender"].wake()
        for _ in range(200):
            if db.outbox_pending() == 0:
                break
            await asyncio.sleep(0.1)
    ok = fake.find("copyMessage", since=start)
    chats = [c.chat_id for c in ok]
    assert set(chats) == {50_000 + i for i in range(200)}  # no recipient lost
    assert len(chats) - len(set(chats)) <= 1  # at most one duplicate for the crash
    assert db.outbox_counts(bid) == {"sent": 200}


async def test_admins_get_the_tutor_commands_in_their_menu(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                            clock: Clock) -> None:
    async with running(app_for(fake, db, bank, clock)):
        calls = fake.find("setMyCommands")
    menus = {str(c.params.get("scope")): [cmd["command"] for cmd in _json(c.params["commands"])] for c in calls}
    default = [v for k, v in menus.items() if "chat" not in k]
    admin = [v for k, v in menus.items() if "chat" in k and str(TUTOR.id) in k]
    assert default and "broadcast" not in default[0] and "quiz" in default[0]
    assert admin and {"broadcast", "dashboard", "newcohort", "quiz"} <= set(admin[0])


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str) else value


async def test_addtutor_and_removetutor_change_the_new_tutors_menu(fake: FakeBotAPI, db: Store, bank: QuestionBank,
                                                                    clock: Clock) -> None:
    async with running(app_for(fake, db, bank, clock)):
        await say(fake, AMIRA, "/help")  # Amira has a chat with the bot
        mark = fake.mark()
        fake.send_text(TUTOR, f"/addtutor {AMIRA.id}")
        [menu] = await fake.wait_for("setMyCommands", since=mark)
        assert str(AMIRA.id) in str(menu.params.get("scope"))
        assert "newcohort" in [c["command"] for c in _json(menu.params["commands"])]
        assert db.role(db.find_learner("telegram", str(AMIRA.id)).id) == "tutor"  # type: ignore[union-attr]
        mark = fake.mark()
        fake.send_text(TUTOR, f"/removetutor {AMIRA.id}")
        [removed] = await fake.wait_for("deleteMyCommands", since=mark)
        assert str(AMIRA.id) in str(removed.params.get("scope"))
