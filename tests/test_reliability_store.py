"""Issue 14, store side, on SQLite and PostgreSQL: GDPR completeness (findings 7, 17, 18) and replica
safety (findings 3, 5, 6, 11): owned outbox leases, a shared send budget, start_broadcast and answers
recorded once across processes, and the durable update inbox (finding 4)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import fsrs
import pytest
from sqlalchemy import func, insert, select, update

from bot.store import Store, retry_backoff
from bot.store import schema as s
from bot.tutor.models import Pending, Review

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def person(store: Store, ext: str, name: str = "", chat: int | None = None, at: datetime = T0) -> int:
    return store.learner("telegram", ext, now=at, timezone="Europe/London", new_per_day=10, display_name=name,
                         chat_id=chat).id


def review(lid: int, qid: str = "q1", answer: str = "an answer") -> Review:
    return Review(learner_id=lid, question_id=qid, topic="kpis", kind="free_text", reviewed_at=T0, rating=3,
                     score=1.0, hits=("a",), misses=(), answer=answer, extra=False, card_before=None,
                     card_after=fsrs.Card(card_id=7, due=T0 + timedelta(days=1)), due_after=T0 + timedelta(days=1))


@pytest.fixture
def twin(store: Store) -> Iterator[Callable[[], Store]]:
    """Open more Stores (engines, owners) on the same database, as other processes would."""
    opened: list[Store] = []

    def make() -> Store:
        st = Store.open(store.engine.url.render_as_string(hide_password=False), migrate=False)
        opened.append(st)
        return st

    yield make
    for st in opened:
        st.close()


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run fn(0..n-1) in n threads released together; returns results (exceptions re-raised)."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            barrier.wait()
            results[k] = fn(k)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# ---------------------------------------------------------------------------------------------- GDPR


def all_rows(store: Store) -> dict[str, list[dict[str, Any]]]:
    with store.engine.connect() as c:
        return {t.name: [dict(r._mapping) for r in c.execute(select(t))] for t in s.metadata.sorted_tables}


ID_COLUMNS = {"learner_id", "tutor_id", "owner_id", "granted_by", "id"}


def traces(store: Store, lid: int, needles: list[str]) -> list[str]:
    """Every cell that still names the person: their ids in id columns, their strings anywhere."""
    found = []
    for table, rows in all_rows(store).items():
        for row in rows:
            for col, value in row.items():
                if col in ID_COLUMNS and value == lid and (col != "id" or table == "learners"):
                    found.append(f"{table}.{col}={value}")
                text = json.dumps(value, default=str)
                found += [f"{table}.{col} has {n!r}" for n in needles if n in text]
    return found


def seed_everything(store: Store) -> dict[str, Any]:
    """A tutor (Tess) granted by an admin (Ada), with a cohort, two broadcasts (one done, one going out),
    a learner (Amira) with every kind of row about her, and a second learner (Ben) as a recipient."""
    ada = person(store, "555001", "Ada Admin", 555001)
    tess = person(store, "777001", "Tess Tutor 07700 900123", 777001)
    amira = person(store, "888001", "Amira Khan", 888001)
    ben = person(store, "999001", "Ben Jones", 999001)
    store.set_role(tess, "tutor", granted_by=ada, now=T0)
    cohort = store.create_cohort("Spring", tess, "code-spring-1", T0)
    for lid in (amira, ben):
        store.join(cohort.id, lid, T0)
    done = store.create_broadcast(cohort.id, tess, T0)
    store.set_broadcast_message(done, 777001, 55, "Hi all, this is Tess Tutor (07700 900123), class moved")
    store.set_progress_message(done, 777001, 56)
    assert store.start_broadcast(done, T0) == 2
    items = store.claim_outbox(T0, 10, timedelta(minutes=1))
    for it in items:
        store.mark_sending(it.id, T0)
        store.finish_outbox(it.id, "sent", T0)
    store.finish_broadcast_if_done(done, T0)
    going = store.create_broadcast(cohort.id, tess, T0)
    store.set_broadcast_message(going, 777001, 57, "Tess again: room 4")
    store.set_progress_message(going, 777001, 58)
    assert store.start_broadcast(going, T0) == 2
    # Amira: cards, reviews, an override, pending, reminder, join attempt, settings, reminder outbox row
    store.set_pending(Pending(amira, "q1", "new", T0))
    rid = store.record_review(review(amira, "q1", answer="Amira's secret answer"))
    store.record_override(rid, amira, "q1", fsrs.Card(card_id=7, due=T0 + timedelta(days=3)), T0 + timedelta(days=3), T0)
    store.set_pending(Pending(amira, "q2", "new", T0, poll_id="poll-amira"))
    store.set_reminder(amira, "19:00", "Europe/London", T0)
    store.note_join_failure(amira, T0)
    store.enqueue([dict(learner_id=amira, chat_id=888001, kind="reminder", payload={"fire_at": T0.isoformat()})], T0)
    store.set_role(amira, "tutor", granted_by=tess, now=T0)
    return dict(ada=ada, tess=tess, amira=amira, ben=ben, cohort=cohort.id, done=done, going=going)


def test_forgetting_a_tutor_leaves_no_column_that_identifies_them(store: Store) -> None:
    ids = seed_everything(store)
    needles = ["777001", "Tess", "07700"]
    assert traces(store, ids["tess"], needles)  # the seed really put them everywhere
    store.forget(ids["tess"], T0)
    assert traces(store, ids["tess"], needles) == []
    with store.engine.connect() as c:
        b = {r.id: r for r in c.execute(select(s.broadcasts))}
        outbox = c.execute(select(s.outbox).where(s.outbox.c.broadcast_id == ids["going"])).all()
        roles = {r.learner_id: r for r in c.execute(select(s.roles))}
    assert b[ids["done"]].status == "done" and b[ids["done"]].summary == ""
    assert b[ids["going"]].status == "cancelled"  # nothing more goes out, no report to the erased tutor
    assert {r.status for r in outbox} == {"cancelled"} and all(r.payload is None for r in outbox)
    assert roles[ids["amira"]].granted_by is None  # the role Tess granted stays, without her
    assert store.cohort(ids["cohort"]).owner_id is None  # type: ignore[union-attr]
    assert [m.id for m in store.members(ids["cohort"])] == [ids["amira"], ids["ben"]]


def test_forgetting_a_learner_leaves_no_column_that_identifies_them(store: Store) -> None:
    ids = seed_everything(store)
    needles = ["888001", "Amira", "poll-amira"]
    assert traces(store, ids["amira"], needles)
    store.forget(ids["amira"], T0)
    assert traces(store, ids["amira"], needles) == []
    assert store.find_learner("telegram", "999001") is not None  # Ben untouched


def test_forgetting_an_admin_clears_granted_by(store: Store) -> None:
    ids = seed_everything(store)
    store.forget(ids["ada"], T0)
    assert traces(store, ids["ada"], ["555001", "Ada Admin"]) == []
    assert store.role(ids["tess"]) == "tutor"


def test_export_includes_the_broadcasts_a_tutor_wrote(store: Store) -> None:
    ids = seed_everything(store)
    data = store.export(ids["tess"])
    written = data["broadcasts_written"]
    assert [b["id"] for b in written] == [ids["done"], ids["going"]]
    assert "07700 900123" in written[0]["summary"] and written[0]["from_chat_id"] == 777001
    assert [r["learner_id"] for r in data["roles_granted"]] == [ids["amira"]]
    json.dumps(data)


def test_poll_votes_from_strangers_create_no_rows(store: Store) -> None:
    kw: dict[str, Any] = dict(now=T0, timezone="Europe/London", new_per_day=10, display_name="Stranger", chat_id=1)
    assert store.arrive_known("telegram", "424242", **kw) is None
    assert store.find_learner("telegram", "424242") is None
    assert all(rows == [] for rows in all_rows(store).values())
    lid = person(store, "424242", "Known")
    arrival = store.arrive_known("telegram", "424242", **kw)
    assert arrival is not None and arrival.learner.id == lid


def test_retention_purges_inactive_learners_only(store: Store) -> None:
    now = T0 + timedelta(days=800)
    old = person(store, "1", "Old", 1, at=T0)  # created, then silent for 800 days
    seen = person(store, "2", "Seen", 2, at=T0)
    store.touch(seen, now - timedelta(days=10))
    fresh = person(store, "3", "Fresh", 3, at=now - timedelta(days=1))
    gone = store.purge_inactive(now, timedelta(days=730))
    assert [g.id for g in gone] == [old]
    assert store.find_learner("telegram", "1") is None
    assert {store.get_learner(seen).id, store.get_learner(fresh).id} == {seen, fresh}


def test_purge_stale_drops_finished_housekeeping_rows(store: Store) -> None:
    lid = person(store, "1", "A", 1)
    store.enqueue([dict(learner_id=lid, chat_id=1, kind="reminder", payload={}) for _ in range(2)], T0)
    items = store.claim_outbox(T0, 1, timedelta(minutes=1))
    store.finish_outbox(items[0].id, "sent", T0)
    store.note_join_failure(lid, T0)
    store.inbox_put(1, "telegram:1", {"update_id": 1}, T0)
    claimed = store.inbox_claim(T0, timedelta(minutes=1))
    store.inbox_done(claimed[0].update_id, T0)
    counts = store.purge_stale(T0 + timedelta(days=31))
    assert counts == {"outbox": 1, "update_inbox": 1, "join_attempts": 1}
    assert store.outbox_pending() == 1  # the row still waiting stays


# ------------------------------------------------------------------------------- replica safety


def test_double_confirm_across_two_processes_queues_a_broadcast_once(store: Store, twin: Callable[[], Store]) -> None:
    tutor = person(store, "t", "T", 10)
    cohort = store.create_cohort("C", tutor, "code-c", T0)
    for k in range(30):
        store.join(cohort.id, person(store, f"m{k}", f"M{k}", 100 + k), T0)
    stores = [twin(), twin()]
    for _ in range(3):
        bid = store.create_broadcast(cohort.id, tutor, T0)
        store.set_broadcast_message(bid, 10, 1, "hello")
        results = race(6, lambda k: stores[k % 2].start_broadcast(bid, T0))
        assert sorted(results, key=lambda r: r or 0) == [None] * 5 + [30]
        assert store.outbox_counts(bid) == {"waiting": 30}


def test_one_pending_answer_is_recorded_once_across_two_processes(store: Store, twin: Callable[[], Store]) -> None:
    lid = person(store, "a", "A", 1)
    stores = [twin(), twin()]
    for qid in ("q1", "q2", "q3"):
        store.set_pending(Pending(lid, qid, "new", T0))
        pending = store.get_pending(lid)
        assert pending is not None
        results = race(6, lambda k: stores[k % 2].record_answer(review(lid, qid), asked_at=pending.asked_at))
        assert len([r for r in results if r is not None]) == 1
        with store.engine.connect() as c:
            n = c.execute(select(func.count()).select_from(s.reviews).where(s.reviews.c.question_id == qid)).scalar_one()
        assert n == 1 and store.card(lid, qid).reviews == 1  # type: ignore[union-attr]
        assert store.get_pending(lid) is None


def test_record_answer_refuses_a_question_asked_again_later(store: Store) -> None:
    lid = person(store, "a", "A", 1)
    store.set_pending(Pending(lid, "q1", "new", T0))
    store.set_pending(Pending(lid, "q1", "extra", T0 + timedelta(minutes=5)))  # asked again
    assert store.record_answer(review(lid), asked_at=T0) is None  # the stale tap
    assert store.get_pending(lid) is not None
    assert store.record_answer(review(lid), asked_at=T0 + timedelta(minutes=5)) is not None


def test_outbox_rows_are_written_only_by_their_owner(store: Store, twin: Callable[[], Store]) -> None:
    a, b = twin(), twin()
    lid = person(store, "a", "A", 1)
    store.enqueue([dict(learner_id=lid, chat_id=1, kind="reminder", payload={})], T0)
    [mine] = a.claim_outbox(T0, 10, timedelta(seconds=30))
    assert mine.owner == a.owner and mine.created_at == T0
    assert b.claim_outbox(T0 + timedelta(seconds=10), 10, timedelta(seconds=30)) == []  # leased
    assert a.renew_outbox([mine.id], T0 + timedelta(seconds=20), timedelta(seconds=30)) == [mine.id]
    assert b.claim_outbox(T0 + timedelta(seconds=40), 10, timedelta(seconds=30)) == []  # renewed: still a's
    [stolen] = b.claim_outbox(T0 + timedelta(seconds=51), 10, timedelta(seconds=30))  # a stalled past its lease
    assert stolen.id == mine.id and stolen.owner == b.owner
    assert a.mark_sending(mine.id, T0 + timedelta(seconds=52)) is False  # a must not send it
    assert a.finish_outbox(mine.id, "sent", T0 + timedelta(seconds=52)) is False
    assert a.retry_outbox(mine.id, T0, T0, count_attempt=True) is False
    assert a.renew_outbox([mine.id], T0, timedelta(seconds=30)) == []
    assert b.mark_sending(stolen.id, T0 + timedelta(seconds=53)) is True
    # mark_sending extended b's lease: nobody can take it while b sends
    assert a.claim_outbox(T0 + timedelta(seconds=82), 10, timedelta(seconds=30)) == []
    assert b.finish_outbox(stolen.id, "sent", T0 + timedelta(seconds=54)) is True
    assert store.outbox_counts() == {"sent": 1}


def test_two_processes_claiming_the_outbox_never_get_the_same_row(store: Store, twin: Callable[[], Store]) -> None:
    lid = person(store, "a", "A", 1)
    store.enqueue([dict(learner_id=lid, chat_id=1, kind="reminder", payload={}) for _ in range(120)], T0)
    stores = [twin(), twin()]

    def claim_all(k: int) -> list[int]:
        got: list[int] = []
        while batch := stores[k % 2].claim_outbox(T0, 7, timedelta(minutes=5)):
            got += [i.id for i in batch]
        return got

    claimed = [i for ids in race(4, claim_all) for i in ids]
    assert len(claimed) == 120 and len(set(claimed)) == 120


def test_send_budget_is_shared_and_paces_every_process_together(store: Store, twin: Callable[[], Store]) -> None:
    stores = [twin(), twin()]
    rate = 25.0
    slots = [t for got in race(6, lambda k: [t for _ in range(10) for t in stores[k % 2].reserve_send_slots(T0, rate)])
             for t in got]
    slots.sort()
    assert len(slots) == 60 and len(set(slots)) == 60
    gaps = [(b - a).total_seconds() for a, b in zip(slots, slots[1:])]
    assert min(gaps) >= 1 / rate - 1e-6
    assert (slots[-1] - slots[0]).total_seconds() >= 59 / rate - 1e-3  # 60 sends take 2.36 s at 25/s, whoever sends


def test_send_budget_batches_within_the_horizon_and_pauses_for_everyone(store: Store, twin: Callable[[], Store]) -> None:
    a, b = twin(), twin()
    got = a.reserve_send_slots(T0, 10.0, count=100, horizon=timedelta(seconds=1))
    assert len(got) == 11 and got[0] == T0
    b.pause_sending(T0 + timedelta(seconds=30), T0)  # a 429 with retry_after=30 seen by b
    assert a.reserve_send_slots(T0 + timedelta(seconds=2), 10.0)[0] == T0 + timedelta(seconds=30)
    b.pause_sending(T0 + timedelta(seconds=5), T0)  # a shorter pause never shortens a longer one
    assert a.reserve_send_slots(T0 + timedelta(seconds=2), 10.0)[0] == T0 + timedelta(seconds=30.1)


# ------------------------------------------------------------------------- outbox time budget (11)


def test_retry_backoff_is_capped_and_ends_with_the_budget() -> None:
    budget = timedelta(hours=2)
    assert retry_backoff(0, T0, T0, budget=budget) == T0 + timedelta(seconds=2)
    assert retry_backoff(3, T0, T0, budget=budget) == T0 + timedelta(seconds=16)
    assert retry_backoff(20, T0, T0 + timedelta(hours=1), budget=budget) == T0 + timedelta(hours=1, minutes=5)
    assert retry_backoff(20, T0, T0 + timedelta(hours=1, minutes=58), budget=budget) == T0 + budget
    assert retry_backoff(20, T0, T0 + budget, budget=budget) is None


def test_a_long_outage_keeps_rows_waiting_until_the_time_budget_is_spent(store: Store) -> None:
    lid = person(store, "a", "A", 1)
    store.enqueue([dict(learner_id=lid, chat_id=1, kind="reminder", payload={})], T0)
    now, tries, budget = T0, 0, timedelta(hours=1)
    while True:
        items = store.claim_outbox(now, 10, timedelta(seconds=30))
        if not items:
            assert store.outbox_counts() == {"failed": 1}
            break
        [item] = items
        assert item.first_failure_at == (None if tries == 0 else T0)
        tries += 1
        nxt = store.retry_outbox_within(item.id, now, budget=budget, error="502 Bad Gateway")
        if nxt is None:
            continue
        assert nxt > now and store.outbox_counts() == {"waiting": 1}
        if now - T0 < timedelta(minutes=59):  # a 60 s outage is nowhere near giving up
            assert nxt - now <= timedelta(minutes=5)
        now = nxt
    assert now - T0 >= budget - timedelta(minutes=5) and 15 <= tries <= 30
    with store.engine.connect() as c:
        row = c.execute(select(s.outbox)).one()
    assert row.first_failure_at == T0 and row.error == "502 Bad Gateway"


def test_a_success_after_an_outage_is_sent_once(store: Store) -> None:
    lid = person(store, "a", "A", 1)
    store.enqueue([dict(learner_id=lid, chat_id=1, kind="reminder", payload={})], T0)
    [item] = store.claim_outbox(T0, 10, timedelta(seconds=30))
    nxt = store.retry_outbox_within(item.id, T0, budget=timedelta(hours=2))
    assert nxt is not None
    assert store.claim_outbox(T0, 10, timedelta(seconds=30)) == []  # not before its back-off
    [item] = store.claim_outbox(nxt, 10, timedelta(seconds=30))
    assert store.mark_sending(item.id, nxt) and store.finish_outbox(item.id, "sent", nxt)
    assert store.outbox_counts() == {"sent": 1}


# --------------------------------------------------------------------------- durable inbox (4)


def test_inbox_stores_each_update_once_and_ignores_redeliveries(store: Store) -> None:
    assert store.inbox_put(100, "telegram:1", {"update_id": 100, "message": {"text": "hi"}}, T0) is True
    assert store.inbox_put(100, "telegram:1", {"update_id": 100}, T0) is False
    [item] = store.inbox_claim(T0, timedelta(minutes=1))
    assert item.update_id == 100 and item.payload == {"update_id": 100, "message": {"text": "hi"}}
    assert item.attempts == 1 and item.owner == store.owner
    assert store.inbox_done(100, T0) is True
    assert store.inbox_put(100, "telegram:1", {"update_id": 100}, T0) is False  # redelivered after done
    assert store.inbox_unfinished() == [] and store.inbox_max_update_id() == 100
    with store.engine.connect() as c:
        row = c.execute(select(s.update_inbox)).one()
    assert row.payload is None and row.chat_key == ""  # the tombstone holds nothing personal


def test_inbox_hands_out_one_update_per_chat_in_order(store: Store) -> None:
    for uid, key in [(1, "a"), (2, "b"), (3, "a"), (4, "a"), (5, "c"), (6, "b")]:
        store.inbox_put(uid, key, {"update_id": uid}, T0)
    lease = timedelta(minutes=1)
    assert [i.update_id for i in store.inbox_claim(T0, lease)] == [1, 2, 5]
    assert store.inbox_claim(T0, lease) == []  # each chat's head is in flight
    store.inbox_done(1, T0)
    assert [i.update_id for i in store.inbox_claim(T0, lease)] == [3]
    assert store.inbox_release(3, T0, retry_at=T0 + timedelta(seconds=10)) is True  # failed: retry in 10 s
    assert [i.update_id for i in store.inbox_claim(T0 + timedelta(seconds=5), lease)] == []  # 4 waits behind 3
    [again] = store.inbox_claim(T0 + timedelta(seconds=11), lease)
    assert again.update_id == 3 and again.attempts == 2
    assert [i.update_id for i in store.inbox_unfinished()] == [2, 3, 4, 5, 6]


def test_inbox_replays_an_expired_claim_after_a_crash(store: Store, twin: Callable[[], Store]) -> None:
    crashed, restarted = twin(), twin()
    crashed.inbox_put(7, "telegram:1", {"update_id": 7}, T0)
    [item] = crashed.inbox_claim(T0, timedelta(seconds=30))
    assert restarted.inbox_claim(T0 + timedelta(seconds=10), timedelta(seconds=30)) == []
    assert crashed.inbox_renew([7], T0 + timedelta(seconds=20), timedelta(seconds=30)) == [7]
    [replayed] = restarted.inbox_claim(T0 + timedelta(seconds=51), timedelta(seconds=30))
    assert replayed.update_id == 7 and replayed.owner == restarted.owner
    assert crashed.inbox_done(7, T0 + timedelta(seconds=52)) is False  # not the crashed process's any more
    assert restarted.inbox_done(7, T0 + timedelta(seconds=52)) is True


def test_two_processes_draining_the_inbox_never_share_an_update_and_keep_each_chat_in_order(
        store: Store, twin: Callable[[], Store]) -> None:
    chats = 6
    for uid in range(1, 121):
        store.inbox_put(uid, f"telegram:{uid % chats}", {"update_id": uid}, T0)
    stores = [twin(), twin()]
    lock = threading.Lock()
    in_flight: set[str] = set()
    processed: list[tuple[str, int]] = []
    clashes: list[str] = []

    def drain(k: int) -> None:
        st = stores[k % 2]
        idle = 0
        while idle < 3:
            batch = st.inbox_claim(datetime.now(timezone.utc), timedelta(minutes=5), limit=3)
            if not batch:
                idle += 1
                threading.Event().wait(0.02)
                continue
            idle = 0
            for item in batch:
                with lock:
                    if item.chat_key in in_flight:
                        clashes.append(item.chat_key)
                    in_flight.add(item.chat_key)
                    processed.append((item.chat_key, item.update_id))
                with lock:
                    in_flight.discard(item.chat_key)
                assert st.inbox_done(item.update_id, datetime.now(timezone.utc))

    race(4, drain)
    assert clashes == []
    ids = [u for _, u in processed]
    assert sorted(ids) == list(range(1, 121))  # every update once
    for chat in range(chats):
        mine = [u for key, u in processed if key == f"telegram:{chat}"]
        assert mine == sorted(mine)
    assert store.inbox_unfinished() == []
