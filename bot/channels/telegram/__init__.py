"""The tutor on Telegram (python-telegram-bot): the Application, thin handlers, sending, the outbox.

    app.py       build_application, the per-learner update processor, start-up and shutdown
    handlers.py  the learner handlers: parse, call the engine, send
    send.py      retries, keyboards, one sender per reply type, lifecycle hooks
    outbox.py    reminders and broadcasts through the paced sender, broadcast progress
"""

from bot.channels.telegram.app import ALLOWED_UPDATES, DEFAULT_CONCURRENCY, build_application, webhook_options
from bot.channels.telegram.handlers import EXPIRED_BUTTON
from bot.channels.telegram.send import CHANNEL, on_shutdown, on_startup

__all__ = ["build_application", "webhook_options", "on_startup", "on_shutdown", "ALLOWED_UPDATES",
           "DEFAULT_CONCURRENCY", "EXPIRED_BUTTON", "CHANNEL"]
