"""Where an async channel runs engine calls: a bounded pool of threads in this process.

The engine is synchronous (grading, scheduling, SQLAlchemy) and must not block the event
loop. `EngineThreads` runs each call in one of `threads` threads (one on SQLite, which writes
one at a time), queueing the rest in the pool rather than in SQLite's sleeping busy-wait.
One learner's calls stay in order because the channel hands over one of their updates at a
time. More throughput than one process gives is more replicas on PostgreSQL, not more
processes per replica: see the README's figures beside Telegram's ~30 messages a second.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from bot.tutor.actions import Action, Event, Who
from bot.tutor.engine import Engine
from bot.tutor.replies import Reply

__all__ = ["EngineThreads"]

P = ParamSpec("P")
T = TypeVar("T")


class EngineThreads:
    """`engine`'s calls, at most `threads` at a time, each in a thread of its own pool."""

    def __init__(self, engine: Engine, threads: int) -> None:
        if threads < 1:
            raise ValueError("EngineThreads needs at least one thread")
        self.engine = engine
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="engine")

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` in the pool (an engine method, or anything else on the engine's side)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def handle(self, who: Who, action: Action) -> list[Reply]:
        return await self.call(self.engine.handle, who, action)

    async def notice(self, event: Event) -> list[Reply]:
        return await self.call(self.engine.notice, event)

    def close(self) -> None:
        """Wait for the calls in flight, then stop the threads."""
        self._pool.shutdown(wait=True)
