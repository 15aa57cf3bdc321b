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
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from telegram import Bot, BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ApplicationBuilder, BaseUpdateProcessor, Defaults

from bot.channels.telegram.handlers import on_error, register_fallbacks, register_learner_handlers
from bot.channels.telegram.send import App, runner, set_tutor_menu, shutdown_hooks, startup_hooks
from bot.config import Settings
from bot.runtime.runner import EngineThreads
from bot.tutor.actions import Started
from bot.tutor.commands import COMMANDS
from bot.tutor.engine import Engine
from bot.tutor.replies import MenuChange

__all__ = ["build_application", "webhook_options", "PerLearnerUpdateProcessor", "ALLOWED_UPDATES",
           "DEFAULT_CONCURRENCY", "deep_link_base", "Extension"]

log = logging.getLogger("bot.channels.telegram")

DEFAULT_CONCURRENCY = 8  # updates in flight (one learner's always in order): see the README's benchmark figures
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY, Update.POLL_ANSWER,
                   Update.MY_CHAT_MEMBER]
# Every text is HTML (escaped by the senders); no message shows a link preview (join links, ico.org.uk).
DEFAULTS = Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))

Extension = Callable[[App], object]


def build_application(settings: Settings, engine: Engine, *, runner: EngineThreads | None = None,
                      extensions: Iterable[Extension] = (),
                      concurrent_updates: int = DEFAULT_CONCURRENCY) -> App:
    """The Application with every learner handler, services in bot_data, and `extensions` wired in.

    Each extension is called once with the Application, after the learner commands and before
    the catch-alls (unknown commands, plain text as answers, expired buttons), so it can add
    handlers, jobs (`app.job_queue`), `on_startup`/`on_shutdown` hooks or more `bot_data`.
    Engine calls run on `runner` (default: threads, one on SQLite, which writes one at a time).
    """
    if not settings.telegram_bot_token:
        raise ValueError("settings.telegram_bot_token is required to build the Telegram application")
    builder = (ApplicationBuilder().token(settings.telegram_bot_token).defaults(DEFAULTS)
               .concurrent_updates(PerLearnerUpdateProcessor(concurrent_updates))
               .post_init(_post_init).post_shutdown(_post_shutdown))
    if settings.telegram_base_url:
        base = settings.telegram_base_url.rstrip("/")
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    app = builder.build()
    app.bot_data.update(engine=engine, settings=settings,
                        runner=runner or EngineThreads(engine, 1 if settings.is_sqlite else concurrent_updates))
    register_learner_handlers(app)
    for extend in extensions:
        extend(app)
    register_fallbacks(app)
    app.add_error_handler(on_error)
    return app


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


class PerLearnerUpdateProcessor(BaseUpdateProcessor):
    """Different learners' updates run concurrently; one learner's updates run in the order they came."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: Counter[int] = Counter()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            await coroutine
            return
        lock = self._locks.setdefault(user.id, asyncio.Lock())
        self._users[user.id] += 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[user.id] -= 1
            if not self._users[user.id]:
                del self._users[user.id], self._locks[user.id]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `run_webhook`/`start_webhook`: the URL's path is the local path too."""
    assert settings.webhook_url
    return dict(listen=settings.webhook_listen, port=settings.webhook_port,
                url_path=urlparse(settings.webhook_url).path.strip("/"), webhook_url=settings.webhook_url,
                secret_token=settings.webhook_secret, allowed_updates=ALLOWED_UPDATES)


async def deep_link_base(settings: Settings) -> str:
    """`https://t.me/<the bot's username>?start=`, for cohort join links (one getMe call)."""
    assert settings.telegram_bot_token
    base = (settings.telegram_base_url or "https://api.telegram.org").rstrip("/")
    async with Bot(settings.telegram_bot_token, base_url=f"{base}/bot") as bot:
        return f"https://t.me/{bot.username}?start="
