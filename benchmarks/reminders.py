"""Reminders at scale: 100,000 learners with reminder times spread over the day, 5,000 due in the
same minute. Measures the sweep's query-and-claim time on SQLite and PostgreSQL, then the paced
sender's achieved rate against the fake Bot API server enforcing 30/s overall and 1/s per chat.

    .venv/bin/python benchmarks/reminders.py [--learners 100000] [--due 5000] [--send 1000] [--rate 25]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import timedelta

from _bulk import T0, add_learners, throwaway_store  # type: ignore[import-not-found]
from sqlalchemy import insert

from bot.runtime.reminders import ReminderSweeper
from bot.store import schema as s


def fill_reminders(store, ids: list[int], due: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    rows = []
    for k, lid in enumerate(ids):
        if k < due:
            at = T0  # all due in the same minute
        else:
            at = T0 + timedelta(minutes=rng.randint(2, 24 * 60 - 2))
        local = at.strftime("%H:%M")
        rows.append(dict(learner_id=lid, local_time=local, timezone="UTC", next_fire_at=at, enabled=True, ignored=0))
    with store.tx() as c:
        for i in range(0, len(rows), 20_000):
            c.execute(insert(s.reminders), rows[i:i + 20_000])


def sweep_benchmark(kind: str, learners: int, due: int) -> None:
    with throwaway_store(kind) as store:
        ids = add_learners(store, learners)
        fill_reminders(store, ids, due)
        sweeper = ReminderSweeper(store, clock=lambda: T0 + timedelta(seconds=30))
        t = time.perf_counter()
        queued, skipped = sweeper.sweep()
        took = time.perf_counter() - t
        t2 = time.perf_counter()
        again = sweeper.sweep()
        idle = time.perf_counter() - t2
        print(f"[{kind}] sweep of {learners:,} reminders, {due:,} due: claimed {queued:,} (skipped {skipped}) "
              f"in {took * 1000:.0f} ms; next sweep (nothing due) {idle * 1000:.1f} ms, claimed {again[0]}")


async def sender_benchmark(n: int, rate: float) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fakebot import FakeBotAPI, RateLimit

    from bot.runtime.sender import Outcome, PacedSender

    fake = await FakeBotAPI(rate_limit=RateLimit(overall=30, per_chat=1)).start()
    from telegram import Bot

    with throwaway_store("sqlite") as store:
        ids = add_learners(store, n)
        store.enqueue([dict(learner_id=lid, chat_id=10_000 + k, kind="reminder", payload={}) for k, lid in enumerate(ids)],
                      T0)
        bot = Bot(fake.token, base_url=fake.base_url)
        async with bot:
            async def deliver(item):  # type: ignore[no-untyped-def]
                from telegram.error import RetryAfter

                try:
                    await bot.send_message(item.chat_id, "Time to revise: 3 questions due, about 2 minutes.")
                except RetryAfter as exc:
                    ra = exc.retry_after
                    return Outcome.flood(float(ra.total_seconds() if hasattr(ra, "total_seconds") else ra))
                return Outcome.sent()

            sender = PacedSender(store, deliver, rate=rate)
            start = time.perf_counter()
            while store.outbox_pending():
                await sender.drain_once()
            took = time.perf_counter() - start
    sends = [c for c in fake.calls if c.method == "sendMessage"]
    flood = sum(1 for c in sends if c.status == 429)
    ok = len(sends) - flood
    print(f"[sender] {ok:,} reminders in {took:.1f}s = {ok / took:.2f}/s at SEND_RATE={rate:g} "
          f"({ok / took / rate:.1%} of it); 429s: {flood}")
    await fake.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--learners", type=int, default=100_000)
    ap.add_argument("--due", type=int, default=5_000)
    ap.add_argument("--send", type=int, default=1_000)
    ap.add_argument("--rate", type=float, default=25.0)
    ap.add_argument("--only", choices=["sqlite", "postgresql", "sender"])
    args = ap.parse_args()
    for kind in ("sqlite", "postgresql"):
        if args.only in (None, kind):
            sweep_benchmark(kind, args.learners, args.due)
    if args.only in (None, "sender"):
        import os

        os.environ.setdefault("PTB_TIMEDELTA", "true")
        asyncio.run(sender_benchmark(args.send, args.rate))


if __name__ == "__main__":
    main()
