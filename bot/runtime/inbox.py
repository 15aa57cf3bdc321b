"""Update slots and the durable update inbox: fair, ordered, at-least-once processing of updates.

`Slots` bounds how many updates are worked on at once. A learner waits for their turn
*before* taking a slot (one learner's updates run one at a time, in order), and a wait on
Telegram's flood control (`sleep_outside_slot`) gives the slot back, so one learner's
burst never stalls the others.

`Inbox` is the durable path (issue 14): the channel stores every update (`put`) before it
confirms it to Telegram (the polling offset moves on, or the webhook answers 200, only
after the insert); `run` claims stored updates (for each learner only their oldest
unfinished one, across every replica), processes each in a slot, and marks it done, which
erases its payload. A crash leaves claimed updates behind: their lease runs out and they
are processed again (at most the updates in flight are answered twice); a redelivered
update id is ignored. No Telegram here: the channel supplies `process(payload)`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.tutor.ports import InboxStore

log = logging.getLogger(__name__)

__all__ = ["Slots", "sleep_outside_slot", "Inbox", "BACKLOG_MAX", "STORED", "DUPLICATE", "DROPPED"]

BACKLOG_MAX = 10  # unfinished updates one learner may have; more are dropped (and they are told once)
POISON_ATTEMPTS = 5  # an update claimed this often without finishing is given up (logged)
STORED, DUPLICATE, DROPPED = "stored", "duplicate", "dropped"

_CURRENT: contextvars.ContextVar[Slots | None] = contextvars.ContextVar("update_slot", default=None)


class Slots:
    """At most `n` updates worked on at once; `hold()` takes one for the current task."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError("at least one update slot")
        self.n = n
        self.held = 0
        self._sem = asyncio.Semaphore(n)

    @property
    def free(self) -> int:
        return self.n - self.held

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        await self._sem.acquire()
        self.held += 1
        token = _CURRENT.set(self)
        try:
            yield
        finally:
            _CURRENT.reset(token)
            self.held -= 1
            self._sem.release()

    async def _sleep_outside(self, seconds: float) -> None:
        self.held -= 1
        self._sem.release()
        try:
            await asyncio.sleep(seconds)
        finally:
            await self._sem.acquire()
            self.held += 1


async def sleep_outside_slot(seconds: float) -> None:
    """Sleep (a 429's retry_after) with the current update's slot given back; the learner keeps their turn."""
    slots = _CURRENT.get()
    if slots is None:
        await asyncio.sleep(seconds)
    else:
        await slots._sleep_outside(seconds)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Inbox:
    """The durable update inbox on the store: `put` before confirming, `run` to process (see the module)."""

    def __init__(self, store: InboxStore, *, slots: int = 8, lease: timedelta = timedelta(seconds=30),
                 backlog_max: int = BACKLOG_MAX, poll_every: float = 0.5,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self.store = store
        self.slots = Slots(slots)
        self.lease = lease
        self.backlog_max = backlog_max
        self.poll_every = poll_every
        self.clock = clock  # real time: leases are shared with other processes
        self.process: Callable[[dict[str, Any]], Awaitable[None]] | None = None  # set by the channel
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._starting = 0
        self._told: set[str] = set()  # keys told about dropped messages in this backlog

    async def put(self, update_id: int, chat_key: str, payload: dict[str, Any]) -> tuple[str, bool]:
        """Store an update (call before confirming it). Returns (STORED | DUPLICATE | DROPPED, tell them?).

        DROPPED: the learner already has `backlog_max` unfinished updates; the second value is
        True the first time in that backlog, so the channel tells them once.
        """
        backlog = await asyncio.to_thread(self.store.inbox_backlog, chat_key)
        if backlog >= self.backlog_max:
            tell = chat_key not in self._told
            self._told.add(chat_key)
            log.info("update %s dropped: its sender has %d unfinished", update_id, backlog)
            return DROPPED, tell
        if not backlog:
            self._told.discard(chat_key)
        stored = await asyncio.to_thread(self.store.inbox_put, update_id, chat_key, payload, self.clock())
        if stored:
            self._wake.set()
        return (STORED if stored else DUPLICATE), False

    def wake(self) -> None:
        self._wake.set()

    async def recover(self) -> int:
        """One process only (polling): updates a dead process had claimed are processed now, not after the lease."""
        now = self.clock()
        n = 0
        for item in await asyncio.to_thread(self.store.inbox_unfinished):
            if item.state == "claimed" and item.owner:
                n += await asyncio.to_thread(self.store.inbox_release, item.update_id, now, owner=item.owner)
        if n:
            log.info("inbox: %d update(s) left by a stopped process will be processed again", n)
        return n

    async def run(self, stop: asyncio.Event) -> None:
        """Process stored updates until `stop` is set (then wait for the ones in flight)."""
        renewer = asyncio.create_task(self._renew(stop), name="inbox-lease-renewal")
        try:
            while not stop.is_set():
                free = self.slots.free - self._starting
                claimed = 0
                if free > 0:
                    try:
                        items = await asyncio.to_thread(self.store.inbox_claim, self.clock(), self.lease, free)
                    except Exception:  # noqa: BLE001 - the database may come back
                        log.exception("inbox: claiming updates failed; retrying shortly")
                        items = []
                    for item in items:
                        self._starting += 1
                        self._running[item.update_id] = asyncio.create_task(self._work(item.update_id, item.payload,
                                                                                       item.attempts))
                    claimed = len(items)
                if claimed and claimed == free:
                    await asyncio.sleep(0)  # more may be waiting: claim again once a slot frees
                self._wake.clear()
                if claimed < free or free <= 0:
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.poll_every)
                    except TimeoutError:
                        pass
        finally:
            renewer.cancel()
            if self._running:
                await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _work(self, update_id: int, payload: dict[str, Any] | None, attempts: int) -> None:
        started = False
        try:
            async with self.slots.hold():
                self._starting -= 1
                started = True
                if payload is None or attempts > POISON_ATTEMPTS:
                    log.error("inbox: update %s given up after %d attempts", update_id, attempts)
                elif self.process is not None:
                    await self.process(payload)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the channel's error handler has apologised already
            log.exception("inbox: update %s failed", update_id)
        finally:
            if not started:
                self._starting -= 1
        try:
            await asyncio.to_thread(self.store.inbox_done, update_id, self.clock())
        except Exception:  # noqa: BLE001 - its lease runs out and it is processed again
            log.exception("inbox: could not mark update %s done", update_id)
        finally:
            self._running.pop(update_id, None)
            self._wake.set()

    async def _renew(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.lease.total_seconds() / 3)
            ids = list(self._running)
            if not ids:
                continue
            try:
                await asyncio.to_thread(self.store.inbox_renew, ids, self.clock(), self.lease)
            except Exception:  # noqa: BLE001
                log.warning("inbox: renewing claims failed", exc_info=True)
