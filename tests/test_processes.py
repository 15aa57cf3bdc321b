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


def _free_ports(n: int) -> list[int]:
    """n distinct free ports: each socket stays bound until all are picked (two calls one after
    the other can be handed the same port, and two replicas then collide on it)."""
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.postgres
async def test_two_webhook_replicas_on_one_postgresql_send_once_within_the_rate_and_record_once(
        fake: FakeBotAPI, tmp_path: Path, pg_url: str, bank: Any) -> None:
    from datetime import datetime, timezone

    import aiohttp
    from sqlalchemy import insert

    from bot.store import Store
    from bot.store import schema as s
    from bot.tutor.actions import question_key
    from bot.tutor.models import Pending
    from tests.conftest import _truncate

    tutor_user, learner_user = User(4242, "Tess"), User(4343, "Lee")
    now = datetime.now(timezone.utc)
    store = Store.open(pg_url, migrate=False)
    try:
        _truncate(store)
        tutor = store.learner("telegram", str(tutor_user.id), now=now, timezone="Europe/London", new_per_day=10,
                              display_name="Tess", chat_id=tutor_user.id)
        store.set_role(tutor.id, "tutor", None, now)
        cohort = store.create_cohort("Replicas", tutor.id, "replica-code", now)
        with store.tx() as c:
            c.execute(insert(s.learners), [dict(channel="telegram", external_id=str(60_000 + i), chat_id=60_000 + i,
                                                display_name=f"M{i}", created_at=now, active=True)
                                           for i in range(150)])
        members = [store.find_learner("telegram", str(60_000 + i)) for i in range(150)]
        with store.tx() as c:
            c.execute(insert(s.learner_settings), [dict(learner_id=m.id, timezone="Europe/London", new_per_day=10)
                                                   for m in members if m])
            c.execute(insert(s.memberships), [dict(cohort_id=cohort.id, learner_id=m.id, joined_at=now)
                                              for m in members if m])
        bid = store.create_broadcast(cohort.id, tutor.id, now)
        store.set_broadcast_message(bid, tutor_user.id, 77, "hello")
        lee = store.learner("telegram", str(learner_user.id), now=now, timezone="Europe/London", new_per_day=10,
                            display_name="Lee", chat_id=learner_user.id)
        q = next(q for q in bank if q.is_choice)
        store.set_pending(Pending(lee.id, q.id, "new", now))

        rate, secret = 30, "replica_secret-1"
        ports = _free_ports(2)
        replicas = [BotProcess(fake, pg_url, tmp_path / f"r{k}.log", WEBHOOK_URL=f"http://127.0.0.1:{p}/hook",
                               WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(p), WEBHOOK_SECRET=secret,
                               SEND_RATE=str(rate)) for k, p in enumerate(ports)]
        for r in replicas:
            await r.start()
        try:
            await until(lambda: len(fake.find("setWebhook")) >= 2, 60, "replicas did not start")
            await asyncio.sleep(0.5)

            async def post(port: int, update: dict[str, Any]) -> int:
                async with aiohttp.ClientSession() as http:  # the load balancer, one update to each replica
                    for _ in range(50):
                        try:
                            async with http.post(f"http://127.0.0.1:{port}/hook", json=update,
                                                 headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as resp:
                                if resp.status == 200:
                                    return resp.status
                        except aiohttp.ClientError:
                            pass
                        await asyncio.sleep(0.2)
                return 0

            def tap(user: User, data: str) -> dict[str, Any]:
                msg = {"message_id": 5, "date": 0, "text": "…", "from": fake.bot_user,
                       "chat": {"id": user.id, "type": "private"}}
                return fake.update_dict("callback_query", {"id": f"cb-{data}-{fake.mark()}", "from": user.to_dict(),
                                                           "chat_instance": "ci", "data": data, "message": msg})

            start = fake.mark()
            choose = f"choose:{question_key(q.id)}:{q.answer}"
            codes = await asyncio.gather(post(ports[0], tap(tutor_user, f"bcyes:{bid}")),
                                         post(ports[1], tap(tutor_user, f"bcyes:{bid}")),
                                         post(ports[0], tap(learner_user, choose)),
                                         post(ports[1], tap(learner_user, choose)))
            assert codes == [200, 200, 200, 200]
            await fake.wait_for("copyMessage", since=start, count=40, timeout=60)
            fake.flood("copyMessage", retry_after=1)  # one 429 in the middle
            await fake.wait_for("copyMessage", since=start, count=150, timeout=90)
            await asyncio.sleep(2)  # anything sent twice would come now
        finally:
            for r in replicas:
                await r.stop()
        copies = [c for c in fake.find("copyMessage", since=start)]
        per_chat = Counter(c.chat_id for c in copies)
        assert set(per_chat) == {60_000 + i for i in range(150)}
        assert sum(per_chat.values()) - len(per_chat) == 0  # 0 duplicates
        times = sorted(c.at for c in fake.find("copyMessage", since=start, ok=None))
        assert times[-1] - times[0] >= (len(times) - 1) / rate * 0.95  # both replicas together within SEND_RATE
        for i in range(len(times) - rate):
            assert times[i + rate] - times[i] >= 0.95
        assert store.outbox_counts(bid) == {"sent": 150}  # queued once for the double Confirm
        assert len(store.reviews(lee.id)) == 1  # the double tap across the two replicas is recorded once
        both = replicas[0].text() + replicas[1].text()
        assert "Traceback" not in both, both[-3000:]
    finally:
        store.close()
