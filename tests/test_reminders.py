"""Reminders: local times across DST and zones, the sweep's claims, back-off, downtime, concurrency."""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta, timezone

import pytest

from bot.runtime.reminders import ReminderSweeper
from bot.store import Store
from bot.tutor.actions import Answer, Next, Pause, Remind, Resume, SetTimezone, Who
from bot.tutor.engine import Engine
from bot.tutor.replies import Message
from bot.tutor.remind import interval_days, next_fire, parse_time, resolve_timezone

from tests.conftest import Clock
from tests.test_engine import small_bank

UTC = timezone.utc


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


@pytest.mark.parametrize("local,tz,after,expected", [
    # Europe/London spring forward, 29 March 2026 01:00 UTC: 01:30 does not exist -> 02:00 BST
    (time(1, 30), "Europe/London", utc(2026, 3, 28, 12), utc(2026, 3, 29, 1, 0)),
    (time(19, 30), "Europe/London", utc(2026, 3, 28, 20), utc(2026, 3, 29, 18, 30)),  # BST from now on
    (time(19, 30), "Europe/London", utc(2026, 3, 28, 12), utc(2026, 3, 28, 19, 30)),  # still GMT
    # Autumn, 25 October 2026: 01:30 happens twice; fire once, at the first
    (time(1, 30), "Europe/London", utc(2026, 10, 24, 12), utc(2026, 10, 25, 0, 30)),
    (time(1, 30), "Europe/London", utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)),
    (time(19, 30), "Europe/London", utc(2026, 10, 25, 0), utc(2026, 10, 25, 19, 30)),  # GMT again
    # America/New_York: spring forward 8 March 2026 at 02:00 local
    (time(2, 15), "America/New_York", utc(2026, 3, 7, 12), utc(2026, 3, 8, 7, 0)),
    (time(8, 0), "America/New_York", utc(2026, 3, 8, 0), utc(2026, 3, 8, 12, 0)),
    # Asia/Kolkata: +05:30, no DST
    (time(7, 0), "Asia/Kolkata", utc(2026, 6, 1, 0), utc(2026, 6, 1, 1, 30)),
    (time(7, 0), "Asia/Kolkata", utc(2026, 6, 1, 1, 30), utc(2026, 6, 2, 1, 30)),
])
def test_next_fire_across_dst_and_zones(local: time, tz: str, after: datetime, expected: datetime) -> None:
    assert next_fire(local, tz, after) == expected


def test_an_ambiguous_autumn_time_fires_once_over_the_whole_night() -> None:
    fires, after = [], utc(2026, 10, 24, 12)
    for _ in range(3):
        after = next_fire(time(1, 30), "Europe/London", after)
        fires.append(after)
    assert fires == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]


def test_parsing_times_zones_and_backoff() -> None:
    assert parse_time("19:30") == time(19, 30) and parse_time("7.05") == time(7, 5) and parse_time("25:00") is None
    assert resolve_timezone("europe/paris") == ("Europe/Paris", [])
    zone, suggestions = resolve_timezone("Europe/Pariss")
    assert zone is None and "Europe/Paris" in suggestions
    assert [interval_days(n) for n in range(8)] == [1, 1, 1, 2, 2, 7, 7, 7]


ANN = Who("telegram", "1001", "Ann", chat_id=1001)


@pytest.fixture
def engine(store: Store, clock: Clock) -> Engine:
    return Engine(small_bank(), store, clock=clock, new_per_day=3)


def learner_id(store: Store, who: Who = ANN) -> int:
    found = store.find_learner(who.channel, who.external_id)
    assert found is not None
    return found.id


def test_remind_command_sets_a_reminder_in_the_learners_zone(engine: Engine, store: Store, clock: Clock) -> None:
    reply = engine.handle(ANN, Remind("19:30 Asia/Kolkata"))[0]
    assert isinstance(reply, Message) and "19:30" in reply.text
    rem = store.get_reminder(learner_id(store))
    assert rem is not None and rem.timezone == "Asia/Kolkata" and rem.next_fire_at == utc(2026, 3, 2, 14, 0)
    assert "Did you mean Europe/Paris" in engine.handle(ANN, Remind("19:30 Europe/Pariss"))[0].text  # type: ignore[union-attr]
    assert "midnight and 6 a.m." in engine.handle(ANN, Remind("03:00"))[0].text  # type: ignore[union-attr]
    engine.handle(ANN, Remind("off"))
    assert not store.get_reminder(learner_id(store)).enabled  # type: ignore[union-attr]


def test_changing_zone_moves_the_reminder(engine: Engine, store: Store) -> None:
    engine.handle(ANN, Remind("19:30"))
    assert store.get_reminder(learner_id(store)).next_fire_at == utc(2026, 3, 2, 19, 30)  # type: ignore[union-attr]
    engine.handle(ANN, SetTimezone("America/New_York"))
    assert store.get_reminder(learner_id(store)).next_fire_at == utc(2026, 3, 3, 0, 30)  # type: ignore[union-attr]


def test_sweep_queues_due_reminders_once_and_advances_them(engine: Engine, store: Store, clock: Clock) -> None:
    engine.handle(ANN, Remind("19:30"))
    sweeper = ReminderSweeper(store, clock)
    clock.now = utc(2026, 3, 2, 19, 29)
    assert sweeper.sweep() == (0, 0)
    clock.now = utc(2026, 3, 2, 19, 30, 5)
    assert sweeper.sweep() == (1, 0)
    assert sweeper.sweep() == (0, 0)  # never twice
    assert store.get_reminder(learner_id(store)).next_fire_at == utc(2026, 3, 3, 19, 30)  # type: ignore[union-attr]
    items = store.claim_outbox(clock.now, 10, timedelta(minutes=1))
    assert [(i.kind, i.chat_id) for i in items] == [("reminder", 1001)]


@pytest.mark.parametrize("down_for,queued", [(timedelta(minutes=90), 1), (timedelta(hours=3), 0)])
def test_after_downtime_late_reminders_are_sent_once_or_skipped(engine: Engine, store: Store, clock: Clock,
                                                                down_for: timedelta, queued: int) -> None:
    engine.handle(ANN, Remind("19:30"))
    clock.now = utc(2026, 3, 2, 19, 30) + down_for
    assert ReminderSweeper(store, clock).sweep() == (queued, 1 - queued)
    assert store.get_reminder(learner_id(store)).next_fire_at == utc(2026, 3, 3, 19, 30)  # type: ignore[union-attr]


def test_nothing_due_means_no_reminder_text(engine: Engine, store: Store, clock: Clock) -> None:
    lid = learner_id(store) if store.find_learner("telegram", "1001") else engine.learner(ANN).id
    msg = engine.reminder(lid)
    assert msg is not None and "3 new questions" in msg.text and msg.buttons[0][0].action == Next()
    for _ in range(3):  # do today's new questions, all right
        q = [r for r in engine.handle(ANN, Next()) if not isinstance(r, Message)][0].question  # type: ignore[union-attr]
        engine.handle(ANN, Answer(q.model_answer) if not q.is_choice else Answer(str((q.answer or 0) + 1)))
        clock.advance(minutes=11)
        q2 = engine.handle(ANN, Next())  # learning step due again
        for r in q2:
            if not isinstance(r, Message):
                engine.handle(ANN, Answer(r.question.model_answer) if not r.question.is_choice  # type: ignore[union-attr]
                              else Answer(str((r.question.answer or 0) + 1)))  # type: ignore[union-attr]
    clock.advance(minutes=30)
    assert engine.reminder(lid) is None


def test_pause_and_resume(engine: Engine, store: Store, clock: Clock) -> None:
    lid = engine.learner(ANN).id
    engine.handle(ANN, Pause(3))
    assert engine.reminder(lid) is None
    clock.advance(days=3, minutes=1)
    assert engine.reminder(lid) is not None
    engine.handle(ANN, Pause(None))
    assert engine.reminder(lid) is None
    engine.handle(ANN, Resume())
    assert engine.reminder(lid) is not None


def test_backoff_after_three_ignored_reminders_and_recovery(engine: Engine, store: Store, clock: Clock) -> None:
    engine.handle(ANN, Remind("19:30"))
    lid = learner_id(store)
    sweeper = ReminderSweeper(store, clock)
    fired = []
    clock.now = utc(2026, 3, 2, 19, 30)
    for _ in range(6):
        rem = store.get_reminder(lid)
        assert rem is not None
        clock.now = rem.next_fire_at + timedelta(seconds=10)
        text = engine.reminder(lid).text  # type: ignore[union-attr]
        assert sweeper.sweep() == (1, 0)
        store.reminder_sent(lid, clock.now)
        fired.append((clock.now.date().isoformat(), "every other day" in text, "once a week" in text))
    days = [f[0] for f in fired]
    assert days == ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-06", "2026-03-08", "2026-03-15"]
    assert fired[2][1] and fired[4][2]  # the learner is told when it backs off
    engine.handle(ANN, Next())  # any activity restores daily reminders
    rem = store.get_reminder(lid)
    assert rem is not None and rem.ignored == 0
    assert rem.next_fire_at == utc(2026, 3, 16, 19, 30)  # daily again, not a week away


def test_blocked_learners_get_no_reminders_until_they_return(engine: Engine, store: Store, clock: Clock) -> None:
    engine.handle(ANN, Remind("19:30"))
    store.set_active_by_chat("telegram", 1001, False)
    clock.now = utc(2026, 3, 2, 19, 31)
    assert ReminderSweeper(store, clock).sweep() == (0, 1)
    store.set_active_by_chat("telegram", 1001, True)
    clock.now = utc(2026, 3, 3, 19, 31)
    assert ReminderSweeper(store, clock).sweep() == (1, 0)


@pytest.mark.postgres
def test_two_sweepers_on_one_postgresql_database_claim_every_reminder_once(pg_url: str, clock: Clock) -> None:
    from tests.conftest import _truncate

    setup = Store.open(pg_url, migrate=False)
    _truncate(setup)
    eng = Engine(small_bank(), setup, clock=clock)
    for i in range(300):
        eng.handle(Who("telegram", str(5000 + i), chat_id=5000 + i), Remind(f"19:{i % 60:02d}"))
    clock.now = utc(2026, 3, 2, 20, 0, 30)
    stores = [Store.open(pg_url, migrate=False) for _ in range(2)]
    results: list[tuple[int, int]] = []
    barrier = threading.Barrier(4)

    def run(st: Store) -> None:
        sweeper = ReminderSweeper(st, clock)
        barrier.wait()
        for _ in range(5):
            results.append(sweeper.sweep())

    threads = [threading.Thread(target=run, args=(stores[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(q for q, _ in results) == 300
    counts = setup.outbox_counts()
    assert counts == {"waiting": 300}
    items = setup.claim_outbox(clock.now, 1000, timedelta(minutes=1))
    assert len({i.chat_id for i in items}) == 300
    for st in (*stores, setup):
        st.close()
