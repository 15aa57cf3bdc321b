"""Engine threads: engine calls off the event loop, in a bounded pool, with their results and errors."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bot.runtime.runner import EngineThreads
from bot.store import Store
from bot.tutor.actions import Help, Next, Who
from bot.tutor.engine import Engine
from bot.tutor.replies import AskQuestion, Message

from tests.conftest import Clock
from tests.test_engine import small_bank

ZOE = Who("telegram", "7007", "Zoe", 7007)


async def test_calls_run_in_the_pool_and_return_the_engines_replies(store: Store, clock: Clock) -> None:
    runner = EngineThreads(Engine(small_bank(), store, clock=clock), threads=2)
    try:
        replies = await runner.handle(ZOE, Next())
        assert any(isinstance(r, AskQuestion) for r in replies)
        name = await runner.call(lambda: threading.current_thread().name)
        assert name.startswith("engine") and name != threading.main_thread().name
    finally:
        runner.close()


async def test_at_most_threads_calls_run_at_once_and_the_rest_wait(store: Store, clock: Clock) -> None:
    runner = EngineThreads(Engine(small_bank(), store, clock=clock), threads=2)
    running = peak = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    try:
        await asyncio.gather(*(runner.call(work) for _ in range(8)))
    finally:
        runner.close()
    assert peak == 2


async def test_an_engine_error_reaches_the_caller_and_the_pool_keeps_serving(store: Store, clock: Clock) -> None:
    class Broken(Engine):
        def handle(self, who: Who, action: object) -> list:  # type: ignore[override, type-arg]
            if isinstance(action, Next):
                raise RuntimeError("grader exploded")
            return super().handle(who, action)  # type: ignore[arg-type]

    runner = EngineThreads(Broken(small_bank(), store, clock=clock), threads=1)
    try:
        with pytest.raises(RuntimeError, match="grader exploded"):
            await runner.handle(ZOE, Next())
        [help_text] = await runner.handle(ZOE, Help())
        assert isinstance(help_text, Message)
    finally:
        runner.close()


def test_a_pool_needs_a_thread(store: Store, clock: Clock) -> None:
    with pytest.raises(ValueError):
        EngineThreads(Engine(small_bank(), store, clock=clock), threads=0)
