"""Where an async channel runs engine calls: threads of this process, or worker processes.

The engine is synchronous and CPU-bound (grading, scheduling, SQLAlchemy) and must not block
the event loop. In threads (`ThreadRunner`) it shares this process's GIL with the loop, so a
busy bot's loop (PTB's parsing, HTTP, JSON) and its engine take turns on one core. In worker
processes (`ProcessRunner`) the engine has cores of its own: each worker builds its own Engine
and Store from an `EngineSpec` (the same content and database) and the loop only pickles the
action and the replies. A worker that dies is replaced; the update it was handling gets the
error handler's apology, and what it had committed stays committed.

`ThreadRunner` is the default for tests and for an injected engine (its clock can be a fake);
`run_bot` picks `ProcessRunner` when `Settings.workers()` says so.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from bot.tutor.engine import Action, Engine, Reply, Who

__all__ = ["EngineRunner", "EngineSpec", "ProcessRunner", "ThreadRunner"]

log = logging.getLogger(__name__)


class EngineRunner(Protocol):
    """Runs `Engine.handle` off the event loop."""

    async def start(self, engine: Engine) -> None: ...

    async def handle(self, who: Who, action: Action) -> list[Reply]: ...

    async def close(self) -> None: ...


class ThreadRunner:
    """The given engine, called through `asyncio.to_thread`, at most `slots` calls at a time."""

    def __init__(self, engine: Engine, slots: int) -> None:
        self.engine = engine
        self._slots = asyncio.Semaphore(slots)

    async def start(self, engine: Engine) -> None:
        pass

    async def handle(self, who: Who, action: Action) -> list[Reply]:
        async with self._slots:  # queue here, not in SQLite's sleeping busy-wait
            return await asyncio.to_thread(self.engine.handle, who, action)

    async def close(self) -> None:
        pass


@dataclass(frozen=True)
class EngineSpec:
    """What a worker process needs to build the same engine (picklable: no clock, no connections)."""

    content_dir: Path
    database_url: str
    default_timezone: str
    new_per_day: int
    desired_retention: float
    admins: frozenset[tuple[str, str]]
    link_base: str | None

    @classmethod
    def like(cls, engine: Engine, content_dir: Path, database_url: str) -> EngineSpec:
        return cls(content_dir, database_url, engine.default_timezone, engine.new_per_day, engine.desired_retention,
                   engine.admins, engine.link_base)

    def build(self) -> Engine:
        from bot.store import Store
        from bot.tutor.bank import load_bank

        bank = load_bank(self.content_dir)
        store = Store.open(self.database_url, migrate=False)  # the parent migrated before starting us
        engine = Engine(bank, store, clock=lambda: datetime.now(timezone.utc), default_timezone=self.default_timezone,
                        new_per_day=self.new_per_day, desired_retention=self.desired_retention, admins=self.admins,
                        link_base=self.link_base)
        engine.grader.warm(bank)
        return engine


_worker_engine: Engine | None = None  # one per worker process


def _init_worker(spec: EngineSpec) -> None:
    global _worker_engine
    _worker_engine = spec.build()


def _ready() -> bool:
    return _worker_engine is not None


def _handle(who: Who, action: Action) -> list[Reply]:
    assert _worker_engine is not None, "the worker's initializer builds the engine"
    return _worker_engine.handle(who, action)


class ProcessRunner:
    """`Engine.handle` in `workers` processes (spawned, so nothing of the parent's state is shared)."""

    def __init__(self, content_dir: Path, database_url: str, workers: int) -> None:
        if workers < 1:
            raise ValueError("a ProcessRunner needs at least one worker")
        self.content_dir, self.database_url, self.workers = content_dir, database_url, workers
        self._spec: EngineSpec | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._restarting = asyncio.Lock()

    async def start(self, engine: Engine) -> None:
        """Start the workers like `engine` (its settings and deep-link base) and wait until each is ready."""
        self._spec = EngineSpec.like(engine, self.content_dir, self.database_url)
        await self._restart(None)

    async def _restart(self, broken: ProcessPoolExecutor | None) -> None:
        async with self._restarting:
            if self._pool is not broken:
                return  # another call has replaced them already
            pool = self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                initargs=(self._spec,))
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            # Start every worker now (bank, grader warm-up), not on the first learners' answers.
            await asyncio.gather(*(asyncio.wrap_future(pool.submit(_ready)) for _ in range(self.workers)))
            log.info("engine: %d worker process%s ready", self.workers, "" if self.workers == 1 else "es")

    def _submit(self, who: Who, action: Action) -> tuple[ProcessPoolExecutor, Future[list[Reply]]]:
        pool = self._pool
        if pool is None:
            raise RuntimeError("the engine workers are not running (start() first)")
        return pool, pool.submit(_handle, who, action)

    async def handle(self, who: Who, action: Action) -> list[Reply]:
        try:
            pool, future = self._submit(who, action)
        except BrokenProcessPool:  # a worker died earlier: this action has not run; run it on new workers
            log.error("engine: a worker process died; starting new ones")
            await self._restart(self._pool)
            pool, future = self._submit(who, action)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:  # died while handling this one (it may or may not have committed)
            log.error("engine: a worker process died while handling an update; starting new ones")
            await self._restart(pool)
            raise

    async def close(self) -> None:
        """Let the workers finish what they are doing, then stop them."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True)

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and operators)."""
        processes: dict[int, Any] = getattr(self._pool, "_processes", None) or {}
        return sorted(processes)
