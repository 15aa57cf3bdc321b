"""Updates lost after kill -9, and duplicates with two replicas (issue 14, findings 3 and 4).

    .venv/bin/python benchmarks/durability.py kill9 [--users 40] [--rounds 3]
    .venv/bin/python benchmarks/durability.py replicas   # needs PostgreSQL

kill9: the real `python -m bot run` (SQLite) against the fake Telegram (300 ms per call, in this
process); `--users` learners each send /help at once; once Telegram holds every update as
confirmed and a few replies went out, the process group gets SIGKILL; the bot is restarted.
Reported per round: replies before the kill, learners never answered after the restart (lost),
and learners answered twice (in flight at the crash).

replicas: two real bot processes in webhook mode on one PostgreSQL (TEST_POSTGRES_URL's server,
a throwaway database) behind a fake load balancer: the scenario of
tests/test_processes.py (150 recipients, SEND_RATE=30), the broadcast confirmed twice (once on
each replica) with one injected 429. Reported: copies sent, duplicates, outbox rows
queued, and the overall pace against SEND_RATE.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from tests.fakebot import FakeBotAPI, User  # noqa: E402
from tests.test_processes import BotProcess, helped, until  # noqa: E402


async def kill9(users_n: int, rounds: int) -> None:
    for r in range(rounds):
        fake = await FakeBotAPI(latency=0.05).start()
        tmp = Path(tempfile.mkdtemp())
        url = f"sqlite:///{tmp / 'bot.sqlite3'}"
        users = [User(5000 + i, f"L{i}") for i in range(users_n)]
        first = await BotProcess(fake, url, tmp / "bot.log").start()
        await until(lambda: fake.find("getUpdates"), 60, "the bot never polled")
        fake.latency = 0.3
        for u in users:
            fake.send_text(u, "/help")
        await until(lambda: fake.acknowledged(users_n) and len(helped(fake, users)) >= 2, 30, "no replies")
        first.kill()
        await first.stop()
        before = len(helped(fake, users))
        fake.latency = 0.02
        second = await BotProcess(fake, url, tmp / "bot.log").start()
        try:
            await until(lambda: len(helped(fake, users)) == users_n, 60, "not everyone answered")
        except TimeoutError:
            pass
        await asyncio.sleep(1)
        await second.stop()
        answered = helped(fake, users)
        print(f"round {r + 1}: kill -9 with {before}/{users_n} answered and all {users_n} confirmed to Telegram; "
              f"after restart: lost {users_n - len(answered)}, answered twice {sum(1 for n in answered.values() if n > 1)}")
        await fake.close()


async def replicas(rate: int = 30) -> None:
    import pytest

    from sqlalchemy import create_engine, text

    from bot.store import Store
    from bot.tutor.bank import load_bank
    from tests.conftest import ADMIN_URL
    from tests.test_processes import test_two_webhook_replicas_on_one_postgresql_send_once_within_the_rate_and_record_once as run  # noqa: E501

    name = f"tutor_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    Store.open(url).close()
    fake = await FakeBotAPI(latency=0.05).start()
    try:
        await run(fake, Path(tempfile.mkdtemp()), url, load_bank(ROOT / "content"))
        copies = fake.find("copyMessage")
        per_chat = Counter(c.chat_id for c in copies)
        times = sorted(c.at for c in fake.find("copyMessage", ok=None))
        pace = (len(times) - 1) / (times[-1] - times[0])
        print(f"two webhook replicas, one PostgreSQL, broadcast to {len(per_chat)} confirmed on both, one 429: "
              f"{len(copies)} copies delivered, {len(copies) - len(per_chat)} duplicates, "
              f"overall pace {pace:.1f}/s at SEND_RATE={rate} (429s: "
              f"{len([c for c in fake.find('copyMessage', ok=False) if c.status == 429])})")
    except pytest.fail.Exception as exc:  # type: ignore[attr-defined]
        print(f"failed: {exc}")
    finally:
        await fake.close()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["kill9", "replicas"])
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    asyncio.run(kill9(a.users, a.rounds) if a.what == "kill9" else replicas())
