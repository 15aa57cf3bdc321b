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
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ContextTypes

from bot.channels.telegram.app import Extension
from bot.channels.telegram.send import App, esc, keyboard, on_shutdown, on_startup, retry_seconds, runner, send_with_retry
from bot.runtime.reminders import ReminderSweeper
from bot.runtime.sender import Outcome, PacedSender
from bot.tutor.models import OutboxItem

log = logging.getLogger(__name__)

__all__ = ["outbox", "deliver_item", "update_broadcast_progress"]

SWEEP_EVERY = 60.0
PROGRESS_EVERY = 3.0

Deliver = Callable[[OutboxItem], Awaitable[Outcome]]


async def deliver_item(app: App, item: OutboxItem) -> Outcome:
    """Send one outbox row; map Telegram's answers to the sender's outcomes."""
    engine = app.bot_data["engine"]
    try:
        if item.kind == "reminder":
            msg = await runner(app).call(engine.reminder, item.learner_id)
            if msg is None:
                return Outcome.skipped("nothing to revise")
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


def outbox(sweeper: ReminderSweeper, make_sender: Callable[[Deliver], PacedSender]) -> Extension:
    """An extension wiring the sweep job, the sender task and broadcast progress into the Application."""

    def install(app: App) -> None:
        sender = make_sender(lambda item: deliver_item(app, item))
        app.bot_data["sender"] = sender
        stop = asyncio.Event()

        async def sweep(context: ContextTypes.DEFAULT_TYPE) -> None:
            queued, _ = await asyncio.to_thread(sweeper.sweep)
            if queued:
                sender.wake()

        async def progress(context: ContextTypes.DEFAULT_TYPE) -> None:
            await update_broadcast_progress(app)

        async def start(app_: App) -> None:
            app_.bot_data["sender_task"] = asyncio.create_task(sender.run(stop), name="paced-sender")
            jq = app_.job_queue
            if jq is not None:
                now = datetime.now(timezone.utc)
                first = 60 - now.second - now.microsecond / 1e6 + 1  # just after the minute turns
                jq.run_repeating(sweep, interval=SWEEP_EVERY, first=first, name="reminder-sweep")
                jq.run_repeating(progress, interval=PROGRESS_EVERY, first=PROGRESS_EVERY, name="broadcast-progress")

        async def shutdown(app_: App) -> None:
            stop.set()
            sender.wake()
            task = app_.bot_data.get("sender_task")
            if task is not None:
                try:
                    await asyncio.wait_for(task, timeout=10)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()

        on_startup(app, start)
        on_shutdown(app, shutdown)

    return install


async def update_broadcast_progress(app: App) -> None:
    """Edit each running broadcast's progress message; when it ends, post the final report."""
    engine = app.bot_data["engine"]
    last: dict[int, str] = app.bot_data.setdefault("progress_text", {})
    for p in await runner(app).call(engine.broadcasts_in_progress):
        chat, message, text = p.chat_id, p.message_id, esc(p.text)
        try:
            if p.finished:  # a new message, so the tutor is notified
                last.pop(p.broadcast_id, None)
                await send_with_retry(app, lambda: app.bot.send_message(chat, text), chat)
            elif last.get(p.broadcast_id) != text:
                last[p.broadcast_id] = text
                await send_with_retry(app, lambda: app.bot.edit_message_text(text, chat_id=chat, message_id=message),
                                      chat)
        except (BadRequest, RetryAfter, NetworkError) as exc:  # e.g. "message is not modified"
            log.info("progress message of broadcast %s: %s", p.broadcast_id, exc)
