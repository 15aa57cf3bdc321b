"""The real bot process (`python -m bot run`) against the fake Bot API in this test process (findings 4, 3, 5, 6):
kill -9 mid-burst loses no acknowledged update; a second poller exits on 409 Conflict; two webhook replicas on
one PostgreSQL never double-send a broadcast, stay within SEND_RATE together, and record a double tap once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.fakebot import FakeBotAPI, User

ROOT = Path(__file__).resolve().parent.parent


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    server = await FakeBotAPI(latency=0.05).start()
    try:
        yield server
    finally:
        await server.close()


class BotProcess:
    """`python -m bot run` in its own process group, its log captured to a file."""

    def __init__(self, fake: FakeBotAPI, database_url: str, log: Path, **env: str) -> None:
        self.env = {**os.environ, "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_BASE_URL": fake.url,
                    "DATABASE_URL": database_url, "PTB_TIMEDELTA": "true", "LOG_LEVEL": "INFO", **env}
        self.env.pop("WEBHOOK_URL", None) if "WEBHOOK_URL" not in env else None
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> BotProcess:
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=str(ROOT), env=self.env, stdout=out, stderr=out,
            start_new_session=True)
        out.close()
        return self

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            return await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.kill()
            return await self.proc.wait()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


async def until(cond: Any, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


def helped(fake: FakeBotAPI, users: list[User]) -> Counter[int]:
    ids = {u.id for u in users}
    return Counter(c.chat_id for c in fake.find("sendMessage") if c.chat_id in ids and "How this works" in c.text)


async def test_kill_9_mid_burst_then_restart_answers_every_learner(fake: FakeBotAPI, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    log = tmp_path / "bot.log"
    users = [User(5000 + i, f"L{i}") for i in range(40)]
    first = await BotProcess(fake, url, log).start()
    try:
        await until(lambda: fake.find("getUpdates"), 60, "the bot never polled")
        fake.latency = 0.3  # a slow Telegram: the burst is still being answered when the process dies
        for u in users:
            fake.send_text(u, "/help")
        await until(lambda: fake.acknowledged(40) and len(helped(fake, users)) >= 2, 30, "no replies")
        first.kill()
        await first.proc.wait()  # type: ignore[union-attr]
    finally:
        await first.stop()
    before = helped(fake, users)
    assert len(before) < 40, "the burst finished before the kill: nothing was tested"
    fake.latency = 0.02
    second = await BotProcess(fake, url, log).start()
    try:
        await until(lambda: len(helped(fake, users)) == 40, 60, f"answered {len(helped(fake, users))}/40")
        await asyncio.sleep(1)
    finally:
        assert await second.stop() == 0
    answered = helped(fake, users)
    assert set(answered) == {u.id for u in users}  # every learner answered
    twice = [uid for uid, n in answered.items() if n > 1]
    assert len(twice) <= 8  # at most the updates in flight (the update slots) at the crash


async def test_a_second_poller_gets_409_and_exits_with_a_clear_message(fake: FakeBotAPI, tmp_path: Path) -> None:
    fake.fail("getUpdates", status=409, times=10_000,
              description="Conflict: terminated by other getUpdates request; make sure that only one bot "
                          "instance is running")
    bot = await BotProcess(fake, f"sqlite:///{tmp_path / 'b.sqlite3'}", tmp_path / "b.log").start()
    assert bot.proc is not None
    try:
        rc = await asyncio.wait_for(bot.proc.wait(), 60)
    finally:
        await bot.stop()
    assert rc == 3
    assert "another process is already polling Telegram for this bot (409 Conflict)" in bot.text()
    assert "WEBHOOK_URL" in bot.text()
