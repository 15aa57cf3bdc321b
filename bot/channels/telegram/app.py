"""The Telegram Application: built around an engine, its handlers wired, its start-up and shutdown.

`build_application` wires the learner handlers, the error handler and the start-up/shutdown
hooks, keeps the services in `bot_data` ("engine", "runner", "settings") and lets other
features add theirs through `extensions` (callables that get the Application after the
learner commands and before the catch-alls). `bot.app.run_bot` builds one and runs it.

Updates from different learners are handled concurrently, one learner's in order
(`PerLearnerUpdateProcessor`); engine calls run in its threads (`bot.runtime.runner`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from telegram import Bot, BotCommand, Chat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ApplicationBuilder, BaseUpdateProcessor, Defaults

from bot.channels.telegram.handlers import on_error, register_fallbacks, register_learner_handlers
from bot.channels.telegram.send import (
    CHANNEL, App, background_task, esc, on_shutdown, on_startup, runner, send_with_retry, set_tutor_menu,
    shutdown_hooks, startup_hooks,
)
from bot.config import Settings
from bot.runtime.inbox import BACKLOG_MAX, DROPPED, Inbox, Slots
from bot.runtime.runner import EngineThreads
from bot.tutor.actions import Started
from bot.tutor.commands import COMMANDS
from bot.tutor.engine import Engine
from bot.tutor.replies import MenuChange

__all__ = ["build_application", "webhook_options", "PerLearnerUpdateProcessor", "InboxQueue", "chat_key",
           "ALLOWED_UPDATES", "DEFAULT_CONCURRENCY", "DROPPED_NOTE", "deep_link_base", "Extension"]

log = logging.getLogger("bot.channels.telegram")

DEFAULT_CONCURRENCY = 8  # updates in flight (one learner's always in order): see the README's benchmark figures
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY, Update.POLL_ANSWER,
                   Update.MY_CHAT_MEMBER]
# Every text is HTML (escaped by the senders); no message shows a link preview (join links, ico.org.uk).
DEFAULTS = Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))

Extension = Callable[[App], object]
DROPPED_NOTE = ("You've sent me a lot of messages at once, so I skipped some of them. I'll answer the ones "
                "I kept; send the others again once I've caught up.")


def build_application(settings: Settings, engine: Engine, *, runner: EngineThreads | None = None,
                      extensions: Iterable[Extension] = (),
                      concurrent_updates: int = DEFAULT_CONCURRENCY, inbox: Inbox | None = None) -> App:
    """The Application with every learner handler, services in bot_data, and `extensions` wired in.

    Each extension is called once with the Application, after the learner commands and before
    the catch-alls (unknown commands, plain text as answers, expired buttons), so it can add
    handlers, jobs (`app.job_queue`), `on_startup`/`on_shutdown` hooks or more `bot_data`.
    Engine calls run on `runner` (default: threads, one on SQLite, which writes one at a time).
    With `inbox` (the running bot), every update is stored before it is confirmed and processed
    from the inbox in the inbox's slots; without (tests), in memory, learner by learner.
    """
    if not settings.telegram_bot_token:
        raise ValueError("settings.telegram_bot_token is required to build the Telegram application")
    processor = PerLearnerUpdateProcessor(concurrent_updates)
    builder = (ApplicationBuilder().token(settings.telegram_bot_token).defaults(DEFAULTS)
               .concurrent_updates(processor)
               .post_init(_post_init).post_stop(_post_stop).post_shutdown(_post_shutdown))
    queue = InboxQueue(inbox) if inbox is not None else None
    if queue is not None:
        builder = builder.update_queue(queue)
    if settings.telegram_api_base_url and settings.telegram_file_base_url:  # a local Bot API server, or a fake
        builder = builder.base_url(settings.telegram_api_base_url).base_file_url(settings.telegram_file_base_url)
    app = builder.build()
    processor.on_dropped = lambda update: _tell_dropped(app, update)
    app.bot_data.update(engine=engine, settings=settings,
                        runner=runner or EngineThreads(engine, 1 if settings.is_sqlite else concurrent_updates))
    if inbox is not None and queue is not None:
        queue.on_dropped = processor.on_dropped
        _wire_inbox(app, inbox)
    register_learner_handlers(app)
    for extend in extensions:
        extend(app)
    register_fallbacks(app)
    app.add_error_handler(on_error)
    return app


def _wire_inbox(app: App, inbox: Inbox) -> None:
    inbox.process = _process_from(app)
    app.bot_data["inbox"] = inbox
    start, stop = background_task("update-inbox", inbox.run, inbox.wake)
    on_startup(app, start)
    app.bot_data.setdefault(_STOP, []).append(stop)  # while the bot can still send: in post_stop


_STOP = "stop_hooks"


async def _post_stop(app: App) -> None:
    """After the updater and the Application stopped, before the bot shuts down: finish in-flight updates."""
    for hook in app.bot_data.get(_STOP, []):
        await hook(app)


async def _post_init(app: App) -> None:
    try:
        await app.bot.set_my_commands([BotCommand(name, desc) for name, desc in COMMANDS])
    except TelegramError as exc:
        log.warning("could not register the bot's commands: %s", exc)
    # Admins and tutors also see the tutor commands in their own chat's menu.
    settings: Settings = app.bot_data["settings"]
    menus = await runner(app).notice(Started())
    chats = {m.chat_id for m in menus if isinstance(m, MenuChange)} | set(settings.tutor_admin_ids)
    for chat in sorted(chats):
        await set_tutor_menu(app.bot, chat, True)
    for hook in startup_hooks(app):
        await hook(app)


async def _post_shutdown(app: App) -> None:
    for hook in reversed(shutdown_hooks(app)):
        await hook(app)
    await asyncio.to_thread(runner(app).close)


_NO_LIMIT = 1 << 20


class PerLearnerUpdateProcessor(BaseUpdateProcessor):
    """Different learners' updates run concurrently; one learner's run one at a time, in the order they came.

    Each learner's updates wait in their own queue, drained by one task, *before* taking one of
    the `max_concurrent_updates` slots (`Slots`), so a learner's burst holds at most one slot
    (none while a reply waits out a 429). A learner with `backlog_max` updates waiting has
    further ones dropped; `on_dropped(update)` is called for the first of those, to tell them.
    """

    def __init__(self, max_concurrent_updates: int, *, backlog_max: int = BACKLOG_MAX) -> None:
        # PTB takes its semaphore before do_process_update: make it no limit, so waiting for a
        # learner's turn holds nothing; the real limit is `slots`, taken around the work only.
        super().__init__(_NO_LIMIT)
        self.slots = Slots(max_concurrent_updates)
        self.backlog_max = backlog_max
        self.on_dropped: Callable[[Update], object] | None = None
        self._queues: dict[int, deque[tuple[Awaitable[Any], asyncio.Future[None]]]] = {}
        self._told: set[int] = set()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            async with self.slots.hold():
                await coroutine
            return
        queue = self._queues.get(user.id)
        if queue is not None and len(queue) >= self.backlog_max:
            _close(coroutine)
            if user.id not in self._told and self.on_dropped is not None and isinstance(update, Update):
                self._told.add(user.id)
                self.on_dropped(update)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if queue is None:
            queue = self._queues[user.id] = deque()
            asyncio.create_task(self._drain(user.id, queue), name=f"learner-queue-{len(self._queues)}")
        queue.append((coroutine, done))
        await done

    async def _drain(self, user_id: int, queue: deque[tuple[Awaitable[Any], asyncio.Future[None]]]) -> None:
        try:
            while queue:
                coroutine, done = queue[0]
                try:
                    async with self.slots.hold():
                        await coroutine
                except Exception:  # noqa: BLE001 - PTB's process_update has reported it
                    log.exception("an update failed outside its handlers")
                finally:
                    queue.popleft()
                    if not done.done():
                        done.set_result(None)
        finally:
            del self._queues[user_id]
            self._told.discard(user_id)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _close(coroutine: Awaitable[Any]) -> None:
    close = getattr(coroutine, "close", None)
    if close is not None:
        close()


class InboxQueue(asyncio.Queue[object]):
    """PTB's update queue, writing every update to the durable inbox instead (polling and webhook).

    PTB's Updater awaits `put` for each fetched update before it moves the getUpdates offset on,
    and its webhook handler before it answers 200: so an update is confirmed to Telegram only
    once it is stored. Updates are then processed from the inbox (`Inbox.run`), never from
    here; anything else (PTB's stop signal) goes through as usual.
    """

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox
        self.on_dropped: Callable[[Update], object] | None = None

    async def put(self, item: object) -> None:
        if not isinstance(item, Update):
            await super().put(item)
            return
        outcome, tell = await self.inbox.put(item.update_id, chat_key(item), item.to_dict())
        if outcome == DROPPED and tell and self.on_dropped is not None:
            self.on_dropped(item)


def chat_key(update: Update) -> str:
    """Whose turn an update waits for: the learner's (their updates run in order), else the chat's."""
    if update.effective_user is not None:
        return f"{CHANNEL}:{update.effective_user.id}"
    if update.effective_chat is not None:
        return f"{CHANNEL}-chat:{update.effective_chat.id}"
    return f"{CHANNEL}-update:{update.update_id}"


def _tell_dropped(app: App, update: Update) -> None:
    """Tell a learner (once per backlog) that some of their messages were dropped."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or (chat is not None and chat.type != Chat.PRIVATE):
        return

    async def tell() -> None:
        try:
            await send_with_retry(app, lambda: app.bot.send_message(user.id, esc(DROPPED_NOTE)), user.id)
        except TelegramError as exc:
            log.info("could not tell a learner about dropped messages: %s", exc)

    app.create_task(tell(), name="tell-dropped")


def _process_from(app: App) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def process(payload: dict[str, Any]) -> None:
        update = Update.de_json(payload, app.bot)
        await app.process_update(update)

    return process


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `run_webhook`/`start_webhook`: the URL's path is the local path too."""
    assert settings.webhook_url
    return dict(listen=settings.webhook_listen, port=settings.webhook_port,
                url_path=urlparse(settings.webhook_url).path.strip("/"), webhook_url=settings.webhook_url,
                secret_token=settings.webhook_secret, allowed_updates=ALLOWED_UPDATES)


async def deep_link_base(settings: Settings) -> str:
    """`https://t.me/<the bot's username>?start=`, for cohort join links (one getMe call)."""
    assert settings.telegram_bot_token
    base = settings.telegram_api_base_url or "https://api.telegram.org/bot"
    async with Bot(settings.telegram_bot_token, base_url=base) as bot:
        return f"https://t.me/{bot.username}?start="
