"""GDPR outside the tables (findings 17, 18): the shell's export and chart files go with /forget; the daily
retention job erases inactive learners; /privacy states the retention period."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.app import retention_extension
from bot.channels.telegram import build_application
from bot.config import Settings
from bot.store import Store
from bot.tutor.actions import Privacy, Who
from bot.tutor.bank import QuestionBank
from bot.tutor.engine import Engine
from tests.fakebot import FakeBotAPI, fakebot, running  # noqa: F401
from tests.test_shell import shell


def test_forget_in_the_shell_removes_the_users_export_and_chart_files(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'shell.sqlite3'}"
    files = tmp_path / "data" / "files"
    shell(db, "/quiz\nsomething about customers\n/stats\n/mydata\n", "shell", "--user", "sam", cwd=tmp_path)
    shell(db, "/mydata\n", "shell", "--user", "kim", cwd=tmp_path)
    assert {p.name for p in files.iterdir()} == {"stats-sam.png", "sam-my-revision-data.json",
                                                 "kim-my-revision-data.json"}
    out = shell(db, "/forget\n1\n", "shell", "--user", "sam", cwd=tmp_path)
    assert "everything about you has been erased" in out
    assert {p.name for p in files.iterdir()} == {"kim-my-revision-data.json"}  # only sam's went


def test_privacy_states_the_retention_period(store: Store, bank: QuestionBank, clock: Any) -> None:
    who = Who("shell", "sam")
    [notice] = Engine(bank, store, clock=clock, retention_days=730).handle(who, Privacy())
    assert "730 days" in notice.text and "erased automatically" in notice.text  # type: ignore[union-attr]
    [never] = Engine(bank, store, clock=clock, retention_days=0).handle(who, Privacy())
    assert "days" not in never.text  # type: ignore[union-attr]


async def test_the_daily_job_erases_learners_inactive_for_retention_days(
        fakebot: FakeBotAPI, sqlite_url: str, bank: QuestionBank) -> None:  # noqa: F811
    store = Store.open(sqlite_url)
    try:
        now = datetime.now(timezone.utc)
        for ext, seen in (("old", now - timedelta(days=800)), ("recent", now - timedelta(days=10))):
            store.learner("telegram", ext, now=seen, timezone="Europe/London", new_per_day=10)
            lid = store.find_learner("telegram", ext).id  # type: ignore[union-attr]
            store.touch(lid, seen)
        settings = Settings(telegram_bot_token=fakebot.token, telegram_base_url=fakebot.url, retention_days=730)
        app = build_application(settings, Engine(bank, store, clock=lambda: now),
                                extensions=[retention_extension(settings, store)])
        async with running(app):
            [job] = [j for j in app.job_queue.jobs() if j.name == "retention-purge"]
            assert job.trigger.interval == timedelta(days=1)  # daily
            await job.run(app)
        assert store.find_learner("telegram", "old") is None
        assert store.find_learner("telegram", "recent") is not None
    finally:
        store.close()
