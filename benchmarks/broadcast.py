"""Broadcast at scale: a tutor's message copied to N recipients (default 10,000) through the real
Application, the outbox and the paced sender, against the fake Bot API server enforcing 30/s
overall and 1/s per chat, with SEND_RATE=25. Prints the achieved rate, the 429s and peak memory.

    .venv/bin/python benchmarks/broadcast.py [--recipients 10000] [--rate 25]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from _bulk import add_learners, throwaway_store  # type: ignore[import-not-found]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def run(recipients: int, rate: float) -> None:
    from bot.app import outbox_extension
    from bot.channels.telegram import build_application
    from bot.config import load_settings
    from bot.tutor.bank import load_bank
    from bot.tutor.engine import Engine
    from tests.fakebot import FakeBotAPI, RateLimit, running

    fake = await FakeBotAPI(rate_limit=RateLimit(overall=30, per_chat=1)).start()
    with throwaway_store("sqlite") as store:
        ids = add_learners(store, recipients)
        now = datetime.now(timezone.utc)
        tutor = store.learner("telegram", "1", now=now, timezone="Europe/London", new_per_day=10, chat_id=1)
        cohort = store.create_cohort("Bench cohort", tutor.id, "benchcode", now)
        with store.tx() as c:
            from sqlalchemy import insert

            from bot.store import schema as s

            c.execute(insert(s.memberships), [dict(cohort_id=cohort.id, learner_id=i, joined_at=now) for i in ids])
        bid = store.create_broadcast(cohort.id, tutor.id, now)
        store.set_broadcast_message(bid, 1, 42, "Mock exam on Friday")
        settings = replace(load_settings({}, dotenv=None), telegram_bot_token=fake.token,
                           telegram_base_url=fake.url, send_rate=rate)
        engine = Engine(load_bank(Path(__file__).resolve().parent.parent / "content"), store,
                        clock=lambda: datetime.now(timezone.utc))
        app = build_application(settings, engine, extensions=[outbox_extension(settings, store)])
        start = time.perf_counter()
        assert store.start_broadcast(bid, now) == recipients
        async with running(app):
            app.bot_data["sender"].wake()
            while store.outbox_pending():
                await asyncio.sleep(0.5)
        took = time.perf_counter() - start
        counts = store.outbox_counts(bid)
    copies = [c for c in fake.calls if c.method == "copyMessage"]
    flood = sum(1 for c in copies if c.status == 429)
    ok = len(copies) - flood
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"[broadcast] {ok:,} copies in {took:.1f}s = {ok / took:.2f}/s at SEND_RATE={rate:g} "
          f"({ok / took / rate:.1%}); 429s: {flood}; outbox: {counts}; peak RSS {peak_mb:.0f} MB")
    await fake.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--recipients", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=25.0)
    args = ap.parse_args()
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    asyncio.run(run(args.recipients, args.rate))


if __name__ == "__main__":
    main()
