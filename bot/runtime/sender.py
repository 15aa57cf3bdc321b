"""The paced sender: drains the store's outbox under Telegram's limits, for reminders and broadcasts.

At most `rate` messages a second overall and one a second per chat; a 429 pauses the whole
sender for `retry_after`; a 403 marks the learner inactive; a sent reminder counts towards its back-off; other errors are retried with
back-off a few times, then reported as failed. Rows are claimed with a lease, so after a crash
they are taken again once the lease ends: rows claimed but not yet attempted are simply sent,
and only a row whose send was under way (status `sending`) can be a duplicate. With
`in_flight=1` (the default) that is at most one duplicate per crash and never a lost recipient;
sends are then one at a time, which sustains `rate` while Telegram answers within 1/rate seconds.
Interactive replies do not go through here.

No Telegram import: the channel supplies `deliver(item) -> Outcome`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from bot.tutor.models import OutboxItem
from bot.tutor.ports import OutboxStore

log = logging.getLogger(__name__)

__all__ = ["Outcome", "PacedSender", "RateLimiter"]

SENT, BLOCKED, FAILED, SKIPPED, RETRY = "sent", "blocked", "failed", "skipped", "retry"
FLOOD_RETRIES = 5  # 429s in a row for one message before it goes back to the outbox


@dataclass(frozen=True)
class Outcome:
    status: str  # sent | blocked | failed | skipped | retry
    retry_after: float = 0.0  # with retry: a 429's retry_after (pauses every send)
    error: str = ""

    @classmethod
    def sent(cls) -> Outcome:
        return cls(SENT)

    @classmethod
    def blocked(cls, error: str = "") -> Outcome:
        return cls(BLOCKED, error=error)

    @classmethod
    def failed(cls, error: str) -> Outcome:
        return cls(FAILED, error=error)

    @classmethod
    def skipped(cls, why: str = "") -> Outcome:
        return cls(SKIPPED, error=why)

    @classmethod
    def flood(cls, retry_after: float) -> Outcome:
        return cls(RETRY, retry_after=retry_after, error="429 flood control")


class RateLimiter:
    """Evenly spaced slots: `rate` a second overall, `per_chat` seconds between sends to one chat."""

    def __init__(self, rate: float, per_chat: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.per_chat = per_chat
        self._mono = monotonic
        self._next = 0.0
        self._chat_next: dict[int, float] = {}
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._mono() + seconds)

    def reserve(self, chat_id: int) -> float:
        """Reserve the next slot for `chat_id`; returns the delay to wait before sending."""
        now = self._mono()
        slot = max(now, self._next, self._paused_until, self._chat_next.get(chat_id, 0.0))
        self._next = slot + self.interval
        self._chat_next[chat_id] = slot + self.per_chat
        if len(self._chat_next) > 50_000:  # forget chats whose spacing has long passed
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        return slot - now

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._mono())


class PacedSender:
    """Drains the outbox: claim a batch, pace the sends, record each outcome."""

    def __init__(self, store: OutboxStore, deliver: Callable[[OutboxItem], Awaitable[Outcome]], *, rate: float = 25.0,
                 per_chat: float = 1.0, batch: int | None = None, lease: timedelta = timedelta(seconds=30),
                 max_attempts: int = 5, in_flight: int = 1,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.store = store
        self.deliver = deliver
        self.limiter = RateLimiter(rate, per_chat)
        self.batch = batch or max(10, int(rate * 4))  # a few seconds of sending, well inside the lease
        self.lease = lease
        self.max_attempts = max_attempts
        self.clock = clock
        self._sem = asyncio.Semaphore(in_flight)
        self._wake = asyncio.Event()
        self.stats: dict[str, int] = {SENT: 0, BLOCKED: 0, FAILED: 0, SKIPPED: 0, RETRY: 0}

    def wake(self) -> None:
        """Something new is in the outbox: stop idling."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Drain until `stop` is set, idling `idle` seconds when the outbox is empty."""
        while not stop.is_set():
            try:
                done = await self.drain_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the sender
                log.exception("sender: draining the outbox failed; retrying shortly")
                done = 0
            if not done:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=idle)
                except TimeoutError:
                    pass

    async def drain_once(self) -> int:
        """Claim one batch and send it, paced. Returns how many rows were handled."""
        now = self.clock()
        items = await asyncio.to_thread(self.store.claim_outbox, now, self.batch, self.lease)
        if not items:
            return 0
        await asyncio.gather(*(self._send(item) for item in items))
        return len(items)

    async def _send(self, item: OutboxItem) -> None:
        async with self._sem:  # take a slot only when a sender is free, so a stall never turns into a burst
            await asyncio.to_thread(self.store.mark_sending, item.id, self.clock())
            for _ in range(FLOOD_RETRIES):
                await self._wait_for_slot(item.chat_id)
                try:
                    outcome = await self.deliver(item)
                except Exception as exc:  # noqa: BLE001 - one bad message must not stop the rest
                    log.exception("sender: delivering outbox row %s failed", item.id)
                    outcome = Outcome(RETRY, 0.0, f"{type(exc).__name__}: {exc}")
                if not (outcome.status == RETRY and outcome.retry_after > 0):
                    break
                # 429: every send waits retry_after, then this one goes again first.
                self.stats[RETRY] += 1
                log.warning("sender: flood control, pausing %.1fs", outcome.retry_after)
                self.limiter.pause(outcome.retry_after)
            await self._record(item, outcome)

    async def _wait_for_slot(self, chat_id: int) -> None:
        delay = self.limiter.reserve(chat_id)
        while delay > 0:
            await asyncio.sleep(delay)
            delay = self.limiter.reserve(chat_id) if self.limiter.paused_for > 0 else 0.0

    async def _record(self, item: OutboxItem, outcome: Outcome) -> None:
        now = self.clock()
        self.stats[outcome.status] = self.stats.get(outcome.status, 0) + 1
        if outcome.status == RETRY and outcome.retry_after > 0:
            self.limiter.pause(outcome.retry_after)
            await asyncio.to_thread(self.store.retry_outbox, item.id, now + timedelta(seconds=outcome.retry_after),
                                    now, count_attempt=False, error=outcome.error)
            return
        if outcome.status == RETRY:
            if item.attempts + 1 >= self.max_attempts:
                outcome = Outcome.failed(outcome.error or "gave up after retries")
            else:
                backoff = timedelta(seconds=min(300, 2 ** (item.attempts + 1)))
                await asyncio.to_thread(self.store.retry_outbox, item.id, now + backoff, now,
                                        count_attempt=True, error=outcome.error)
                return
        await asyncio.to_thread(self.store.finish_outbox, item.id, outcome.status, now, outcome.error)
        try:
            if outcome.status == BLOCKED:
                await asyncio.to_thread(self.store.set_active, item.learner_id, False)
            elif outcome.status == SENT and item.kind == "reminder":
                await asyncio.to_thread(self.store.reminder_sent, item.learner_id, now)
        except Exception:  # noqa: BLE001 - the row is done; its bookkeeping must not stop the rest
            log.exception("sender: recording the outcome of row %s failed", item.id)
