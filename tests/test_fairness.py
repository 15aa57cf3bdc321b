"""Fairness (finding 2) through the real Application, in memory and from the durable inbox: one learner's burst
against a fake Telegram enforcing 1 message a second per chat never stalls another learner; the burst is capped
and the learner told once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bot.channels.telegram import build_application
from bot.channels.telegram.app import DROPPED_NOTE
from bot.config import Settings
from bot.runtime.inbox import Inbox
from bot.store import Store
from bot.tutor.bank import QuestionBank
from bot.tutor.engine import Engine
from tests.fakebot import FakeBotAPI, RateLimit, User, running

AMIRA = User(1001, "Amira")
BEN = User(1002, "Ben")


@pytest_asyncio.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeBotAPI]:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    server = await FakeBotAPI(rate_limit=RateLimit(overall=1000, per_chat=1), latency=0.02).start()
    try:
        yield server
    finally:
        await server.close()


@pytest.mark.parametrize("durable", [False, True], ids=["in-memory", "inbox"])
async def test_another_learner_is_answered_while_one_learners_burst_is_pending(
        fake: FakeBotAPI, sqlite_url: str, bank: QuestionBank, clock: Any, durable: bool) -> None:
    store = Store.open(sqlite_url)
    try:
        settings = Settings(telegram_bot_token=fake.token, telegram_base_url=fake.url)
        inbox = Inbox(store, slots=2) if durable else None
        app = build_application(settings, Engine(bank, store, clock=clock), concurrent_updates=2, inbox=inbox)
        async with running(app):
            mark = fake.mark()
            for _ in range(40):
                fake.send_text(AMIRA, "/help")
            await fake.wait_for("sendMessage", chat_id=AMIRA.id, since=mark, count=2, timeout=10)
            ben_mark = fake.mark()
            sent_at = time.monotonic()
            fake.send_text(BEN, "/help")
            [reply] = await fake.wait_for("sendMessage", chat_id=BEN.id, since=ben_mark, timeout=5)
            assert reply.at - sent_at < 0.75  # not behind Amira's burst (40 replies at 1 a second)
            assert len(fake.find("sendMessage", chat_id=AMIRA.id, since=mark)) < 10  # her burst is still pending
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                texts = [c.text for c in fake.find("sendMessage", chat_id=AMIRA.id, since=mark)]
                if sum("How this works" in t for t in texts) >= 10:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.5)  # nothing more comes
        texts = [c.text for c in fake.find("sendMessage", chat_id=AMIRA.id, since=mark)]
        assert texts.count(DROPPED_NOTE) == 1  # told once, politely
        assert 10 <= sum("How this works" in t for t in texts) <= 11  # the backlog was capped, not 40
    finally:
        store.close()
