"""The daily retention purge as a JobQueue job: `retention(purge)` is an extension for `build_application`.

`purge` (from the composition root) erases learners inactive for RETENTION_DAYS and stale
housekeeping rows; it runs in a thread once a day, first a minute after start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from telegram.ext import ContextTypes

from bot.channels.telegram.app import Extension
from bot.channels.telegram.send import App, on_startup

__all__ = ["retention", "PURGE_EVERY"]

log = logging.getLogger(__name__)

PURGE_EVERY = 24 * 3600.0


def retention(purge: Callable[[], object], *, first: float = 60.0) -> Extension:
    def install(app: App) -> None:
        async def job(context: ContextTypes.DEFAULT_TYPE) -> None:
            try:
                await asyncio.to_thread(purge)
            except Exception:  # noqa: BLE001 - tomorrow's run tries again
                log.exception("retention purge failed")

        async def start(app_: App) -> None:
            if app_.job_queue is not None:
                app_.job_queue.run_repeating(job, interval=PURGE_EVERY, first=first, name="retention-purge")

        on_startup(app, start)

    return install
