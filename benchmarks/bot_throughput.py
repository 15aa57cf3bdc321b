"""Answers per second through the whole stack, against a bare PTB echo bot on the same fake server.

    .venv/bin/python benchmarks/bot_throughput.py [--answers 500] [--rounds 3] [--database sqlite|URL]

Ours: fake Bot API -> getUpdates -> PTB -> handler -> engine (grader, SRS) -> store -> sendMessage
with the marked feedback. Echo: fake Bot API -> getUpdates -> PTB -> handler -> sendMessage with
the same text. Both run on one event loop with the fake server, so the server's own cost is in
both figures. Each round injects `--answers` updates at once (one per learner, every learner
with a free-text question waiting, set up off the clock) and times until every reply has been
sent. The goal: our cost per answer at most 2x the echo bot's.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import Update  # noqa: E402
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.channels.telegram import DEFAULT_CONCURRENCY, build_application  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.tutor.bank import load_bank  # noqa: E402
from bot.tutor.engine import Answer, Engine, Next, Who  # noqa: E402
from tests.fakebot import FakeBotAPI, User, running  # noqa: E402


async def _round(fake: FakeBotAPI, users: list[User], answers: list[str], done: Any) -> float:
    """Inject one message per user at once; seconds until every reply has been sent."""
    mark = fake.mark()
    t0 = time.perf_counter()
    for user, text in zip(users, answers):
        fake.send_text(user, text)
    await fake.wait_for("sendMessage", since=mark, count=len(users), where=done, timeout=600)
    return time.perf_counter() - t0


def _echo_app(fake: FakeBotAPI, concurrent: int | bool) -> Application:  # type: ignore[type-arg]
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_message.text is not None
        await update.effective_message.reply_text(update.effective_message.text)

    app = (ApplicationBuilder().token(fake.token).base_url(fake.base_url).base_file_url(fake.base_file_url)
           .concurrent_updates(concurrent).build())
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return app


async def bench(n: int, rounds: int, database: str, concurrency: int, latency: float) -> None:
    bank = load_bank(ROOT / "content")
    free = [q for q in bank if not q.is_choice]
    fake = await FakeBotAPI(latency=latency).start()
    tmp = tempfile.TemporaryDirectory()
    url = f"sqlite:///{Path(tmp.name) / 'bench.sqlite3'}" if database == "sqlite" else database
    store = Store.open(url)
    engine = Engine(bank, store, clock=lambda: datetime.now(timezone.utc), new_per_day=1000)
    next_id = iter(range(10_000_000, 20_000_000))

    def learners(count: int) -> tuple[list[User], list[str]]:
        """`count` new learners, each with a free-text question waiting (set up off the clock)."""
        users = [User(next(next_id), "Bench") for _ in range(count)]
        texts = []
        for user in users:
            engine.handle(Who("telegram", str(user.id), "Bench", user.id), Next())
            pending = store.get_pending(store.find_learner("telegram", str(user.id)).id)  # type: ignore[union-attr]
            question = bank.get(pending.question_id) if pending else None
            texts.append((question or free[0]).model_answer)
        return users, texts

    def feedback(call: Any) -> bool:
        return "Model answer" in call.text

    try:
        users, texts = learners(n)  # the engine alone, called directly: the floor for our bot
        t0 = time.perf_counter()
        for user, text in zip(users, texts):
            engine.handle(Who("telegram", str(user.id), "Bench", user.id), Answer(text))
        engine_ms = (time.perf_counter() - t0) / n * 1000
        ours: list[float] = []
        app = build_application(Settings(telegram_bot_token=fake.token, telegram_base_url=fake.url), engine, store,
                                concurrent_updates=concurrency)
        async with running(app):
            await _round(fake, *learners(min(50, n)), done=feedback)  # warm-up: connections, grader caches
            for _ in range(rounds):
                users, texts = learners(n)
                ours.append(n / await _round(fake, users, texts, done=feedback))
        echo: dict[str, list[float]] = {}
        for label, concurrent in (("sequential", False), ("concurrent 64", 64)):
            echo[label] = []
            async with running(_echo_app(fake, concurrent)):
                await _round(fake, *learners(min(50, n)), done=None)
                for _ in range(rounds):
                    users, texts = learners(n)
                    echo[label].append(n / await _round(fake, users, texts, done=None))
    finally:
        store.close()
        await fake.close()
        tmp.cleanup()

    ours_rate = statistics.median(ours)
    print(f"{n} answers x {rounds} rounds, database {store.dialect}, fake server in-process, "
          f"latency {latency * 1000:.0f} ms per call (median of rounds)")
    print(f"  engine alone (direct, one thread):  {engine_ms:.2f} ms per answer")
    print(f"  tutor bot (engine, grader, store; {concurrency} concurrent): {ours_rate:8.1f} answers/s  "
          f"({1000 / ours_rate:.2f} ms per answer)  rounds: {', '.join(f'{r:.0f}' for r in ours)}")
    best = 0.0
    for label, rates in echo.items():
        rate = statistics.median(rates)
        best = max(best, rate)
        print(f"  bare PTB echo bot ({label}): {rate:8.1f} updates/s  ({1000 / rate:.2f} ms per update)  "
              f"rounds: {', '.join(f'{r:.0f}' for r in rates)}")
    ratio = best / ours_rate
    print(f"  cost per answer vs the faster echo bot: {ratio:.2f}x (goal <= 2x): {'OK' if ratio <= 2 else 'OVER'}")
    channel = 1000 / ours_rate - engine_ms
    print(f"  ours minus the engine: {channel:.2f} ms per answer = {channel / (1000 / best):.2f}x the echo bot's cost")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=500, help="answers per round (one per learner)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default="sqlite", help="'sqlite' (a temp file) or a database URL")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                        help="the tutor bot's concurrent updates (build_application's concurrent_updates)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the fake adds to each call (RTT)")
    args = parser.parse_args()
    asyncio.run(bench(args.answers, args.rounds, args.database, args.concurrency, args.latency))


if __name__ == "__main__":
    main()
