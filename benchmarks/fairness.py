"""Fairness: other learners' reply latency while one learner bursts 40 messages (issue 14, finding 2).

    .venv/bin/python benchmarks/fairness.py [--burst 40] [--others 30] [--latency 0.05] [--memory]

The real Application as `run` builds it (the durable inbox on SQLite, eight update slots, one
engine thread) against the fake Telegram enforcing 1 message a second per chat (and 30/s
overall), with `--latency` seconds per API call. Amira sends `--burst` messages at once; while
her replies trickle out at one a second, `--others` other learners each send /help, 100 ms
apart. Reported: their reply latency (update injected -> reply sent), p50 / p99 / max. Target:
p99 <= 150 ms. `--memory` runs the in-memory path (no inbox) instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bot.channels.telegram import build_application  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.runtime.inbox import Inbox  # noqa: E402
from bot.runtime.runner import EngineThreads  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.tutor.bank import load_bank  # noqa: E402
from bot.tutor.engine import Engine  # noqa: E402
from tests.fakebot import FakeBotAPI, RateLimit, User, running  # noqa: E402


async def main(burst: int, others: int, latency: float, memory: bool) -> None:
    fake = await FakeBotAPI(rate_limit=RateLimit(overall=30, per_chat=1), latency=latency).start()
    tmp = tempfile.mkdtemp()
    store = Store.open(f"sqlite:///{tmp}/fair.sqlite3")
    bank = load_bank(ROOT / "content")
    engine = Engine(bank, store, clock=lambda: datetime.now(timezone.utc))
    engine.grader.warm(bank)
    app = build_application(Settings(telegram_bot_token=fake.token, telegram_base_url=fake.url), engine,
                            runner=EngineThreads(engine, 1), inbox=None if memory else Inbox(store, slots=8))
    amira = User(1, "Amira")
    users = [User(100 + i, f"L{i}") for i in range(others)]
    lat: list[float] = []
    async with running(app):
        for u in users[:3]:  # warm the path
            fake.send_text(u, "/help")
            await fake.wait_for("sendMessage", chat_id=u.id)
        await asyncio.sleep(1.1)
        mark = fake.mark()
        for _ in range(burst):
            fake.send_text(amira, "/help")
        await asyncio.sleep(0.3)
        for u in users:
            m = fake.mark()
            t0 = time.monotonic()
            fake.send_text(u, "/help")
            [reply] = await fake.wait_for("sendMessage", chat_id=u.id, since=m, timeout=60)
            lat.append(reply.at - t0)
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))
        pending = burst - len([c for c in fake.find("sendMessage", chat_id=amira.id, since=mark)])
    await fake.close()
    store.close()
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
    print(f"{'in-memory' if memory else 'inbox (SQLite)'}: burst {burst} from one learner, 1 msg/s per chat, "
          f"{latency * 1000:.0f} ms per API call; {len(lat)} other learners' replies: "
          f"p50 {statistics.median(lat) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms; "
          f"Amira's burst still pending at the end: {pending} (capped at 10 kept)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--burst", type=int, default=40)
    ap.add_argument("--others", type=int, default=30)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--memory", action="store_true")
    a = ap.parse_args()
    asyncio.run(main(a.burst, a.others, a.latency, a.memory))
