"""The paced sender: drains the store's outbox under Telegram's limits, for reminders and broadcasts.

At most `rate` messages a second overall (across replicas: the budget is in the store) and one
a second per chat; a 429 pauses every sender for `retry_after`; a 403 marks the learner inactive;
a sent reminder counts towards its back-off; 5xx and network errors are retried for hours
(OUTBOX_RETRY_HOURS, capped back-off), then reported as failed. Rows are claimed with a lease, so after a crash
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
    """Drains the outbox: claim a batch (owned, leased), pace the sends on the shared budget, record each outcome.

    Replica-safe: claims carry this store's owner token and every write on a row checks it;
    the batch's lease is renewed while it is being sent, and a row whose claim was lost
    (`mark_sending` is False) is not sent. The send rate is booked in the store
    (`reserve_send_slots`), so every replica together stays within `rate`; a 429 pauses them
    all (`pause_sending`) and puts the row back, never sleeping on it. A 5xx or network error
    is retried on a time budget (`retry_budget`, OUTBOX_RETRY_HOURS) with capped back-off, and
    pauses all sending for a while that grows while the API stays down.
    """

    def __init__(self, store: OutboxStore, deliver: Callable[[OutboxItem], Awaitable[Outcome]], *, rate: float = 25.0,
                 per_chat: float = 1.0, batch: int | None = None, lease: timedelta = timedelta(seconds=30),
                 retry_budget: timedelta = timedelta(hours=2), in_flight: int = 1, max_outage_pause: float = 60.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.store = store
        self.deliver = deliver
        self.rate = rate
        self.limiter = RateLimiter(rate, per_chat)  # per chat only (the overall rate is the store's budget)
        self.batch = batch or max(10, int(rate * 4))  # a few seconds of sending; the lease is renewed anyway
        self.lease = lease
        self.retry_budget = retry_budget
        self.clock = clock  # the outbox's timestamps (the engine's clock)
        self.wall = wall  # the shared send budget: real time, the same in every process
        self._sem = asyncio.Semaphore(in_flight)
        self._wake = asyncio.Event()
        self._down = 0  # network/5xx errors in a row: the API seems down
        self.max_outage_pause = max_outage_pause
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
        open_ids = {item.id for item in items}
        renewer = asyncio.create_task(self._renew(open_ids), name="outbox-lease-renewal")
        try:
            await asyncio.gather(*(self._send(item, open_ids) for item in items))
        finally:
            renewer.cancel()
        return len(items)

    async def _renew(self, open_ids: set[int]) -> None:
        """Keep the batch's lease while it is being sent; rows whose claim was lost are dropped."""
        while open_ids:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            ids = sorted(open_ids)
            try:
                kept = set(await asyncio.to_thread(self.store.renew_outbox, ids, self.clock(), self.lease))
            except Exception:  # noqa: BLE001 - try again on the next round
                log.warning("sender: renewing the outbox lease failed", exc_info=True)
                continue
            lost = set(ids) - kept
            if lost:
                log.warning("sender: %d claimed row(s) were taken over; not sending them", len(lost))
                open_ids -= lost

    async def _send(self, item: OutboxItem, open_ids: set[int]) -> None:
        async with self._sem:  # take a slot only when a sender is free, so a stall never turns into a burst
            try:
                if item.id not in open_ids:
                    return
                await self._wait_for_slot(item.chat_id)
                if not await asyncio.to_thread(self.store.mark_sending, item.id, self.clock(), lease=self.lease):
                    log.warning("sender: outbox row %s is no longer ours; not sending it", item.id)
                    return
                try:
                    outcome = await self.deliver(item)
                except Exception as exc:  # noqa: BLE001 - one bad message must not stop the rest
                    log.exception("sender: delivering outbox row %s failed", item.id)
                    outcome = Outcome(RETRY, 0.0, f"{type(exc).__name__}: {exc}")
                await self._record(item, outcome)
            finally:
                open_ids.discard(item.id)

    async def _wait_for_slot(self, chat_id: int) -> None:
        """Book a slot on the shared budget (every replica's sends) and keep one chat's sends apart."""
        local = self.limiter.reserve(chat_id)
        [slot] = await asyncio.to_thread(self.store.reserve_send_slots, self.wall(), self.rate, 1)
        delay = max(local, (slot - self.wall()).total_seconds())
        if delay > 0:
            await asyncio.sleep(delay)

    async def _record(self, item: OutboxItem, outcome: Outcome) -> None:
        now = self.clock()
        self.stats[outcome.status] = self.stats.get(outcome.status, 0) + 1
        if outcome.status == RETRY and outcome.retry_after > 0:
            # 429: every process waits retry_after; the row goes back and is claimed again after it.
            log.warning("sender: flood control, pausing all sending %.1fs", outcome.retry_after)
            await asyncio.to_thread(self.store.pause_sending, self.wall() + timedelta(seconds=outcome.retry_after),
                                    self.wall())
            await asyncio.to_thread(self.store.retry_outbox, item.id, now, now, count_attempt=False,
                                    error=outcome.error)  # claimable again; the shared pause holds it back
            return
        if outcome.status == RETRY:
            # 5xx or a network error: the API (or our network) is down; pause everyone, keep the row.
            self._down += 1
            pause = min(self.max_outage_pause, 2.0 ** min(self._down, 6))
            log.warning("sender: Telegram unreachable (%s); pausing all sending %.0fs", outcome.error[:80], pause)
            await asyncio.to_thread(self.store.pause_sending, self.wall() + timedelta(seconds=pause), self.wall())
            nxt = await asyncio.to_thread(self.store.retry_outbox_within, item.id, now, budget=self.retry_budget,
                                          error=outcome.error)
            if nxt is None:
                self.stats[FAILED] += 1
                log.warning("sender: outbox row %s failed after its retry budget", item.id)
            return
        self._down = 0
        if not await asyncio.to_thread(self.store.finish_outbox, item.id, outcome.status, now, outcome.error):
            log.warning("sender: outbox row %s was taken over before its outcome was recorded", item.id)
            return
        try:
            if outcome.status == BLOCKED:
                await asyncio.to_thread(self.store.set_active, item.learner_id, False)
            elif outcome.status == SENT and item.kind == "reminder":
                await asyncio.to_thread(self.store.reminder_sent, item.learner_id, now)
        except Exception:  # noqa: BLE001 - the row is done; its bookkeeping must not stop the rest
            log.exception("sender: recording the outcome of row %s failed", item.id)
