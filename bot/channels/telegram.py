"""The tutor on Telegram: a python-telegram-bot Application whose thin handlers parse, call the engine, render.

`build_application` is the one composition root: it wires the learner handlers, the error
handler and start-up/shutdown hooks, keeps the services in `bot_data` ("engine", "store",
"settings") and lets other features add theirs through `extensions` (callables that get
the Application after the learner commands and before the catch-alls). `run_bot` loads the
bank, opens the store and runs the Application by long polling or, with WEBHOOK_URL, a webhook.

Engine, store and chart calls are synchronous and never run on the event loop: learner
actions go to an engine runner (`bot.workers`: worker processes in `run_bot`, threads by
default), store and chart calls through `asyncio.to_thread`. Updates from different learners
are handled concurrently, one learner's in order.
Replies are sent without a global rate limiter (they answer a learner, one at a time); a
429 is retried after `retry_after`, a 403 (the learner blocked the bot) marks them inactive.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import urlparse

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    Chat,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Poll,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from bot.channels.render import feedback_text, message_text, question_text, split_text
from bot.config import Settings
from bot.workers import EngineRunner, ProcessRunner, ThreadRunner
from bot.tutor.cohorts import TUTOR_COMMANDS, AddTutor, BroadcastStarted, DashboardData, MenuChange
from bot.tutor.engine import (
    COMMANDS,
    Action,
    AllTopics,
    Answer,
    AskQuestion,
    Button,
    Chart,
    Choose,
    Document,
    Engine,
    Feedback,
    Message,
    NotText,
    Override,
    Reply,
    ToggleTopic,
    Unknown,
    Who,
    parse_button,
    parse_command,
)

__all__ = [
    "build_application", "run_bot", "webhook_options", "on_startup", "on_shutdown", "send_with_retry",
    "register_learner_handlers", "register_fallbacks", "PerLearnerUpdateProcessor", "ALLOWED_UPDATES",
    "ENGINE_COMMAND", "CHANNEL",
]

log = logging.getLogger(__name__)

CHANNEL = "telegram"
CALLBACK_DATA_MAX = 64  # bytes, Telegram's limit
TOAST_MAX = 200  # answerCallbackQuery text
SEND_RETRIES = 3
DEFAULT_CONCURRENCY = 8  # updates in flight (one learner's always in order): see the README's benchmark figures
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY, Update.POLL_ANSWER,
                   Update.MY_CHAT_MEMBER]

EXPIRED_BUTTON = "That button has expired. Send /quiz for a new question."
EDITED_NOTE = ("I mark the first version of each answer, so edits aren't re-marked. "
               "Send a new message to answer the next question.")
APOLOGY = "Sorry, something went wrong on my side. Your progress is saved; please try that again in a moment."
_STARTUP = "startup_hooks"
_SHUTDOWN = "shutdown_hooks"

T = TypeVar("T")
Hook = Callable[[Application], Awaitable[None]]  # type: ignore[type-arg]
Extension = Callable[[Application], object]  # type: ignore[type-arg]

# ---------------------------------------------------------------------------- composition root


def build_application(settings: Settings, engine: Engine, store: Any, *, extensions: Iterable[Extension] = (),
                      concurrent_updates: int = DEFAULT_CONCURRENCY, engine_threads: int = 8,
                      runner: EngineRunner | None = None) -> Application:  # type: ignore[type-arg]
    """The Application with every learner handler, services in bot_data, and `extensions` wired in.

    Each extension is called once with the Application, after the learner commands and before
    the catch-alls (unknown commands, plain text as answers, expired buttons), so it can add
    handlers, jobs (`app.job_queue`), `on_startup`/`on_shutdown` hooks or more `bot_data`.

    Learner actions run on `runner` (default: `engine` in threads, `engine_threads` at a time,
    one on SQLite); `run_bot` passes worker processes. `engine` itself serves the rest (the
    reminder sweep, the outbox, poll bookkeeping).
    """
    if not settings.telegram_bot_token:
        raise ValueError("settings.telegram_bot_token is required to build the Telegram application")
    builder = (ApplicationBuilder().token(settings.telegram_bot_token)
               .concurrent_updates(PerLearnerUpdateProcessor(concurrent_updates))
               .post_init(_post_init).post_shutdown(_post_shutdown))
    if settings.telegram_base_url:
        base = settings.telegram_base_url.rstrip("/")
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    app = builder.build()
    if runner is None:  # SQLite has one writer at a time: one engine call at a time
        runner = ThreadRunner(engine, 1 if getattr(store, "dialect", "") == "sqlite" else engine_threads)
    app.bot_data.update(engine=engine, store=store, settings=settings, runner=runner,
                        **{_STARTUP: [], _SHUTDOWN: []})
    register_learner_handlers(app)
    for extend in extensions:
        extend(app)
    register_fallbacks(app)
    app.add_error_handler(_on_error)
    return app


def register_learner_handlers(app: Application) -> None:  # type: ignore[type-arg]
    """Commands, buttons, quiz-poll answers and membership changes (the catch-alls come later)."""
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, _on_edited))
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & ENGINE_COMMAND, _on_command))
    app.add_handler(CallbackQueryHandler(_on_button, pattern=_is_engine_button))
    app.add_handler(PollAnswerHandler(_on_poll_answer))
    app.add_handler(ChatMemberHandler(_on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))


def register_fallbacks(app: Application) -> None:  # type: ignore[type-arg]
    """What nobody else handled: other commands, typed answers, non-text messages, stale buttons."""
    private = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND, _on_command))
    app.add_handler(MessageHandler(private & filters.TEXT, _on_text))
    app.add_handler(MessageHandler(private & ~filters.StatusUpdate.ALL, _on_not_text))
    app.add_handler(CallbackQueryHandler(_on_stale_button))


def on_startup(app: Application, hook: Hook) -> None:  # type: ignore[type-arg]
    """Run `await hook(app)` in post_init, after the bot's commands are registered."""
    app.bot_data[_STARTUP].append(hook)


def on_shutdown(app: Application, hook: Hook) -> None:  # type: ignore[type-arg]
    """Run `await hook(app)` in post_shutdown (in reverse order of registration)."""
    app.bot_data[_SHUTDOWN].append(hook)


async def _post_init(app: Application) -> None:  # type: ignore[type-arg]
    engine = app.bot_data["engine"]
    if engine.link_base is None and app.bot.username:  # cohort deep links need the bot's username
        engine.link_base = f"https://t.me/{app.bot.username}?start="
    await app.bot_data["runner"].start(engine)
    try:
        await app.bot.set_my_commands([BotCommand(name, desc) for name, desc in COMMANDS])
    except TelegramError as exc:
        log.warning("could not register the bot's commands: %s", exc)
    # Admins and tutors also see the tutor commands in their own chat's menu.
    tutors = await asyncio.to_thread(app.bot_data["store"].tutor_chats)
    for chat_id in sorted(set(app.bot_data["settings"].tutor_admin_ids) | set(tutors)):
        await _set_tutor_menu(app.bot, chat_id, True)
    for hook in app.bot_data[_STARTUP]:
        await hook(app)


async def _set_tutor_menu(bot: Any, chat_id: int, tutor: bool) -> None:
    try:
        if tutor:
            menu = [BotCommand(name, desc) for name, desc in (*COMMANDS, *TUTOR_COMMANDS)]
            await bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id))
        else:
            await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id))
    except TelegramError as exc:  # e.g. they have not started a chat with the bot yet
        log.info("could not change the command menu of chat %s: %s", chat_id, exc)


async def _post_shutdown(app: Application) -> None:  # type: ignore[type-arg]
    for hook in reversed(app.bot_data[_SHUTDOWN]):
        await hook(app)
    await app.bot_data["runner"].close()


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


# ---------------------------------------------------------------------------- handlers

Context = ContextTypes.DEFAULT_TYPE


def _who(update: Update) -> Who:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None
    # Only a private chat is the learner's own: reminders go there, never to a group.
    chat_id = chat.id if chat is not None and chat.type == Chat.PRIVATE else None
    return Who(CHANNEL, str(user.id), display_name=user.full_name, chat_id=chat_id)


async def _handle(context: Context, who: Who, action: Action) -> list[Reply]:
    runner: EngineRunner = context.bot_data["runner"]
    return await runner.handle(who, action)


class _EngineCommand(filters.MessageFilter):
    """A command the engine understands (so other features' commands reach their own handlers)."""

    def filter(self, message: Any) -> bool:
        return bool(message.text) and not isinstance(parse_command(message.text), Unknown | None)


ENGINE_COMMAND = _EngineCommand(name="ENGINE_COMMAND")


def _is_engine_button(data: object) -> bool:
    return isinstance(data, str) and parse_button(data) is not None


def _addressed_to_us(message: Any, username: str) -> bool:
    """In private every command is ours; in a group only `/command@thisbot`."""
    if message.chat.type == Chat.PRIVATE:
        return True
    head = message.text.split(maxsplit=1)[0]
    return bool(head.lower().endswith(f"@{username.lower()}"))


async def _on_command(update: Update, context: Context) -> None:
    """A learner command (or, as the catch-all, one nobody registered: the engine says so)."""
    message = update.effective_message
    if message is None or message.text is None or update.effective_user is None:
        return
    if not _addressed_to_us(message, context.bot.username):
        return
    who = _who(update)
    action = parse_command(message.text) or Answer(message.text)
    if isinstance(action, AddTutor) and not action.target and message.reply_to_message is not None:
        action = AddTutor(_forwarded_sender(message.reply_to_message))
    await _send_replies(context, message.chat_id, who, await _handle(context, who, action))


async def _on_text(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None or message.text is None or update.effective_user is None:
        return
    who = _who(update)
    action = Answer(message.text, ref=(message.chat_id, message.message_id))
    await _send_replies(context, message.chat_id, who, await _handle(context, who, action))


async def _on_not_text(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None or update.effective_user is None:
        return
    who = _who(update)
    action = NotText(_kind(message), ref=(message.chat_id, message.message_id))
    await _send_replies(context, message.chat_id, who, await _handle(context, who, action))


def _forwarded_sender(message: Any) -> str:
    """The user id behind a forwarded message ("" if they hide it in their privacy settings)."""
    origin = getattr(message, "forward_origin", None)
    user = getattr(origin, "sender_user", None)
    return str(user.id) if user is not None else ""


def _kind(message: Any) -> str:
    for kind in ("sticker", "photo", "voice", "video_note", "video", "audio", "animation", "document",
                 "location", "contact", "poll", "dice"):
        if getattr(message, kind, None):
            return kind.replace("_", " ")
    return "message"


async def _on_edited(update: Update, context: Context) -> None:
    """An edited message is not regraded (the first answer counts); in private we say so, briefly."""
    message = update.edited_message
    if message is None or message.chat.type != Chat.PRIVATE:
        return
    await _send_replies(context, message.chat_id, None, [Message(EDITED_NOTE)])


async def _on_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    action = parse_button(query.data)
    if action is None:
        await _answer_query(query, EXPIRED_BUTTON)
        return
    who = _who(update)
    replies = await _handle(context, who, action)
    only = replies[0] if len(replies) == 1 and isinstance(replies[0], Message) else None
    # A stale or refused Override/Choose gets its note as a toast too; topic toggles edit in place.
    toast = only.text[:TOAST_MAX] if only is not None and isinstance(action, Override | Choose) else ""
    await _answer_query(query, toast)
    chat_id = query.message.chat.id if query.message is not None else int(who.external_id)
    if (only is not None and only.buttons and isinstance(action, ToggleTopic | AllTopics)
            and query.message is not None and await _edit(context, query.message, only)):
        return
    await _send_replies(context, chat_id, who, replies)


async def _on_stale_button(update: Update, context: Context) -> None:
    if update.callback_query is not None:
        await _answer_query(update.callback_query, EXPIRED_BUTTON)


async def _on_poll_answer(update: Update, context: Context) -> None:
    answer = update.poll_answer
    if answer is None or answer.user is None or not answer.option_ids:
        return  # a retracted vote, or an anonymous one: nothing to grade
    who = Who(CHANNEL, str(answer.user.id), display_name=answer.user.full_name)
    replies = await _handle(context, who, Choose(key="", option=answer.option_ids[0], poll_id=answer.poll_id))
    store = context.bot_data["store"]
    learner = await asyncio.to_thread(store.find_learner, CHANNEL, who.external_id)
    chat_id = learner.chat_id if learner is not None and learner.chat_id is not None else answer.user.id
    await _send_replies(context, chat_id, who, replies)


async def _on_my_chat_member(update: Update, context: Context) -> None:
    change = update.my_chat_member
    if change is None:
        return
    status = change.new_chat_member.status
    if status in (ChatMember.BANNED, ChatMember.LEFT):
        active = False
    elif status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER):
        active = True
    else:
        return
    store = context.bot_data["store"]
    await asyncio.to_thread(store.set_active_by_chat, CHANNEL, change.chat.id, active)


async def _on_error(update: object, context: Context) -> None:
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed", update_id, exc_info=context.error)
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat is None:
        return
    try:
        await context.bot.send_message(chat.id, APOLOGY)
    except TelegramError as exc:
        log.warning("could not tell chat %s about the error: %s", chat.id, exc)


# ---------------------------------------------------------------------------- rendering and sending


def _bold(s: str) -> str:
    return f"<b>{s}</b>"


def _esc(s: str) -> str:
    return html.escape(s)


def _keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    out = []
    for row in rows:
        buttons = []
        for b in row:
            if len(b.action.encode()) > CALLBACK_DATA_MAX:
                log.warning("button %r dropped: callback data over %d bytes", b.label, CALLBACK_DATA_MAX)
                continue
            buttons.append(InlineKeyboardButton(b.label, callback_data=b.action))
        if buttons:
            out.append(buttons)
    return InlineKeyboardMarkup(out) if out else None


def _html(reply: Message | AskQuestion | Feedback) -> str:
    if isinstance(reply, Message):
        return message_text(reply, _esc, _bold)
    if isinstance(reply, AskQuestion):
        return question_text(reply, _esc, _bold)
    return feedback_text(reply, _esc, _bold)


async def _send_replies(context: Context, chat_id: int, who: Who | None, replies: Sequence[Reply]) -> None:
    """Send each reply in order; stop at the first one the learner can't receive (they blocked us)."""
    bot, store = context.bot, context.bot_data["store"]
    for reply in replies:
        if isinstance(reply, AskQuestion) and reply.as_poll:
            q = reply.question
            sent = await send_with_retry(lambda: bot.send_poll(
                chat_id, question=q.prompt, options=list(q.options), type=Poll.QUIZ,
                correct_option_ids=[q.answer] if q.answer is not None else None,
                explanation=q.explanation or None, is_anonymous=False), store, chat_id)
            if sent is not None and sent.poll is not None and who is not None:
                engine: Engine = context.bot_data["engine"]
                await asyncio.to_thread(engine.attach_poll, who, q.id, sent.poll.id)
        elif isinstance(reply, Message | AskQuestion | Feedback):
            sent = await _send_text(context, chat_id, _html(reply), _keyboard(reply.buttons))
        elif isinstance(reply, Chart):
            sent = await _send_chart(context, chat_id, reply)
        elif isinstance(reply, Document):
            document = InputFile(reply.data, filename=reply.filename)
            sent = await send_with_retry(lambda: bot.send_document(
                chat_id, document=document, caption=_esc(reply.caption), parse_mode=ParseMode.HTML), store, chat_id)
        elif isinstance(reply, BroadcastStarted):
            sent = await _send_text(context, chat_id, _esc(reply.text), None)
            if sent is not None:  # the progress message the outbox extension keeps editing
                await asyncio.to_thread(store.set_progress_message, reply.broadcast_id, chat_id, sent.message_id)
            sender = context.bot_data.get("sender")
            if sender is not None:
                sender.wake()
        elif isinstance(reply, MenuChange):
            await _set_tutor_menu(bot, reply.chat_id, reply.tutor)
            continue
        elif isinstance(reply, DashboardData):
            from bot.charts import bars_png

            png = await asyncio.to_thread(bars_png, f"{reply.cohort}: accuracy by topic (%)", reply.accuracy)
            sent = await send_with_retry(lambda: bot.send_photo(
                chat_id, photo=png, caption=_esc(f"{reply.cohort}: accuracy by topic")), store, chat_id)
        else:
            log.error("no rendering for reply %r", type(reply).__name__)
            continue
        if sent is None:
            return


# What Telegram would turn into a link with a preview: a URL, or a bare domain such as ico.org.uk.
_LINK = re.compile(r"https?://|www\.|\b[\w-]+\.(?:[a-z]{2,}\.)?(?:uk|com|org|net|gov|io|me|info|co)\b", re.IGNORECASE)
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def _send_text(context: Context, chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> Any:
    parts = split_text(text)
    sent = None
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        # No link previews: only a message with a link gets the option (the rest have nothing to preview).
        preview = _NO_PREVIEW if _LINK.search(part) else None
        sent = await send_with_retry(lambda: context.bot.send_message(
            chat_id, part, parse_mode=ParseMode.HTML, reply_markup=markup if last else None,
            link_preview_options=preview), context.bot_data["store"], chat_id)
        if sent is None:
            return None
    return sent


async def _send_chart(context: Context, chat_id: int, chart: Chart) -> Any:
    from bot.charts import stats_png  # matplotlib: imported on first use, not at start-up

    png = await asyncio.to_thread(stats_png, chart.stats)
    return await send_with_retry(lambda: context.bot.send_photo(
        chat_id, photo=png, caption=_esc(chart.title), parse_mode=ParseMode.HTML), context.bot_data["store"], chat_id)


async def _edit(context: Context, message: Any, reply: Message) -> bool:
    """Replace a message's text and buttons in place; False if Telegram refused (then send anew)."""
    try:
        await send_with_retry(lambda: context.bot.edit_message_text(
            message_text(reply, _esc, _bold), chat_id=message.chat.id, message_id=message.message_id,
            parse_mode=ParseMode.HTML, reply_markup=_keyboard(reply.buttons)), context.bot_data["store"],
            message.chat.id)
    except BadRequest as exc:
        if "not modified" in str(exc).lower():
            return True
        log.info("could not edit message %s: %s", message.message_id, exc)
        return False
    return True


async def _answer_query(query: Any, text: str) -> None:
    try:
        await query.answer(text or None)
    except RetryAfter:
        pass  # a toast is not worth waiting for
    except BadRequest as exc:  # too old to answer: the learner saw a spinner for a while, nothing else
        log.info("could not answer callback query: %s", exc)


def _retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def send_with_retry(call: Callable[[], Coroutine[Any, Any, T]], store: Any, chat_id: int,
                          retries: int = SEND_RETRIES) -> T | None:
    """`await call()`, retrying after a 429's retry_after (up to `retries` times).

    A 403 (the learner blocked the bot, or it was removed from the chat) marks the learner
    inactive and returns None; other errors propagate to the error handler.
    """
    for attempt in range(retries + 1):
        try:
            return await call()
        except RetryAfter as exc:
            if attempt == retries:
                raise
            await asyncio.sleep(_retry_seconds(exc))
        except Forbidden as exc:
            log.info("chat %s refused a message (%s): marking the learner inactive", chat_id, exc)
            await asyncio.to_thread(store.set_active_by_chat, CHANNEL, chat_id, False)
            return None
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- running


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `run_webhook`/`start_webhook`: the URL's path is the local path too."""
    assert settings.webhook_url
    return dict(listen=settings.webhook_listen, port=settings.webhook_port,
                url_path=urlparse(settings.webhook_url).path.strip("/"), webhook_url=settings.webhook_url,
                secret_token=settings.webhook_secret, allowed_updates=ALLOWED_UPDATES)


def run_bot(settings: Settings) -> int:
    """Run the bot until SIGINT/SIGTERM: long polling, or a webhook when WEBHOOK_URL is set."""
    from bot.config import configure_logging
    from bot.errors import ContentError
    from bot.store import Store
    from bot.tutor.bank import load_bank

    configure_logging(settings)
    # PTB's time periods (e.g. RetryAfter.retry_after) as timedeltas, as in its next major version.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    try:
        bank = load_bank(settings.content_dir)
    except ContentError as exc:
        log.error("cannot load the question bank:\n%s", exc)
        return 1
    store = Store.open(settings.database_url)
    try:
        engine = Engine(bank, store, clock=lambda: datetime.now(timezone.utc),
                        default_timezone=settings.default_timezone, new_per_day=settings.new_per_day,
                        desired_retention=settings.desired_retention,
                        admins={(CHANNEL, str(i)) for i in settings.tutor_admin_ids})
        engine.grader.warm(bank)  # compile every question's matcher now, not on a learner's first answer
        from bot.channels.telegram_outbox import install_outbox

        workers = settings.workers()
        runner = ProcessRunner(settings.content_dir, settings.database_url, workers) if workers else None
        log.info("engine: %s", f"{workers} worker process(es)" if workers else "threads in this process")
        app = build_application(settings, engine, store, extensions=[install_outbox], runner=runner)
        if settings.webhook_url:
            log.info("starting: webhook on %s:%s", settings.webhook_listen, settings.webhook_port)
            app.run_webhook(**webhook_options(settings))
        else:
            log.info("starting: long polling")
            app.run_polling(allowed_updates=ALLOWED_UPDATES)
    finally:
        store.close()
    return 0
