"""Engine runners: the engine in worker processes (as `run_bot` runs it), against a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.config import DEFAULT_CONTENT_DIR, Settings
from bot.store import Store
from bot.tutor.bank import QuestionBank
from bot.tutor.engine import Answer, AskQuestion, Engine, Feedback, Help, Message, Next, Stats, Who
from bot.workers import ProcessRunner, RemoteError, WorkerDied, _portable

ZOE = Who("telegram", "7007", "Zoe", 7007)


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


@pytest.fixture
def db(sqlite_url: str) -> Any:
    store = Store.open(sqlite_url)
    yield store
    store.close()


@pytest_asyncio.fixture
async def runner(db: Store, bank: QuestionBank, sqlite_url: str) -> AsyncIterator[ProcessRunner]:
    engine = Engine(bank, db, clock=lambda: datetime.now(timezone.utc), new_per_day=7,
                    link_base="https://t.me/tutorbot?start=")
    r = ProcessRunner(DEFAULT_CONTENT_DIR, sqlite_url, workers=1)
    await r.start(engine)
    try:
        yield r
    finally:
        await r.close()


async def test_the_engine_runs_in_a_worker_process_on_the_same_database(runner: ProcessRunner, db: Store,
                                                                        bank: QuestionBank) -> None:
    [pid] = runner.pids()
    assert pid != os.getpid()
    replies = await runner.handle(ZOE, Next())
    asked = [r for r in replies if isinstance(r, AskQuestion)]
    assert len(asked) == 1
    learner = db.find_learner("telegram", ZOE.external_id)
    assert learner is not None and learner.display_name == "Zoe"
    assert db.settings(learner.id).new_per_day == 7  # the worker's engine is built like the bot's
    pending = db.get_pending(learner.id)
    assert pending is not None and pending.question_id == asked[0].question.id
    question = bank.get(pending.question_id)
    assert question is not None
    if question.is_choice:
        assert question.answer is not None
        reply = str(question.answer + 1)
    else:
        reply = question.model_answer
    [marked] = await runner.handle(ZOE, Answer(reply))
    assert isinstance(marked, Feedback | Message)
    if isinstance(marked, Feedback):
        assert marked.marking.score == 1.0 and marked.review_id > 0
    assert len(db.reviews(learner.id)) == 1 and db.get_pending(learner.id) is None


async def test_a_worker_that_dies_is_replaced_and_the_next_update_is_handled(runner: ProcessRunner,
                                                                            db: Store) -> None:
    [first] = runner.pids()
    os.kill(first, signal.SIGKILL)
    await until(lambda: runner.pids() != [first])
    [second] = runner.pids()
    assert second != first
    replies = await runner.handle(ZOE, Next())
    assert any(isinstance(r, AskQuestion) for r in replies)


async def test_workers_come_back_once_they_can_start_again(db: Store, bank: QuestionBank, sqlite_url: str,
                                                          tmp_path: Any) -> None:
    content = tmp_path / "content"
    shutil.copytree(DEFAULT_CONTENT_DIR, content)
    r = ProcessRunner(content, sqlite_url, workers=1)
    await r.start(Engine(bank, db, clock=lambda: datetime.now(timezone.utc)))
    try:
        kpis = content / "kpis.yaml"
        good = kpis.read_text(encoding="utf-8")
        kpis.write_text("questions: [", encoding="utf-8")  # a replacement cannot load the bank now
        [first] = r.pids()
        os.kill(first, signal.SIGKILL)
        await until(lambda: r.running() == 0)
        with pytest.raises(WorkerDied):
            await r.handle(ZOE, Next())  # refused, politely upstream, not hung
        kpis.write_text(good, encoding="utf-8")
        replies = await r.handle(ZOE, Next())  # the next call starts a worker again
        assert any(isinstance(x, AskQuestion) for x in replies) and r.pids() != [first]
    finally:
        await r.close()


async def test_a_worker_error_reaches_the_caller_with_the_workers_traceback(runner: ProcessRunner,
                                                                           db: Store) -> None:
    await runner.handle(ZOE, Help())  # the learner exists
    with db.tx() as c:
        c.execute(text("DROP TABLE overrides"))  # the worker's next read of it (for /stats) fails
    with pytest.raises(OperationalError) as raised:
        await runner.handle(ZOE, Stats())
    assert any("Traceback" in note and "engine.py" in note for note in getattr(raised.value, "__notes__", []))
    [help_text, *_] = await runner.handle(ZOE, Help())  # the worker is still serving
    assert isinstance(help_text, Message)


async def test_close_waits_for_calls_in_flight_then_stops_the_workers(db: Store, bank: QuestionBank,
                                                                     sqlite_url: str) -> None:
    engine = Engine(bank, db, clock=lambda: datetime.now(timezone.utc))
    r = ProcessRunner(DEFAULT_CONTENT_DIR, sqlite_url, workers=2)
    await r.start(engine)
    pids = r.pids()
    assert len(set(pids)) == 2
    calls = [asyncio.create_task(r.handle(Who("telegram", str(9000 + i), "L", 9000 + i), Next())) for i in range(6)]
    await asyncio.sleep(0)
    await r.close()
    assert all(any(isinstance(x, AskQuestion) for x in c.result()) for c in calls)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_worker_count_follows_the_settings_cores_and_database() -> None:
    sqlite, pg = Settings(), Settings(database_url="postgresql+psycopg://u@h/db")
    assert sqlite.workers(cpus=1) == 0 and pg.workers(cpus=1) == 0  # one core: threads
    assert sqlite.workers(cpus=8) == 1  # SQLite writes one at a time
    assert pg.workers(cpus=2) == 2 and pg.workers(cpus=4) == 3 and pg.workers(cpus=8) == 4
    assert Settings(engine_workers=0).workers(cpus=8) == 0 and Settings(engine_workers=3).workers(cpus=1) == 3


class _Picky(Exception):
    """An exception whose pickle does not load again (its __init__ wants two arguments)."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(a)
        self.b = b


def test_an_exception_that_would_not_unpickle_in_the_bot_is_sent_as_a_remote_error() -> None:
    plain = ValueError("bad value")
    assert _portable(plain) is plain
    sent = _portable(_Picky("no such table", "x"))
    assert isinstance(sent, RemoteError) and str(sent) == "_Picky: no such table"
