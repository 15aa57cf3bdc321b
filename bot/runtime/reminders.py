"""Daily reminders: one sweep a minute claims due reminders into the outbox; the paced sender sends.

The sweep is the only periodic job (no job per learner: APScheduler's jobs do not survive
restarts and it drops thousands of simultaneous ones). Each reminder row holds its next
fire time in UTC; claiming advances it atomically, so two sweepers never send one twice.
What a reminder says is decided when it is sent (`Engine.reminder`), so it is never stale.
No Telegram here: the channel's outbox extension runs the sweep as a JobQueue job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from bot.tutor.models import Reminder
from bot.tutor.ports import OutboxStore
from bot.tutor.remind import LATE_LIMIT, interval_days, next_fire, parse_time

log = logging.getLogger(__name__)

__all__ = ["ReminderSweeper"]


class ReminderSweeper:
    """Claims due reminders from the store into the outbox."""

    def __init__(self, store: OutboxStore, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.store = store
        self.clock = clock

    def sweep(self) -> tuple[int, int]:
        """Queue every reminder due now; returns (queued, skipped because too late or inactive)."""
        now = self.clock()

        def advance(rem: Reminder, sending: bool) -> datetime:
            at = parse_time(rem.local_time)
            assert at is not None, rem
            ignored = rem.ignored + 1 if sending else rem.ignored
            return next_fire(at, rem.timezone, max(now, rem.next_fire_at), every_days=interval_days(ignored))

        queued, skipped = self.store.claim_due_reminders(now, LATE_LIMIT, advance)
        if queued or skipped:
            log.info("reminders: %d queued, %d skipped (late or inactive)", len(queued), skipped)
        return len(queued), skipped
