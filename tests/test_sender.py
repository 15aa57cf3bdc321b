"""The paced sender on SQLite and PostgreSQL (findings 3, 11, 16): two senders on one outbox send each row once
and share SEND_RATE; an outage shorter than the retry budget loses nothing and pauses all sending; the
"resend to the failed" store path."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from bot.runtime.sender import Outcome, PacedSender
from bot.store import Store
from bot.store import schema as s
from bot.tutor.models import OutboxItem
from tests.conftest import Clock
from tests.test_reliability_store import T0, person, twin  # noqa: F401


def queue(store: Store, n: int, kind: str = "broadcast") -> list[int]:
    lid = person(store, "1", "A", 1)
    bid = None
    if kind == "broadcast":
        bid = store.create_broadcast(store.create_cohort("c", lid, "code1", T0).id, lid, T0)
    store.enqueue([dict(learner_id=lid, chat_id=10_000 + i, kind=kind, broadcast_id=bid,
                        payload={"from_chat_id": 1, "message_id": 2}) for i in range(n)], T0)
    return [10_000 + i for i in range(n)]


async def test_two_senders_on_one_outbox_send_each_row_once_within_the_shared_rate(store: Store, twin) -> None:  # noqa: F811
    chats = queue(store, 40)
    other = twin()
    sent: list[tuple[int, float]] = []

    async def deliver(item: OutboxItem) -> Outcome:
        sent.append((item.chat_id, time.monotonic()))
        await asyncio.sleep(0.05)  # slower than the lease allows for a whole batch without renewal
        return Outcome.sent()

    now = lambda: datetime.now(timezone.utc)  # noqa: E731
    senders = [PacedSender(st, deliver, rate=20, batch=40, lease=timedelta(seconds=0.6), clock=now)
               for st in (store, other)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop, idle=0.05)) for s in senders]
    try:
        for _ in range(200):
            if store.outbox_pending() == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    counts = Counter(c for c, _ in sent)
    assert sorted(counts) == chats and max(counts.values()) == 1  # 0 duplicates
    times = sorted(t for _, t in sent)
    assert times[-1] - times[0] >= (len(times) - 1) / 20 * 0.95  # both together within SEND_RATE


async def test_an_outage_shorter_than_the_budget_loses_nothing_and_pauses_all_sending(store: Store) -> None:
    queue(store, 20)
    clock = Clock(T0)
    outage_end = T0 + timedelta(seconds=60)
    tries = Counter[int]()

    async def deliver(item: OutboxItem) -> Outcome:
        tries[item.chat_id] += 1
        if clock.now < outage_end:
            return Outcome("retry", 0.0, "Bad Gateway")  # PTB's NetworkError for a 502
        return Outcome.sent()

    sender = PacedSender(store, deliver, rate=1000, clock=clock, max_outage_pause=0.01,
                         retry_budget=timedelta(hours=2))
    for _ in range(400):
        if not store.outbox_pending():
            break
        await sender.drain_once()
        clock.advance(seconds=2)
    assert store.outbox_counts() == {"sent": 20}
    wall = datetime.now(timezone.utc)
    sender.max_outage_pause = 30
    store.enqueue([dict(learner_id=person(store, "1"), chat_id=1, kind="broadcast", payload={})], clock.now)
    outage_end = clock.now + timedelta(hours=1)
    await sender.drain_once()
    [slot] = store.reserve_send_slots(datetime.now(timezone.utc), 1000)
    assert slot >= wall + timedelta(seconds=1.5)  # every process now waits: the API is down


async def test_the_budget_spent_marks_failed_and_resend_queues_the_failed_again(store: Store) -> None:
    queue(store, 3)
    clock = Clock(T0)

    async def down(item: OutboxItem) -> Outcome:
        return Outcome("retry", 0.0, "Bad Gateway")

    sender = PacedSender(store, down, rate=1000, clock=clock, max_outage_pause=0.001,
                         retry_budget=timedelta(minutes=10))
    for _ in range(200):
        if not store.outbox_pending():
            break
        await sender.drain_once()
        clock.advance(seconds=30)
    assert store.outbox_counts() == {"failed": 3}
    with store.engine.connect() as conn:
        [bid] = {b for b, in conn.execute(select(s.outbox.c.broadcast_id)).all()}
    with store.tx() as c:
        c.execute(update(s.broadcasts).where(s.broadcasts.c.id == bid).values(status="done"))
    assert store.requeue_failed(bid, clock.now) == 3
    assert store.outbox_counts() == {"waiting": 3}
    assert store.broadcast(bid).status == "sending"  # type: ignore[union-attr]
