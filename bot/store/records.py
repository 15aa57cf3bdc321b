"""Rows the store hands out for the reliability machinery (issue 14): claimed outbox rows, inbox updates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.tutor.models import OutboxItem

__all__ = ["ClaimedOutboxItem", "InboxItem", "retry_backoff"]


@dataclass(frozen=True)
class ClaimedOutboxItem(OutboxItem):
    """An outbox row with its claim: only `owner` may mark, renew, finish or retry it."""

    owner: str = ""
    claimed_until: datetime | None = None
    created_at: datetime | None = None  # when queued (None: queued before migration 0002)
    first_failure_at: datetime | None = None  # start of its retry time budget (None: no failure yet)


@dataclass(frozen=True)
class InboxItem:
    """A stored update: `payload` is the update as received (Telegram's JSON)."""

    id: int
    update_id: int
    chat_key: str
    payload: dict[str, Any] | None
    received_at: datetime
    state: str  # new | claimed | done
    owner: str | None
    claimed_until: datetime | None
    attempts: int  # claims so far, this one included: a poison update can be given up on


def retry_backoff(attempts: int, first_failure_at: datetime, now: datetime, *, budget: timedelta,
                  base: float = 2.0, cap: timedelta = timedelta(minutes=5)) -> datetime | None:
    """When to try a failing send again, or None once its time `budget` is spent.

    Capped exponential back-off (2, 4, 8 ... seconds, at most `cap`); the last try falls at the end
    of the budget, so an outage shorter than the budget loses nothing.
    """
    if now - first_failure_at >= budget:
        return None
    delay = timedelta(seconds=min(cap.total_seconds(), base ** min(attempts + 1, 30)))
    return min(now + delay, first_failure_at + budget)
