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
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from bot.tutor.engine import Action, Engine, Reply, Who

__all__ = ["EngineRunner", "EngineSpec", "ProcessRunner", "ThreadRunner", "WorkerDied"]

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


class WorkerDied(RuntimeError):
    """An engine worker process exited while handling the call (what it had committed stays)."""


class RemoteError(RuntimeError):
    """An exception raised in a worker that could not be sent back as itself."""


def _serve(conn: Connection, spec: EngineSpec) -> None:
    """A worker process: build the engine, then answer (call id, who, action) until the pipe closes."""
    # Ctrl-C reaches the whole process group: the bot shuts down and closes the pipe; finish the call first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine = spec.build()
    conn.send(None)  # ready
    while True:
        try:
            call_id, who, action = conn.recv()
        except (EOFError, OSError):
            return  # the bot closed the pipe: shut down
        try:
            reply: tuple[str, Any, str] = ("ok", engine.handle(who, action), "")
        except Exception as exc:  # raised in the bot, with this process's traceback as a note
            reply = ("error", _portable(exc), "".join(traceback.format_exception(exc)).rstrip())
        try:
            conn.send((call_id, reply))
        except Exception as exc:  # a reply that does not pickle: say so instead of dying
            conn.send((call_id, ("error", RemoteError(f"the {reply[0]} result could not be sent back: {exc!r}"),
                                 reply[2])))


def _portable(exc: Exception) -> Exception:
    """`exc` if it survives a pickle round trip (some library exceptions do not), else a RemoteError."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RemoteError(f"{type(exc).__name__}: {exc}")
    return exc


@dataclass
class _Worker:
    """One worker process and the bot's end of its pipe (asyncio streams: no helper threads)."""

    process: Any
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    calls: dict[int, asyncio.Future[list[Reply]]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    dead: bool = False


class ProcessRunner:
    """`Engine.handle` in `workers` spawned processes, each with its own Engine and Store.

    Calls go to the worker with the fewest in flight over a socket pair, framed as
    multiprocessing's Connection frames them (a 4-byte length, then the pickle), so the bot
    reads and writes them with asyncio and no helper threads. A worker that exits fails its
    calls in flight with `WorkerDied` and is replaced.
    """

    def __init__(self, content_dir: Path, database_url: str, workers: int) -> None:
        if workers < 1:
            raise ValueError("a ProcessRunner needs at least one worker")
        self.content_dir, self.database_url, self.workers = content_dir, database_url, workers
        self._spec: EngineSpec | None = None
        self._workers: list[_Worker] = []
        self._ids = itertools.count(1)
        self._closing = False
        self._ready = asyncio.Event()
        self._replacing = asyncio.Lock()

    async def start(self, engine: Engine) -> None:
        """Start the workers like `engine` (its settings and deep-link base); return when each is ready."""
        self._spec = EngineSpec.like(engine, self.content_dir, self.database_url)
        self._workers = list(await asyncio.gather(*(self._spawn() for _ in range(self.workers))))
        self._ready.set()
        log.info("engine: %d worker process%s ready", self.workers, "" if self.workers == 1 else "es")

    async def _spawn(self) -> _Worker:
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no copied locks, loops or connections
        ours, theirs = ctx.Pipe(duplex=True)
        process = ctx.Process(target=_serve, args=(theirs, self._spec), name="tutor-engine", daemon=True)
        process.start()
        theirs.close()
        sock = socket.socket(fileno=os.dup(ours.fileno()))
        ours.close()
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=2**26)
        worker = _Worker(process, reader, writer)
        try:
            await self._read(worker)  # the ready frame, once the bank is loaded and the grader warm
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            writer.close()
            await asyncio.to_thread(process.join, 5)
            raise RuntimeError(f"an engine worker failed to start (exit code {process.exitcode})") from exc
        worker.task = asyncio.create_task(self._results(worker), name="engine-worker-results")
        return worker

    @staticmethod
    async def _read(worker: _Worker) -> Any:
        (size,) = struct.unpack("!i", await worker.reader.readexactly(4))
        if size == -1:
            (size,) = struct.unpack("!Q", await worker.reader.readexactly(8))
        return pickle.loads(await worker.reader.readexactly(size))

    async def _results(self, worker: _Worker) -> None:
        """Deliver each result to its caller; when the worker exits, fail its calls and replace it."""
        try:
            while True:
                call_id, (status, value, remote_traceback) = await self._read(worker)
                future = worker.calls.pop(call_id, None)
                if future is not None and not future.done():
                    if status == "ok":
                        future.set_result(value)
                    else:
                        value.add_note(f"In the engine worker process:\n{remote_traceback}")
                        future.set_exception(value)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:  # a frame we cannot read: the pipe is out of step, so this worker is done
            log.exception("engine: unreadable reply from a worker process; stopping it")
            worker.process.kill()
        worker.dead = True  # before any await: no new call is sent to it
        for future in worker.calls.values():
            if not future.done():
                future.set_exception(WorkerDied("the engine worker exited while handling this update"))
        worker.calls.clear()
        worker.writer.close()
        if self._closing:
            return
        await asyncio.to_thread(worker.process.join, 5)
        if worker.process.is_alive():
            worker.process.kill()
        log.error("engine: a worker process exited (code %s); starting a new one", worker.process.exitcode)
        await self._replace(worker)

    async def _replace(self, worker: _Worker) -> None:
        """Start a worker in place of `worker` (calls wait meanwhile); if it cannot start, log why."""
        async with self._replacing:
            if worker not in self._workers or self._closing:
                return  # replaced already
            self._ready.clear()
            try:
                replacement = await self._spawn()
                self._workers = [replacement if w is worker else w for w in self._workers]
            except Exception:
                log.exception("engine: could not start a new worker process")
            finally:
                self._ready.set()

    async def handle(self, who: Who, action: Action) -> list[Reply]:
        await self._ready.wait()
        live = [w for w in self._workers if not w.dead]
        if not live and not self._closing:  # every replacement failed so far: try once more now
            for dead in [w for w in self._workers if w.dead]:
                await self._replace(dead)
            live = [w for w in self._workers if not w.dead]
        if self._closing or not live:
            raise WorkerDied("no engine worker is running")
        worker = min(live, key=lambda w: len(w.calls))
        call_id = next(self._ids)
        future: asyncio.Future[list[Reply]] = asyncio.get_running_loop().create_future()
        worker.calls[call_id] = future
        data = pickle.dumps((call_id, who, action), protocol=pickle.HIGHEST_PROTOCOL)
        worker.writer.write(struct.pack("!i", len(data)) + data)
        return await future

    async def close(self) -> None:
        """Let the workers finish their calls in flight, then stop them."""
        self._closing = True
        pending = [f for w in self._workers for f in w.calls.values()]
        if pending:
            await asyncio.wait(pending, timeout=30)
        for worker in self._workers:
            worker.writer.close()  # the worker reads EOF and exits
        for worker in self._workers:
            await asyncio.to_thread(worker.process.join, 10)
            if worker.process.is_alive():
                worker.process.kill()
            if worker.task is not None:
                await worker.task
        self._workers = []

    def pids(self) -> list[int]:
        """The worker processes' ids (for operators and tests)."""
        return [w.process.pid for w in self._workers]

    def running(self) -> int:
        """How many workers are up (a dead one counts until its replacement is ready)."""
        return sum(1 for w in self._workers if not w.dead)
