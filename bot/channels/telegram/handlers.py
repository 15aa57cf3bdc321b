"""The learner handlers: thin, they parse the update, call the engine (in its threads), send the replies.

Nothing here reads or writes the store: what the channel observes outside a conversation
goes to the engine as an `Event` (a blocked chat, a poll sent), and the replies say how they
are best shown (a toast, in place of the pressed message).
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Chat, ChatMember, Update
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.ext import CallbackQueryHandler, ChatMemberHandler, ContextTypes, MessageHandler, PollAnswerHandler, filters

from bot.channels.telegram.send import CHANNEL, App, edit_in_place, runner, send_replies
from bot.tutor import buttons
from bot.tutor.actions import Action, AddTutor, Answer, ChatReachable, Choose, NotText, Unknown, Who
from bot.tutor.commands import parse_command
from bot.tutor.replies import Message, Reply

__all__ = ["register_learner_handlers", "register_fallbacks", "ENGINE_COMMAND", "EXPIRED_BUTTON", "EDITED_NOTE",
           "APOLOGY", "TOAST_MAX", "on_error"]

log = logging.getLogger("bot.channels.telegram")

TOAST_MAX = 200  # answerCallbackQuery text
EXPIRED_BUTTON = "That button has expired. Send /quiz for a new question."
EDITED_NOTE = ("I mark the first version of each answer, so edits aren't re-marked. "
               "Send a new message to answer the next question.")
APOLOGY = "Sorry, something went wrong on my side. Your progress is saved; please try that again in a moment."

Context = ContextTypes.DEFAULT_TYPE


def register_learner_handlers(app: App) -> None:
    """Commands, buttons, quiz-poll answers and membership changes (the catch-alls come later)."""
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, _on_edited))
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & ENGINE_COMMAND, _on_command))
    app.add_handler(CallbackQueryHandler(_on_button, pattern=_is_engine_button))
    app.add_handler(PollAnswerHandler(_on_poll_answer))
    app.add_handler(ChatMemberHandler(_on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))


def register_fallbacks(app: App) -> None:
    """What nobody else handled: other commands, typed answers, non-text messages, stale buttons."""
    private = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND, _on_command))
    app.add_handler(MessageHandler(private & filters.TEXT, _on_text))
    app.add_handler(MessageHandler(private & ~filters.StatusUpdate.ALL, _on_not_text))
    app.add_handler(CallbackQueryHandler(_on_stale_button))


def _who(update: Update) -> Who:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None
    # Only a private chat is the learner's own: reminders go there, never to a group.
    chat_id = chat.id if chat is not None and chat.type == Chat.PRIVATE else None
    return Who(CHANNEL, str(user.id), display_name=user.full_name, chat_id=chat_id)


async def _handle(context: Context, who: Who, action: Action) -> list[Reply]:
    return await runner(context.application).handle(who, action)


class _EngineCommand(filters.MessageFilter):
    """A command the engine understands (so other features' commands reach their own handlers)."""

    def filter(self, message: Any) -> bool:
        return bool(message.text) and not isinstance(parse_command(message.text), Unknown | None)


ENGINE_COMMAND = _EngineCommand(name="ENGINE_COMMAND")


def _is_engine_button(data: object) -> bool:
    return isinstance(data, str) and buttons.decode(data) is not None


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
    action: Action = parse_command(message.text) or Answer(message.text)
    if isinstance(action, AddTutor) and not action.target and message.reply_to_message is not None:
        action = AddTutor(_forwarded_sender(message.reply_to_message))
    await send_replies(context.application, message.chat_id, who, await _handle(context, who, action))


async def _on_text(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None or message.text is None or update.effective_user is None:
        return
    who = _who(update)
    action = Answer(message.text, ref=(message.chat_id, message.message_id))
    await send_replies(context.application, message.chat_id, who, await _handle(context, who, action))


async def _on_not_text(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None or update.effective_user is None:
        return
    who = _who(update)
    action = NotText(_kind(message), ref=(message.chat_id, message.message_id))
    await send_replies(context.application, message.chat_id, who, await _handle(context, who, action))


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
    await send_replies(context.application, message.chat_id, None, [Message(EDITED_NOTE)])


async def _on_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    action = buttons.decode(query.data)
    if action is None:
        await _answer_query(query, EXPIRED_BUTTON)
        return
    who = _who(update)
    replies = await _handle(context, who, action)
    only = replies[0] if len(replies) == 1 and isinstance(replies[0], Message) else None
    await _answer_query(query, only.text[:TOAST_MAX] if only is not None and only.toast else "")
    chat_id = query.message.chat.id if query.message is not None else int(who.external_id)
    if (only is not None and only.replaces_previous and query.message is not None
            and await edit_in_place(context.application, query.message, only)):
        return
    await send_replies(context.application, chat_id, who, replies)


async def _on_stale_button(update: Update, context: Context) -> None:
    if update.callback_query is not None:
        await _answer_query(update.callback_query, EXPIRED_BUTTON)


async def _on_poll_answer(update: Update, context: Context) -> None:
    answer = update.poll_answer
    if answer is None or answer.user is None or not answer.option_ids:
        return  # a retracted vote, or an anonymous one: nothing to grade
    who = Who(CHANNEL, str(answer.user.id), display_name=answer.user.full_name)
    replies = await _handle(context, who, Choose(key="", option=answer.option_ids[0], poll_id=answer.poll_id))
    # A user's private chat with the bot has the user's id (the only chat a learner's chat_id comes from).
    await send_replies(context.application, answer.user.id, who, replies)


async def _on_my_chat_member(update: Update, context: Context) -> None:
    change = update.my_chat_member
    if change is None:
        return
    status = change.new_chat_member.status
    if status in (ChatMember.BANNED, ChatMember.LEFT):
        reachable = False
    elif status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER):
        reachable = True
    else:
        return
    await runner(context.application).notice(ChatReachable(CHANNEL, change.chat.id, reachable))


async def _answer_query(query: Any, text: str) -> None:
    try:
        await query.answer(text or None)
    except RetryAfter:
        pass  # a toast is not worth waiting for
    except BadRequest as exc:  # too old to answer: the learner saw a spinner for a while, nothing else
        log.info("could not answer callback query: %s", exc)


async def on_error(update: object, context: Context) -> None:
    """Log the failure with its traceback, then apologise to the chat (if there is one)."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed", update_id, exc_info=context.error)
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat is None:
        return
    try:
        await context.bot.send_message(chat.id, APOLOGY)
    except TelegramError as exc:
        log.warning("could not tell chat %s about the error: %s", chat.id, exc)
