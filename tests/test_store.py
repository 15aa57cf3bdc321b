"""The store on SQLite and PostgreSQL: learners, cards and the review log, atomicity, erase."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import fsrs
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from bot.store import Store
from bot.store import schema as s
from bot.tutor.actions import Next, PollSent, Who
from bot.tutor.models import Pending, Review

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def new_learner(store: Store, name: str = "ann"):  # type: ignore[no-untyped-def]
    return store.learner("shell", name, now=T0, timezone="Europe/London", new_per_day=10, display_name=name)


def card(n: int, due: datetime = T0) -> fsrs.Card:
    return fsrs.Card(card_id=n, due=due)


def review(lid: int, qid: str, at: datetime, due: datetime, **kw) -> Review:  # type: ignore[no-untyped-def]
    base = dict(learner_id=lid, question_id=qid, topic="kpis", kind="free_text", reviewed_at=at, rating=3,
                score=1.0, hits=("a",), misses=(), answer="an answer", extra=False, card_before=card(1),
                card_after=card(2, due), due_after=due, log=None)
    base.update(kw)
    return Review(**base)  # type: ignore[arg-type]


def test_learner_is_created_once_per_channel_and_id(store: Store) -> None:
    a = new_learner(store)
    again = new_learner(store)
    other = store.learner("telegram", "ann", now=T0, timezone="Europe/London", new_per_day=10)
    assert a.id == again.id and other.id != a.id
    assert store.settings(a.id).timezone == "Europe/London" and store.settings(a.id).topics is None


def test_times_round_trip_as_aware_utc(store: Store) -> None:
    lid = new_learner(store).id
    local = datetime(2026, 7, 1, 20, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    store.record_review(review(lid, "q1", local, local + timedelta(days=1)))
    card = store.card(lid, "q1")
    assert card is not None and card.due == local + timedelta(days=1)
    assert card.due.tzinfo is not None and card.due.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(store: Store) -> None:
    lid = new_learner(store).id
    with pytest.raises(StatementError, match="naive"):
        store.record_review(review(lid, "q1", datetime(2026, 1, 1), T0))


def test_recording_a_review_writes_log_and_card_together(store: Store) -> None:
    lid = new_learner(store).id
    store.set_pending(Pending(lid, "q1", "new", T0))
    rid = store.record_review(review(lid, "q1", T0, T0 + timedelta(days=2)))
    assert store.get_pending(lid) is None
    assert store.get_review(rid).question_id == "q1"
    card = store.card(lid, "q1")
    assert card is not None and card.reviews == 1 and card.introduced_at == T0
    store.record_review(review(lid, "q1", T0 + timedelta(days=2), T0 + timedelta(days=9)))
    card = store.card(lid, "q1")
    assert card is not None and card.reviews == 2 and card.due == T0 + timedelta(days=9)


def test_arriving_reads_the_pending_question_its_card_and_an_open_draft(store: Store) -> None:
    def arrive(at: datetime):  # type: ignore[no-untyped-def]
        return store.arrive("shell", "ann", now=at, timezone="Europe/London", new_per_day=10, display_name="ann")

    first = arrive(T0)
    lid = first.learner.id
    assert (first.pending, first.card, first.drafting, first.backed_off) == (None, None, False, None)
    store.record_review(review(lid, "q1", T0, T0 + timedelta(days=2)))
    store.record_review(review(lid, "q3", T0, T0 + timedelta(days=3)))
    store.set_pending(Pending(lid, "q2", "new", T0))
    now = arrive(T0 + timedelta(minutes=5))
    assert now.pending == Pending(lid, "q2", "new", T0) and now.card is None  # q2 is new to them
    store.set_pending(Pending(lid, "q1", "due", T0 + timedelta(minutes=6)))
    due = arrive(T0 + timedelta(minutes=7))
    assert due.pending is not None and due.pending.question_id == "q1" and due.pending.mode == "due"
    assert due.card is not None and due.card.question_id == "q1" and due.card.due == T0 + timedelta(days=2)
    assert due.card.card == card(2, T0 + timedelta(days=2)) and due.card.reviews == 1
    assert not due.drafting
    cohort = store.create_cohort("C1", lid, "code-c1", T0)
    draft = store.create_broadcast(cohort.id, lid, T0)
    assert arrive(T0 + timedelta(minutes=8)).drafting
    store.cancel_broadcast(draft)
    assert not arrive(T0 + timedelta(minutes=9)).drafting


def test_a_failed_transaction_leaves_neither_log_row_nor_card(store: Store) -> None:
    lid = new_learner(store).id
    bad = review(lid, "q1", T0, T0 + timedelta(days=1), topic=None)  # NOT NULL on cards.topic
    with pytest.raises(IntegrityError):
        store.record_review(bad)
    assert store.reviews(lid) == [] and store.card(lid, "q1") is None


def test_due_order_is_most_overdue_first(store: Store) -> None:
    lid = new_learner(store).id
    for qid, days in (("a", -1), ("b", -3), ("c", 2)):
        store.record_review(review(lid, qid, T0 - timedelta(days=5), T0 + timedelta(days=days)))
    assert store.next_due(lid, T0, None).question_id == "b"  # type: ignore[union-attr]
    assert store.next_due(lid, T0, ["a", "c"]).question_id == "a"  # type: ignore[union-attr]
    assert store.next_due(lid, T0, None, exclude="b").question_id == "a"  # type: ignore[union-attr]
    assert store.due_counts(lid, T0, None) == 2
    assert store.next_due_time(lid, ["c"]) == T0 + timedelta(days=2)


def test_poll_ids_map_back_to_the_pending_question(store: Store) -> None:
    lid = new_learner(store).id
    store.set_pending(Pending(lid, "q9", "new", T0))
    assert store.attach_poll(lid, "q9", "poll-123")
    found = store.pending_by_poll("poll-123")
    assert found is not None and found.learner_id == lid and found.question_id == "q9"
    assert not store.attach_poll(lid, "other", "poll-456")


def test_override_is_recorded_and_moves_the_card(store: Store) -> None:
    lid = new_learner(store).id
    rid = store.record_review(review(lid, "q1", T0, T0 + timedelta(minutes=1), score=0.5, rating=2))
    store.record_override(rid, lid, "q1", card(3), T0 + timedelta(days=3), T0)
    assert store.get_review(rid).overridden
    assert store.card(lid, "q1").due == T0 + timedelta(days=3)  # type: ignore[union-attr]
    assert store.card(lid, "q1").card == card(3)  # type: ignore[union-attr]
    with pytest.raises(IntegrityError):  # only once per review
        store.record_override(rid, lid, "q1", card(4), T0 + timedelta(days=4), T0)


def test_export_holds_every_row_and_forget_erases_from_every_table(store: Store) -> None:
    ann, bob = new_learner(store, "ann"), new_learner(store, "bob")
    for who in (ann, bob):
        rid = store.record_review(review(who.id, "q1", T0, T0 + timedelta(days=1), score=0.0, rating=1))
        store.record_override(rid, who.id, "q1", card(3), T0 + timedelta(days=3), T0)
        store.set_pending(Pending(who.id, "q2", "new", T0))
    exported = store.export(ann.id)
    assert exported["learners"][0]["external_id"] == "ann"
    assert len(exported["reviews"]) == 1 and len(exported["cards"]) == 1 and len(exported["overrides"]) == 1
    assert all(row.get("learner_id", ann.id) == ann.id for rows in exported.values() for row in rows)

    store.forget(ann.id)
    with store.engine.connect() as c:
        for table in s.metadata.sorted_tables:
            cols = [col for col in ("learner_id", "owner_id", "tutor_id") if col in table.c]
            for col in cols:
                left = c.execute(select(table).where(table.c[col] == ann.id)).all()
                assert left == [], f"{table.name}.{col} still holds the learner"
        assert c.execute(select(s.learners).where(s.learners.c.external_id == "ann")).all() == []
        dump = " ".join(str(r) for t in s.metadata.sorted_tables for r in c.execute(select(t)).all())
    assert "'ann'" not in dump
    assert store.reviews(bob.id) and store.card(bob.id, "q1")  # the other learner is untouched


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url: str) -> None:
    st = Store.open(sqlite_url)
    with st.engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    st.close()


def test_migrations_are_idempotent_and_create_every_table(sqlite_url: str) -> None:
    Store.open(sqlite_url).close()
    st = Store.open(sqlite_url)  # second run: nothing to do, no error
    assert set(st.table_names()) >= {t.name for t in s.metadata.sorted_tables} | {"alembic_version"}
    st.close()


def test_cards_and_review_logs_round_trip_as_fsrs_objects(store: Store) -> None:
    lid = new_learner(store).id
    before = card(7, T0)
    after, log = fsrs.Scheduler(enable_fuzzing=False).review_card(before, fsrs.Rating.Good, T0)
    rid = store.record_review(review(lid, "q1", T0, after.due, card_before=before, card_after=after, log=log))
    read = store.get_review(rid)
    assert read.id == rid and read.card_before == before and read.log == log and not read.overridden
    stored = store.card(lid, "q1")
    assert stored is not None and stored.card == after and stored.due == after.due


def test_a_full_telegram_name_of_129_characters_is_stored_cut_to_the_column(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    """Telegram allows 64 + 64 characters of first and last name; the column holds 128."""
    from bot.tutor.engine import Engine
    from bot.tutor.replies import AskQuestion
    from tests.test_engine import small_bank

    full = "A" * 64 + " " + "B" * 64
    engine = Engine(small_bank(), store, clock=clock)
    who = Who("telegram", "4242", full, chat_id=4242)
    assert any(isinstance(r, AskQuestion) for r in engine.handle(who, Next()))
    lid = store.find_learner("telegram", "4242").id  # type: ignore[union-attr]
    assert store.get_learner(lid).display_name == full[:128]
    pending = store.get_pending(lid)
    assert pending is not None
    engine.notice(PollSent(who, pending.question_id, "poll-129"))  # the quiz-poll path read the name again
    assert store.pending_by_poll("poll-129") is not None
    again = store.arrive("telegram", "4242", now=T0, timezone="Europe/London", new_per_day=10,
                         display_name=" \x00" + full + "\x07 ")
    assert again.learner.display_name == full[:128]
    assert store.learner("telegram", "new", now=T0, timezone="Europe/London", new_per_day=10,
                         display_name=full).display_name == full[:128]


def test_the_schema_matches_the_migrations(store: Store) -> None:
    """What `schema.py` declares is exactly what the Alembic migrations built (on both databases)."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        assert compare_metadata(context, s.metadata) == []
