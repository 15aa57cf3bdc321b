"""Answers per second through the whole stack, against a bare PTB echo bot on the same fake server.

    .venv/bin/python benchmarks/bot_throughput.py [--answers 500] [--rounds 5] [--server process|inline]
                                                  [--database sqlite|postgresql] [--latency 0.03] [--paced 30]

Ours: fake Bot API -> getUpdates -> PTB -> handler -> engine (grader, SRS) -> store -> sendMessage
with the marked feedback. Echo: fake Bot API -> getUpdates -> PTB -> handler -> sendMessage with
the same text. Each round injects `--answers` updates at once (one per learner, every learner
with a free-text question waiting, set up off the clock) and times until every reply has been
sent. Rounds alternate between the bots (ours, echo sequential, echo concurrent, in a rotating
order), so a machine that speeds up or slows down during the run moves every bot alike; the
ratio is taken round by round and its median reported. The goal: our cost per answer at most
2x the echo bot's (the faster of its two modes).

Latency: each answer's time from its update reaching the fake server to the feedback being sent,
in a burst round (every answer at once: queueing included) and in a paced round at `--paced`
answers a second (Telegram delivers a bot's chats ~30 messages a second at most): p50 and p99.
The engine runs in its threads (`bot.runtime.runner.EngineThreads`, one on SQLite), as `run_bot` runs it.

`--server process` (the default) runs the fake Telegram in its own process, as the real one is
on other machines: the figures are the bot's own cost. `--server inline` runs it on the bot's
event loop, so its work (parsing, checking HTML, recording) is added to every bot's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import Update  # noqa: E402
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.channels.telegram import DEFAULT_CONCURRENCY, build_application  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.runtime.runner import EngineThreads  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.tutor.actions import Answer, Next, Who  # noqa: E402
from bot.tutor.bank import load_bank  # noqa: E402
from bot.tutor.engine import Engine  # noqa: E402
from tests.fakebot import FakeBotAPI, User, running  # noqa: E402

from _bulk import throwaway_store  # noqa: E402  (benchmarks/ is on the path when run as a script)

FEEDBACK = "Model answer"  # in every reply to a free-text answer
Batch = list[tuple[int, str]]  # (user id, text) per learner


Timing = tuple[float, list[float]]  # seconds for the round, each answer's latency


async def _one_round(fake: FakeBotAPI, batch: Batch, reply_contains: str | None, rate: float | None = None) -> Timing:
    """Inject one message per learner, at once (or `rate` a second); seconds until each has had its reply."""
    mark = fake.mark()
    t0 = time.perf_counter()
    sent: dict[int, float] = {}
    for i, (user_id, text) in enumerate(batch):
        if rate:
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        sent[user_id] = time.monotonic()  # the fake stamps its calls with the same clock
        fake.send_text(User(user_id, "Bench"), text)
    calls = await fake.wait_for("sendMessage", since=mark, count=len(batch), timeout=600,
                                where=None if reply_contains is None else (lambda call: reply_contains in call.text))
    return time.perf_counter() - t0, [c.at - sent[c.chat_id] for c in calls if c.chat_id in sent]


class InlineServer:
    """The fake Bot API on the benchmark's own event loop."""

    async def start(self, latency: float) -> InlineServer:
        self.fake = await FakeBotAPI(latency=latency).start()
        self.token, self.url = self.fake.token, self.fake.url
        return self

    async def round(self, batch: Batch, reply_contains: str | None, rate: float | None = None) -> Timing:
        return await _one_round(self.fake, batch, reply_contains, rate)

    async def close(self) -> None:
        await self.fake.close()


def _serve(conn: Connection, latency: float) -> None:
    """The child process: a fake Bot API, driven over `conn` (one round at a time)."""
    async def main() -> None:
        fake = await FakeBotAPI(latency=latency).start()
        conn.send((fake.token, fake.url))
        loop = asyncio.get_running_loop()
        while True:
            readable = loop.create_future()
            loop.add_reader(conn.fileno(), lambda: readable.done() or readable.set_result(None))
            await readable
            loop.remove_reader(conn.fileno())
            message = conn.recv()
            if message is None:
                break
            batch, reply_contains, rate = message
            conn.send(await _one_round(fake, batch, reply_contains, rate))
        await fake.close()

    asyncio.run(main())


class ProcessServer:
    """The fake Bot API in a child process (its CPU is not the bot's); rounds timed in the child."""

    async def start(self, latency: float) -> ProcessServer:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, latency), daemon=True)
        self.process.start()
        self.token, self.url = await self._recv()
        return self

    async def _recv(self) -> Any:
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        loop.add_reader(self.conn.fileno(), lambda: readable.done() or readable.set_result(None))
        try:
            await readable
        finally:
            loop.remove_reader(self.conn.fileno())
        return self.conn.recv()

    async def round(self, batch: Batch, reply_contains: str | None, rate: float | None = None) -> Timing:
        self.conn.send((batch, reply_contains, rate))
        elapsed, latencies = await self._recv()
        return float(elapsed), list(latencies)

    async def close(self) -> None:
        self.conn.send(None)
        self.process.join(10)


def _echo_app(server: Any, concurrent: int | bool) -> Application:  # type: ignore[type-arg]
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_message.text is not None
        await update.effective_message.reply_text(update.effective_message.text)

    app = (ApplicationBuilder().token(server.token).base_url(f"{server.url}/bot")
           .base_file_url(f"{server.url}/file/bot").concurrent_updates(concurrent).build())
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return app


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def bench(n: int, rounds: int, database: str, concurrency: int, latency: float, inline: bool,
                paced: float) -> None:
    with throwaway_store(database) as store:  # a temp file, or a throwaway PostgreSQL database
        await _bench(store, n, rounds, concurrency, latency, inline, paced)


async def _bench(store: Store, n: int, rounds: int, concurrency: int, latency: float, inline: bool,
                 paced: float) -> None:
    bank = load_bank(ROOT / "content")
    threads = 1 if store.dialect == "sqlite" else concurrency  # as run_bot decides
    engine = Engine(bank, store, clock=lambda: datetime.now(timezone.utc), new_per_day=1000)
    engine.grader.warm(list(bank))  # as run_bot does at start-up
    next_id = iter(range(10_000_000, 20_000_000))

    def learners(count: int) -> Batch:
        """`count` new learners, each with a free-text question waiting (set up off the clock)."""
        batch = []
        for _ in range(count):
            user_id = next(next_id)
            engine.handle(Who("telegram", str(user_id), "Bench", user_id), Next())
            learner = store.find_learner("telegram", str(user_id))
            pending = store.get_pending(learner.id) if learner else None
            question = bank.get(pending.question_id) if pending else None
            assert question is not None and not question.is_choice, "the bench bank asks free-text questions"
            batch.append((user_id, question.model_answer))
        return batch

    bots: dict[str, tuple[Callable[[Any], Application], str | None]] = {  # type: ignore[type-arg]
        "ours": (lambda server: build_application(
            Settings(telegram_bot_token=server.token, telegram_base_url=server.url), engine,
            concurrent_updates=concurrency, runner=EngineThreads(engine, threads)), FEEDBACK),
        "echo sequential": (lambda server: _echo_app(server, False), None),
        "echo concurrent 64": (lambda server: _echo_app(server, 64), None),
    }
    rates: dict[str, list[float]] = {name: [] for name in bots}
    burst: list[float] = []
    steady: list[float] = []
    server: Any = await (InlineServer() if inline else ProcessServer()).start(latency)
    try:
        batch = learners(n)  # the engine alone, called directly: the floor for our bot
        t0 = time.perf_counter()
        for user_id, text in batch:
            engine.handle(Who("telegram", str(user_id), "Bench", user_id), Answer(text))
        engine_ms = (time.perf_counter() - t0) / n * 1000
        names = list(bots)
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:  # a rotating order
                make, reply_contains = bots[name]
                warm, batch = learners(min(50, n)), learners(n)
                async with running(make(server)):
                    await server.round(warm, reply_contains)  # connections, caches
                    elapsed, latencies = await server.round(batch, reply_contains)
                    rates[name].append(n / elapsed)
                    if name == "ours":
                        burst += latencies
        make, reply_contains = bots["ours"]
        warm, batch = learners(min(50, n)), learners(n)
        async with running(make(server)):
            await server.round(warm, reply_contains)
            _, steady = await server.round(batch, reply_contains, paced)
    finally:
        await server.close()

    print(f"{n} answers x {rounds} rounds, database {store.dialect}, fake server "
          f"{'on the same event loop' if inline else 'in its own process'}, "
          f"latency {latency * 1000:.0f} ms per call; "
          f"engine in {threads} thread(s) of the bot process")
    print(f"  engine alone (direct, one thread): {engine_ms:.2f} ms per answer")
    for name, label in (("ours", f"tutor bot ({concurrency} concurrent)"), ("echo sequential", "bare echo, sequential"),
                        ("echo concurrent 64", "bare echo, 64 concurrent")):
        rate = statistics.median(rates[name])
        print(f"  {label:30} {rate:8.1f}/s  ({1000 / rate:.2f} ms each)  "
              f"rounds: {', '.join(f'{x:.0f}' for x in rates[name])}")
    ratios = [max(rates["echo sequential"][r], rates["echo concurrent 64"][r]) / rates["ours"][r]
              for r in range(rounds)]
    ratio = statistics.median(ratios)
    print(f"  cost per answer vs the faster echo bot, round by round: {', '.join(f'{x:.2f}' for x in ratios)}")
    print(f"  median {ratio:.2f}x (goal <= 2x): {'OK' if ratio <= 2 else 'OVER'}")
    print(f"  answer latency, burst of {n}: p50 {_pct(burst, 0.5):.0f} ms, p99 {_pct(burst, 0.99):.0f} ms")
    print(f"  answer latency, paced at {paced:g}/s: p50 {_pct(steady, 0.5):.1f} ms, p99 {_pct(steady, 0.99):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=500, help="answers per round (one per learner)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per bot (alternating)")
    parser.add_argument("--server", choices=("process", "inline"), default="process",
                        help="the fake Bot API in its own process (default) or on the bot's event loop")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="a temp SQLite file, or a throwaway database on TEST_POSTGRES_URL's server")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                        help="the tutor bot's concurrent updates (build_application's concurrent_updates)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the fake adds to each call (RTT)")
    parser.add_argument("--paced", type=float, default=30.0,
                        help="answers a second in the latency round (Telegram's ceiling is ~30 messages/s)")
    args = parser.parse_args()
    asyncio.run(bench(args.answers, args.rounds, args.database, args.concurrency, args.latency,
                      args.server == "inline", args.paced))


if __name__ == "__main__":
    main()
