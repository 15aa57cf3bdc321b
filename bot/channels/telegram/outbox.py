"""Bulk sending on Telegram: the reminder sweep job, the paced sender's delivery, broadcast progress.

An extension for `build_application`, made by `outbox(sweeper, make_sender)` in the composition
root: one repeating JobQueue job sweeps reminders into the outbox every minute; one background
task (the PacedSender) drains the outbox with `sendMessage` (reminders) and `copyMessage`
(broadcasts); another job edits each running broadcast's progress message every few seconds
and posts the final report. What to say comes from the engine; the outbox rows from the store
through the runtime's sender and sweeper.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ContextTypes

from bot.channels.telegram.app import Extension
from bot.channels.telegram.send import (
    App, background_task, esc, keyboard, on_shutdown, on_startup, retry_seconds, runner, send_replies,
)
from bot.runtime.reminders import ReminderSweeper
from bot.runtime.sender import Outcome, PacedSender
from bot.tutor.models import OutboxItem
from bot.tutor.replies import BroadcastProgress

log = logging.getLogger(__name__)

__all__ = ["outbox", "deliver_item", "update_broadcast_progress"]

SWEEP_EVERY = 60.0
PROGRESS_EVERY = 3.0
REPORT_RETRY_FOR = 3600.0  # seconds: how long a final report that could not be posted is tried again

Deliver = Callable[[OutboxItem], Awaitable[Outcome]]


async def deliver_item(app: App, item: OutboxItem) -> Outcome:
    """Send one outbox row; map Telegram's answers to the sender's outcomes."""
    engine = app.bot_data["engine"]
    try:
        if item.kind == "reminder":
            fire_at = _when(item.payload.get("fire_at") if item.payload else None)
            msg = await runner(app).call(engine.reminder, item.learner_id, fire_at)
            if msg is None:
                return Outcome.skipped("nothing to revise, paused, too late or quiet hours")
            await app.bot.send_message(item.chat_id, esc(msg.text), reply_markup=keyboard(msg.buttons))
        elif item.kind == "broadcast":
            await app.bot.copy_message(item.chat_id, from_chat_id=item.payload["from_chat_id"],
                                       message_id=item.payload["message_id"], parse_mode=None)
        else:
            return Outcome.failed(f"unknown outbox kind {item.kind!r}")
    except RetryAfter as exc:
        return Outcome.flood(retry_seconds(exc))
    except Forbidden as exc:
        return Outcome.blocked(str(exc))
    except BadRequest as exc:
        if "chat not found" in str(exc).lower() or "user is deactivated" in str(exc).lower():
            return Outcome.blocked(str(exc))
        return Outcome.failed(str(exc))
    except (TimedOut, NetworkError) as exc:
        return Outcome("retry", 0.0, str(exc))
    return Outcome.sent()


def _when(value: object) -> datetime | None:
    """The reminder row's `fire_at` (ISO, UTC); None if missing or unreadable (then no age check)."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def outbox(sweeper: ReminderSweeper, make_sender: Callable[[Deliver], PacedSender]) -> Extension:
    """An extension wiring the sweep job, the sender task and broadcast progress into the Application."""

    def install(app: App) -> None:
        sender = make_sender(lambda item: deliver_item(app, item))
        app.bot_data["sender"] = sender
        async def sweep(context: ContextTypes.DEFAULT_TYPE) -> None:
            queued, _ = await asyncio.to_thread(sweeper.sweep)
            if queued:
                sender.wake()
            notes = await runner(app).call(app.bot_data["engine"].claims_digest)  # tutors' daily note, once a day
            await send_replies(app, 0, None, notes)  # each is a Notify: it names its own chat

        async def progress(context: ContextTypes.DEFAULT_TYPE) -> None:
            await update_broadcast_progress(app)

        run_sender, stop_sender = background_task("paced-sender", sender.run, sender.wake)

        async def start(app_: App) -> None:
            await run_sender(app_)
            jq = app_.job_queue
            if jq is not None:
                now = datetime.now(timezone.utc)
                first = 60 - now.second - now.microsecond / 1e6 + 1  # just after the minute turns
                jq.run_repeating(sweep, interval=SWEEP_EVERY, first=first, name="reminder-sweep")
                jq.run_repeating(progress, interval=PROGRESS_EVERY, first=PROGRESS_EVERY, name="broadcast-progress")

        on_startup(app, start)
        on_shutdown(app, stop_sender)

    return install


async def update_broadcast_progress(app: App) -> None:
    """Edit each running broadcast's progress message; when it ends, post the final report.

    The engine hands out a final report once (across replicas: finishing is a conditional
    update); if posting it fails it is kept here and tried again on the next rounds.
    """
    engine = app.bot_data["engine"]
    last: dict[int, str] = app.bot_data.setdefault("progress_text", {})
    reports: dict[int, tuple[BroadcastProgress, float]] = app.bot_data.setdefault("reports_due", {})
    now = time.monotonic()
    for p in await runner(app).call(engine.broadcasts_in_progress):
        if p.finished:
            last.pop(p.broadcast_id, None)
            reports[p.broadcast_id] = (p, now)
            continue
        text = esc(p.text)
        if last.get(p.broadcast_id) != text:
            last[p.broadcast_id] = text
            try:
                await app.bot.edit_message_text(text, chat_id=p.chat_id, message_id=p.message_id)
            except (BadRequest, RetryAfter, NetworkError) as exc:  # e.g. "message is not modified"
                log.info("progress message of broadcast %s: %s", p.broadcast_id, exc)
    for bid, (p, since) in list(reports.items()):
        try:  # a new message, so the tutor is notified
            await app.bot.send_message(p.chat_id, esc(p.text), reply_markup=keyboard(p.buttons))
        except Forbidden:
            reports.pop(bid)
        except TelegramError as exc:
            if now - since > REPORT_RETRY_FOR:
                log.warning("final report of broadcast %s given up: %s", bid, exc)
                reports.pop(bid)
            else:
                log.info("final report of broadcast %s not sent yet (%s); retrying", bid, exc)
        else:
            reports.pop(bid)
