"""Bulk sending on Telegram: the reminder sweep job, the paced sender's delivery, broadcast progress.

An extension for `build_application`: one repeating JobQueue job sweeps reminders into the
outbox every minute; one background task (the PacedSender) drains the outbox with
`sendMessage` (reminders) and `copyMessage` (broadcasts); another job edits each running
broadcast's progress message every few seconds and posts the final report.
"""

from __future__ import annotations

import asyncio
import html
import logging
from datetime import datetime, timezone
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ContextTypes

from bot.reminders import ReminderSweeper
from bot.sender import Outcome, PacedSender
from bot.tutor.models import OutboxItem

log = logging.getLogger(__name__)

__all__ = ["install_outbox", "deliver_item"]

SWEEP_EVERY = 60.0
PROGRESS_EVERY = 3.0


def _retry_seconds(exc: RetryAfter) -> float:
    value: Any = exc.retry_after
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)


async def deliver_item(app: Application, item: OutboxItem) -> Outcome:  # type: ignore[type-arg]
    """Send one outbox row; map Telegram's answers to the sender's outcomes."""
    engine = app.bot_data["engine"]
    try:
        if item.kind == "reminder":
            msg = await asyncio.to_thread(engine.reminder, item.learner_id)
            if msg is None:
                return Outcome.skipped("nothing to revise")
            markup = InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.action) for b in row]
                                           for row in msg.buttons])
            await app.bot.send_message(item.chat_id, html.escape(msg.text), parse_mode=ParseMode.HTML,
                                       reply_markup=markup)
        elif item.kind == "broadcast":
            await app.bot.copy_message(item.chat_id, from_chat_id=item.payload["from_chat_id"],
                                       message_id=item.payload["message_id"])
        else:
            return Outcome.failed(f"unknown outbox kind {item.kind!r}")
    except RetryAfter as exc:
        return Outcome.flood(_retry_seconds(exc))
    except Forbidden as exc:
        return Outcome.blocked(str(exc))
    except BadRequest as exc:
        if "chat not found" in str(exc).lower() or "user is deactivated" in str(exc).lower():
            return Outcome.blocked(str(exc))
        return Outcome.failed(str(exc))
    except (TimedOut, NetworkError) as exc:
        return Outcome("retry", 0.0, str(exc))
    return Outcome.sent()


def install_outbox(app: Application) -> None:  # type: ignore[type-arg]
    """Extension: wire the sweep job, the sender task and broadcast progress into `app`."""
    from bot.channels.telegram import on_shutdown, on_startup

    store = app.bot_data["store"]
    settings = app.bot_data["settings"]
    clock = app.bot_data["engine"].clock

    async def finished(item: OutboxItem, outcome: Outcome) -> None:
        now = clock()
        if outcome.status == "blocked":
            await asyncio.to_thread(store.set_active, item.learner_id, False)
        elif outcome.status == "sent" and item.kind == "reminder":
            await asyncio.to_thread(store.reminder_sent, item.learner_id, now)
        del now

    sender = PacedSender(store, lambda item: deliver_item(app, item), rate=settings.send_rate,
                         on_finished=finished, clock=clock)
    sweeper = ReminderSweeper(store, clock)
    app.bot_data["sender"] = sender
    stop = asyncio.Event()

    async def sweep(context: ContextTypes.DEFAULT_TYPE) -> None:
        queued, _ = await asyncio.to_thread(sweeper.sweep)
        if queued:
            sender.wake()

    async def progress(context: ContextTypes.DEFAULT_TYPE) -> None:
        await update_broadcast_progress(app)

    async def start(app_: Application) -> None:  # type: ignore[type-arg]
        app_.bot_data["sender_task"] = asyncio.create_task(sender.run(stop), name="paced-sender")
        jq = app_.job_queue
        if jq is not None:
            now = datetime.now(timezone.utc)
            first = 60 - now.second - now.microsecond / 1e6 + 1  # just after the minute turns
            jq.run_repeating(sweep, interval=SWEEP_EVERY, first=first, name="reminder-sweep")
            jq.run_repeating(progress, interval=PROGRESS_EVERY, first=PROGRESS_EVERY, name="broadcast-progress")

    async def shutdown(app_: Application) -> None:  # type: ignore[type-arg]
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


async def update_broadcast_progress(app: Application) -> None:  # type: ignore[type-arg]
    """Edit each running broadcast's progress message; when it ends, post the final report."""
    from bot.channels.telegram import send_with_retry

    store, engine = app.bot_data["store"], app.bot_data["engine"]
    last: dict[int, str] = app.bot_data.setdefault("progress_text", {})
    for b in await asyncio.to_thread(store.broadcasts_sending):
        text, finished = await asyncio.to_thread(engine.broadcast_progress, b.id)
        chat, message = b.progress_chat_id, b.progress_message_id
        if chat is None or message is None:
            continue
        try:
            if finished:  # a new message, so the tutor is notified
                last.pop(b.id, None)
                await send_with_retry(lambda: app.bot.send_message(chat, html.escape(text), parse_mode=ParseMode.HTML),
                                      store, chat)
            elif last.get(b.id) != text:
                last[b.id] = text
                await send_with_retry(lambda: app.bot.edit_message_text(
                    html.escape(text), chat_id=chat, message_id=message, parse_mode=ParseMode.HTML), store, chat)
        except (BadRequest, RetryAfter, NetworkError) as exc:  # e.g. "message is not modified"
            log.info("progress message of broadcast %s: %s", b.id, exc)
