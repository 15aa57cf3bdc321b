"""The one composition root: settings -> bank, store, grader, engine, runtime jobs and channels.

Every entry point builds its services here: `run_bot` (Telegram), `run_shell` (the terminal),
and tests and benchmarks through `build_engine`/`outbox_extension`. Nothing else constructs
an `Engine` for the running bot, and nothing else opens the store.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.config import Settings, configure_logging
from bot.errors import ContentError
from bot.runtime.inbox import Inbox
from bot.runtime.reminders import ReminderSweeper
from bot.runtime.runner import EngineThreads
from bot.runtime.sender import PacedSender
from bot.store import Store
from bot.tutor.bank import QuestionBank, load_bank
from bot.tutor.engine import Engine
from bot.tutor.grading import Grader
from bot.tutor.grading.lexicon import LEXICON_FILE, load_lexicon
from bot.tutor.ports import Clock
from bot.tutor.remind import parse_time

if TYPE_CHECKING:
    from bot.channels.telegram.app import Extension

__all__ = ["Services", "load_services", "build_engine", "outbox_extension", "retention_extension", "run_bot",
           "run_shell", "utc_now", "remove_shell_files"]

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Services:
    bank: QuestionBank
    store: Store


def load_services(settings: Settings, *, database_url: str | None = None) -> Services:
    """Load the question bank (ContentError lists every problem), then open (and migrate) the store."""
    bank = load_bank(settings.content_dir)
    return Services(bank, Store.open(database_url or settings.database_url, **settings.store_options()))


def build_engine(settings: Settings, bank: QuestionBank, store: Store, *, clock: Clock = utc_now,
                 admins: Iterable[tuple[str, str]] = (), link_base: str | None = None, warm: bool = False) -> Engine:
    """The engine as every entry point runs it; `warm` compiles each question's matcher now."""
    lexicon_file = settings.content_dir / LEXICON_FILE  # the vocabulary beside the bank this engine serves
    lexicon = load_lexicon(lexicon_file) if lexicon_file.exists() else None
    engine = Engine(bank, store, clock=clock, grader=Grader(bank.glossary, lexicon=lexicon),
                    default_timezone=settings.default_timezone,
                    new_per_day=settings.new_per_day, desired_retention=settings.desired_retention,
                    admins=admins, link_base=link_base, tutors_may_edit=settings.tutors_may_edit,
                    claims_digest_at=parse_time(settings.claims_digest_at) if settings.claims_digest_at else None,
                    retention_days=settings.retention_days)
    if warm:
        engine.grader.warm(bank)  # not on a learner's first answer
    return engine


def outbox_extension(settings: Settings, store: Store, clock: Clock = utc_now) -> Extension:
    """The Telegram outbox (reminder sweep, paced sender, broadcast progress) on `store`."""
    from bot.channels.telegram.outbox import outbox

    return outbox(ReminderSweeper(store, clock),
                  lambda deliver: PacedSender(store, deliver, rate=settings.send_rate, clock=clock,
                                              retry_budget=timedelta(hours=settings.outbox_retry_hours)))


def retention_extension(settings: Settings, store: Store) -> Extension:
    """The daily purge: learners inactive for RETENTION_DAYS (0: never) and stale housekeeping rows."""
    from bot.channels.telegram.retention import retention

    def purge() -> tuple[int, dict[str, int]]:
        now = utc_now()
        gone = store.purge_inactive(now, timedelta(days=settings.retention_days)) if settings.retention_days else []
        for learner in gone:
            if learner.channel == "shell":
                remove_shell_files(Path("data") / "files", learner.external_id)
        stale = store.purge_stale(now)
        if gone or any(stale.values()):
            log.info("retention: %d inactive learner(s) erased (ids %s); stale rows removed %s",
                     len(gone), [g.id for g in gone][:50], stale)
        return len(gone), stale

    return retention(purge)


def remove_shell_files(files_dir: Path, user: str) -> int:
    """The shell's export and chart files of `user` (they go with /forget and the retention purge)."""
    from bot.channels.shell import user_files

    n = 0
    for path in user_files(files_dir, user):
        path.unlink(missing_ok=True)
        n += 1
    return n


def run_bot(settings: Settings) -> int:
    """Run the bot until SIGINT/SIGTERM: long polling, or a webhook when WEBHOOK_URL is set."""
    from bot.channels.telegram import ALLOWED_UPDATES, CHANNEL, build_application, webhook_options
    from bot.channels.telegram.app import DEFAULT_CONCURRENCY, deep_link_base

    configure_logging(settings)
    # PTB's time periods (e.g. RetryAfter.retry_after) as timedeltas, as in its next major version.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    try:
        services = load_services(settings)
    except ContentError as exc:
        log.error("cannot load the question bank:\n%s", exc)
        return 1
    store = services.store
    try:
        loop = asyncio.new_event_loop()  # PTB runs the bot on this loop too
        asyncio.set_event_loop(loop)
        link_base = loop.run_until_complete(deep_link_base(settings))  # cohort links need the bot's username
        engine = build_engine(settings, services.bank, store, link_base=link_base, warm=True,
                              admins={(CHANNEL, str(i)) for i in settings.tutor_admin_ids})
        threads = 1 if store.dialect == "sqlite" else DEFAULT_CONCURRENCY  # SQLite writes one at a time
        log.info("engine: %d thread(s)", threads)
        inbox = Inbox(store, slots=DEFAULT_CONCURRENCY)
        app = build_application(settings, engine, runner=EngineThreads(engine, threads), inbox=inbox,
                                extensions=[outbox_extension(settings, store), retention_extension(settings, store)])
        if settings.webhook_url:
            # Replicas behind a load balancer share the inbox: a dead one's claims wait for their lease.
            log.info("starting: webhook on %s:%s", settings.webhook_listen, settings.webhook_port)
            app.run_webhook(**webhook_options(settings))
        else:
            # Polling is one process only (Telegram answers a second poller 409 Conflict).
            loop.run_until_complete(inbox.recover())
            log.info("starting: long polling")
            app.run_polling(allowed_updates=ALLOWED_UPDATES)
            if app.bot_data.get("polling_conflict"):
                return 3
    finally:
        store.close()
    return 0


def run_shell(settings: Settings, *, user: str | None, db: str | None, tutor: bool = False,
              stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """The tutor in this terminal, on the same engine and store, reading `stdin` line by line."""
    from bot.channels.shell import Shell
    from bot.tutor.actions import Who

    stdin = stdin or sys.stdin
    out = out or sys.stdout
    try:
        services = load_services(settings, database_url=db)
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    bank, store = services.bank, services.store
    try:
        name = user or getpass.getuser() or "learner"
        engine = build_engine(settings, bank, store, admins={("shell", name)} if tutor else ())
        shell = Shell(engine, Who("shell", name, display_name=name), out, Path("data") / "files")
        interactive = stdin.isatty()
        if interactive:
            shell.say(f"Revision tutor: {len(bank)} questions in {len(bank.topics)} topics. "
                      "Type /quiz to start, /help for commands, Ctrl-D to leave.\n")
        shell.run(stdin)
        if interactive:
            shell.say("Bye! Your progress is saved.")
    finally:
        store.close()
    return 0
