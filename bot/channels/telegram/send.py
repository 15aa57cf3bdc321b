"""Sending on Telegram, shared by the handlers and the outbox: retries, keyboards, replies, hooks.

Replies are rendered with one case per reply type in `send_reply`; a reply type with no case
fails mypy's exhaustiveness check, not the learner at run time. Every text goes as HTML
(the Application's `Defaults`), escaped here. A 429 is retried after `retry_after`; a 403
(the chat blocked the bot) tells the engine (`ChatReachable`) and stops the sending.
"""

from __future__ import annotations

import asyncio
import html
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, TypeVar, assert_never

from telegram import (
    Bot, BotCommand, BotCommandScopeChat, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message as TgMessage,
    Poll,
)
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application
from telegram.warnings import PTBDeprecationWarning

from bot.channels.render import feedback_text, message_text, question_text, split_text
from bot.runtime.inbox import sleep_outside_slot
from bot.runtime.runner import EngineThreads
from bot.tutor import buttons
from bot.tutor.actions import ChatReachable, PollSent, ProgressShown, Who
from bot.tutor.commands import COMMANDS, TUTOR_COMMANDS
from bot.tutor.replies import (
    AskQuestion, BroadcastStarted, Button, Chart, DashboardData, Document, Feedback, MenuChange, Message, Notify,
    Reply,
)

__all__ = [
    "CHANNEL", "SEND_RETRIES", "retry_seconds", "send_with_retry", "keyboard", "esc", "bold", "send_replies",
    "edit_in_place", "set_tutor_menu", "on_startup", "on_shutdown", "startup_hooks", "shutdown_hooks", "runner",
    "background_task",
    "App",
]

log = logging.getLogger("bot.channels.telegram")

CHANNEL = "telegram"
SEND_RETRIES = 3
_STARTUP = "startup_hooks"
_SHUTDOWN = "shutdown_hooks"

T = TypeVar("T")
App = Application[Any, Any, Any, Any, Any, Any]
Hook = Callable[[App], Awaitable[None]]


# ---------------------------------------------------------------------------- services and hooks


def runner(app: App) -> EngineThreads:
    """Where the Application's engine calls run (`bot_data["runner"]`)."""
    found: EngineThreads = app.bot_data["runner"]
    return found


def on_startup(app: App, hook: Hook) -> None:
    """Run `await hook(app)` in post_init, after the bot's commands are registered."""
    app.bot_data.setdefault(_STARTUP, []).append(hook)


def background_task(name: str, run: Callable[[asyncio.Event], Coroutine[Any, Any, object]],
                    wake: Callable[[], None]) -> tuple[Hook, Hook]:
    """Start and stop hooks for a long-running task (the update inbox, the paced sender).

    Stopping sets its event, wakes it and waits up to 10 s for it to finish what it holds.
    """
    stop = asyncio.Event()
    key = f"{name}_task"

    async def start(app: App) -> None:
        app.bot_data[key] = asyncio.create_task(run(stop), name=name)

    async def finish(app: App) -> None:
        stop.set()
        wake()
        task = app.bot_data.get(key)
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()

    return start, finish


def on_shutdown(app: App, hook: Hook) -> None:
    """Run `await hook(app)` in post_shutdown (in reverse order of registration)."""
    app.bot_data.setdefault(_SHUTDOWN, []).append(hook)


def startup_hooks(app: App) -> list[Hook]:
    hooks: list[Hook] = app.bot_data.get(_STARTUP, [])
    return hooks


def shutdown_hooks(app: App) -> list[Hook]:
    hooks: list[Hook] = app.bot_data.get(_SHUTDOWN, [])
    return hooks


# ---------------------------------------------------------------------------- sending


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def send_with_retry(app: App, call: Callable[[], Coroutine[Any, Any, T]], chat_id: int,
                          retries: int = SEND_RETRIES) -> T | None:
    """`await call()`, retrying after a 429's retry_after (up to `retries` times).

    A 403 (the learner blocked the bot, or it was removed from the chat) tells the engine the
    chat is unreachable and returns None; other errors propagate to the error handler.
    """
    for attempt in range(retries + 1):
        try:
            return await call()
        except RetryAfter as exc:
            if attempt == retries:
                raise
            await sleep_outside_slot(retry_seconds(exc))  # the learner keeps their turn, others get the slot
        except Forbidden as exc:
            log.info("a chat refused a message (%s): marking the learner inactive", exc)
            await runner(app).notice(ChatReachable(CHANNEL, chat_id, False))
            return None
    raise AssertionError("unreachable")


def keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """Inline buttons, each with its action encoded; a button whose data would not fit is dropped."""
    out = []
    for row in rows:
        line = []
        for b in row:
            data = buttons.encode(b.action)
            if data is None:
                log.warning("button %r dropped: no data for %r within %d bytes", b.label, b.action, buttons.DATA_MAX)
                continue
            line.append(InlineKeyboardButton(b.label, callback_data=data))
        if line:
            out.append(line)
    return InlineKeyboardMarkup(out) if out else None


def esc(s: str) -> str:
    return html.escape(s)


def bold(s: str) -> str:
    return f"<b>{s}</b>"


async def set_tutor_menu(bot: Bot, chat_id: int, tutor: bool) -> None:
    try:
        if tutor:
            menu = [BotCommand(name, desc) for name, desc in (*COMMANDS, *TUTOR_COMMANDS)]
            await bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id))
        else:
            await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id))
    except TelegramError as exc:  # e.g. they have not started a chat with the bot yet
        log.info("could not change a tutor's command menu: %s", exc)


# ---------------------------------------------------------------------------- replies


async def _text(app: App, chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> TgMessage | None:
    parts = split_text(text)
    sent = None
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        sent = await send_with_retry(app, lambda: app.bot.send_message(
            chat_id, part, reply_markup=markup if last else None), chat_id)
        if sent is None:
            return None
    return sent


async def _poll(app: App, chat_id: int, who: Who | None, reply: AskQuestion) -> TgMessage | None:
    q = reply.question
    sent = await send_with_retry(app, lambda: app.bot.send_poll(
        chat_id, question=q.prompt, options=list(reply.options), type=Poll.QUIZ,  # in this learner's order
        correct_option_ids=[reply.answer_position] if reply.answer_position is not None else None,
        question_parse_mode=None,
        explanation=q.explanation or None, explanation_parse_mode=None, is_anonymous=False), chat_id)
    if sent is not None and sent.poll is not None and who is not None:
        await runner(app).notice(PollSent(who, q.id, sent.poll.id))
    return sent


async def _chart(app: App, chat_id: int, reply: Chart) -> TgMessage | None:
    from bot.channels.charts import stats_png  # matplotlib: imported on first use, not at start-up

    png = await asyncio.to_thread(stats_png, reply.stats)
    return await send_with_retry(app, lambda: app.bot.send_photo(chat_id, photo=png, caption=esc(reply.title)),
                                 chat_id)


async def _dashboard(app: App, chat_id: int, reply: DashboardData) -> TgMessage | None:
    from bot.channels.charts import bars_png

    png = await asyncio.to_thread(bars_png, f"{reply.cohort}: accuracy by topic (%)", reply.accuracy)
    return await send_with_retry(app, lambda: app.bot.send_photo(
        chat_id, photo=png, caption=esc(f"{reply.cohort}: accuracy by topic")), chat_id)


async def _document(app: App, chat_id: int, reply: Document) -> TgMessage | None:
    document = InputFile(reply.data, filename=reply.filename)
    return await send_with_retry(app, lambda: app.bot.send_document(
        chat_id, document=document, caption=esc(reply.caption)), chat_id)


async def _broadcast_started(app: App, chat_id: int, reply: BroadcastStarted) -> TgMessage | None:
    sent = await _text(app, chat_id, esc(reply.text), None)
    if sent is not None:  # the progress message the outbox keeps editing
        await runner(app).notice(ProgressShown(reply.broadcast_id, chat_id, sent.message_id))
    sender = app.bot_data.get("sender")
    if sender is not None:
        sender.wake()
    return sent


async def send_reply(app: App, chat_id: int, who: Who | None, reply: Reply) -> bool:
    """Send one reply; False if the chat can't receive it (it blocked us)."""
    sent: object
    match reply:
        case Message():
            sent = await _text(app, chat_id, message_text(reply, esc, bold), keyboard(reply.buttons))
        case AskQuestion() if reply.as_poll:
            sent = await _poll(app, chat_id, who, reply)
        case AskQuestion():
            sent = await _text(app, chat_id, question_text(reply, esc, bold), keyboard(reply.buttons))
        case Feedback():
            sent = await _text(app, chat_id, feedback_text(reply, esc, bold), keyboard(reply.buttons))
        case Chart():
            sent = await _chart(app, chat_id, reply)
        case Document():
            sent = await _document(app, chat_id, reply)
        case BroadcastStarted():
            sent = await _broadcast_started(app, chat_id, reply)
        case MenuChange():
            await set_tutor_menu(app.bot, reply.chat_id, reply.tutor)
            return True
        case DashboardData():
            sent = await _dashboard(app, chat_id, reply)
        case Notify():  # someone else's chat: if they blocked the bot, the sender's replies still go on
            m = reply.message
            await _text(app, reply.chat_id, message_text(m, esc, bold), keyboard(m.buttons))
            return True
        case _:
            assert_never(reply)
    return sent is not None


async def send_replies(app: App, chat_id: int, who: Who | None, replies: Sequence[Reply]) -> None:
    """Send each reply in order; stop at the first one the learner can't receive (they blocked us)."""
    for reply in replies:
        if not await send_reply(app, chat_id, who, reply):
            return


async def edit_in_place(app: App, message: Any, reply: Message) -> bool:
    """Replace a message's text and buttons in place; False if Telegram refused (then send anew)."""
    try:
        await send_with_retry(app, lambda: app.bot.edit_message_text(
            message_text(reply, esc, bold), chat_id=message.chat.id, message_id=message.message_id,
            reply_markup=keyboard(reply.buttons)), message.chat.id)
    except BadRequest as exc:
        if "not modified" in str(exc).lower():
            return True
        log.info("could not edit message %s: %s", message.message_id, exc)
        return False
    return True
