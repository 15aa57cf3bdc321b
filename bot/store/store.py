"""The store: the only module that speaks SQL (SQLAlchemy Core 2.x).

SQLite by default (a file, WAL, a busy timeout), PostgreSQL when the URL says so. The API
is synchronous and thread-safe; the Telegram channel calls it through `asyncio.to_thread`
so a query never blocks the event loop (SQLite's async drivers are a thread underneath
anyway, and one code path serves the bot, the shell and the benchmarks).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import replace
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone as _tz
from pathlib import Path
from typing import Any

import fsrs
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.errors import NotFound, StoreError
from bot.store import schema as s
from bot.store.marking import COUNTED_OVERRIDE, MarkingTables
from bot.store.records import ClaimedOutboxItem, InboxItem, retry_backoff
from bot.tutor.models import (
    Arrival, Broadcast, CardRow, Cohort, Learner, LearnerSettings, OutboxItem, Pending, Reminder, Review,
)

__all__ = ["Store", "migrate"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migrate(engine: Engine) -> None:
    """Bring the schema up to date with Alembic (idempotent).

    SQLite: foreign keys are off while migrating, since a table rebuild (batch mode) drops the old
    table and a DROP with ON DELETE CASCADE would empty every child table; they are checked
    afterwards. PostgreSQL: no statement timeout for the migration itself.
    """
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # outside any transaction: PRAGMA foreign_keys is a no-op inside one
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                if not sqlite:
                    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                    conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise StoreError(f"migration left {len(broken)} rows with broken foreign keys")
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


_migrate = migrate  # `Store.open` has a parameter of that name


def _make_engine(url: str, *, connect_timeout: float = 5.0, statement_timeout: float = 15.0,
                 lock_timeout: float = 5.0, busy_timeout: float = 30.0) -> Engine:
    """An engine that never waits forever, and whose errors never carry SQL parameters.

    `hide_parameters`: a failed statement's message would otherwise include its parameters
    (display names, chat ids, answers) and end up in the logs.
    PostgreSQL: connect, statement, lock and idle-in-transaction timeouts, TCP keepalives and
    a TCP user timeout (a dead peer is noticed in about half a minute), and a ping before each
    checkout so the pool recovers when the database comes back.
    SQLite: a busy timeout instead (one writer at a time), and secure_delete so erased rows do
    not linger in free pages.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, hide_parameters=True,
                               connect_args={"check_same_thread": False, "timeout": busy_timeout})
        busy_ms = max(1, int(busy_timeout * 1000))

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN; we emit it ourselves below.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Claims take the write lock up front so two processes never read the same rows.
            options = conn.get_execution_options()
            if options.get("read"):
                return  # autocommit reads: no transaction to open or roll back
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("claim") else "BEGIN")

        return engine
    options = (f"-c statement_timeout={int(statement_timeout * 1000)} -c lock_timeout={int(lock_timeout * 1000)}"
               f" -c idle_in_transaction_session_timeout={int(max(60.0, 4 * statement_timeout) * 1000)}")
    connect_args = {
        "connect_timeout": max(2, round(connect_timeout)),  # libpq: whole seconds, 2 at least
        "options": options,
        "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
        "tcp_user_timeout": int((connect_timeout + statement_timeout + 10) * 1000),
    }
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True,
                         pool_timeout=connect_timeout + statement_timeout, connect_args=connect_args)


# Statements on the answer path, built once (building a statement costs more than running it).
# Arriving reads the learner with everything answering needs: the pending question, their
# card for it, whether a broadcast draft of theirs waits for its message, and the reminder back-off.
_ARRIVE = (select(s.learners, s.reminders.c.ignored.label("rem_ignored"),
                  *(c.label(f"p_{c.name}") for c in s.pending.c if c.name != "learner_id"),
                  *(c.label(f"c_{c.name}") for c in s.cards.c if c.name not in ("learner_id", "question_id")),
                  select(s.broadcasts.c.id).where(s.broadcasts.c.tutor_id == s.learners.c.id,
                                                  s.broadcasts.c.status == "draft").exists().label("drafting"))
           .outerjoin(s.reminders, s.reminders.c.learner_id == s.learners.c.id)
           .outerjoin(s.pending, s.pending.c.learner_id == s.learners.c.id)
           .outerjoin(s.cards, and_(s.cards.c.learner_id == s.learners.c.id,
                                    s.cards.c.question_id == s.pending.c.question_id))
           .where(s.learners.c.channel == bindparam("channel"), s.learners.c.external_id == bindparam("ext")))
_GET_PENDING = select(s.pending).where(s.pending.c.learner_id == bindparam("lid"))
_GET_CARD = select(s.cards).where(s.cards.c.learner_id == bindparam("lid"), s.cards.c.question_id == bindparam("qid"))
_OPEN_DRAFT = (select(s.broadcasts).where(s.broadcasts.c.tutor_id == bindparam("lid"), s.broadcasts.c.status == "draft")
               .order_by(s.broadcasts.c.id.desc()))
_INSERT_REVIEW = insert(s.reviews).returning(s.reviews.c.id)


def _upsert_card(dialect_insert: Any) -> Any:
    """Insert the learner's card for a question, or move it on (one statement either way)."""
    stmt = dialect_insert(s.cards)
    return stmt.on_conflict_do_update(
        index_elements=[s.cards.c.learner_id, s.cards.c.question_id],
        set_={"reviews": s.cards.c.reviews + 1, "card": stmt.excluded.card, "due": stmt.excluded.due,
              "topic": stmt.excluded.topic})


_UPSERT_CARD = {"sqlite": _upsert_card(sqlite_insert), "postgresql": _upsert_card(postgresql_insert)}
_DELETE_PENDING = delete(s.pending).where(s.pending.c.learner_id == bindparam("lid"))
_MARK_SENDING = (update(s.outbox).where(s.outbox.c.id == bindparam("oid"), s.outbox.c.owner == bindparam("own"),
                                        s.outbox.c.status.in_(["claimed", "sending"]))
                 .values(status="sending", updated_at=bindparam("now"), claimed_until=bindparam("until")))
# Both dialects' `insert` has `on_conflict_do_nothing`; the generic `Insert` type does not.
_INSERT_DO_NOTHING: dict[str, Any] = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
_OPEN_OUTBOX = ("waiting", "claimed", "sending")


def _new_owner() -> str:
    """A token naming this Store instance in claims: host, pid and a random part (at most 40 chars)."""
    return f"{socket.gethostname()[:20]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:40]


def _inbox_item(row: Any) -> InboxItem:
    return InboxItem(row.id, row.update_id, row.chat_key, row.payload, row.received_at, row.state, row.owner,
                     row.claimed_until, row.attempts)


NAME_MAX = 128  # learners.display_name is a VARCHAR(128)
_CONTROL = dict.fromkeys([*range(32), 0x7F])


def _display_name(raw: str) -> str:
    """A learner's name as stored: no control characters, spaces collapsed, at most NAME_MAX characters.

    Telegram allows a 64-character first name and a 64-character last name, so a full name can
    be 129 characters; PostgreSQL refuses what does not fit the column.
    """
    return " ".join(raw.translate(_CONTROL).split())[:NAME_MAX]


def _card_json(card: fsrs.Card | None) -> dict[str, Any] | None:
    return dict(card.to_dict()) if card is not None else None


def _card_of(value: Any) -> fsrs.Card | None:
    return fsrs.Card.from_dict(value) if value is not None else None


def _learner(row: Any) -> Learner:
    return Learner(row.id, row.channel, row.external_id, row.display_name, row.chat_id,
                   row.created_at, row.last_active_at, bool(row.active))


def _card(row: Any) -> CardRow:
    return CardRow(row.learner_id, row.question_id, row.topic, fsrs.Card.from_dict(row.card), row.due,
                   row.introduced_at, row.reviews)


def _reminder(row: Any) -> Reminder:
    return Reminder(row.learner_id, row.local_time, row.timezone, row.next_fire_at, bool(row.enabled), row.ignored,
                    row.last_sent_at)


def _cohort(row: Any) -> Cohort:
    return Cohort(row.id, row.name, row.owner_id, row.join_code, row.created_at, row.closed_at, int(row.members),
                  row.exam_date)


def _broadcast(row: Any) -> Broadcast:
    return Broadcast(row.id, row.cohort_id, row.tutor_id, row.status, row.from_chat_id, row.message_id, row.summary,
                     row.progress_chat_id, row.progress_message_id, row.created_at, row.finished_at)


def _review(row: Any, overridden: bool = False) -> Review:
    return Review(row.learner_id, row.question_id, row.topic, row.kind, row.reviewed_at, row.rating, row.score,
                  tuple(row.hits), tuple(row.misses), row.answer, bool(row.extra), _card_of(row.card_before),
                  row.due_after, log=fsrs.ReviewLog.from_dict(row.log) if row.log else None, id=row.id,
                  overridden=overridden)


def _pending(row: Any) -> Pending:
    return Pending(row.learner_id, row.question_id, row.mode, row.asked_at, row.poll_id)


class Store(MarkingTables):
    """Persistence for learners, cards, the review log and settings (and later issues' tables)."""

    def __init__(self, engine: Engine, owner: str | None = None) -> None:
        self.engine = engine
        self.owner = owner or _new_owner()  # default owner of this instance's outbox and inbox claims
        self._lease = timedelta(seconds=30)  # the last outbox lease asked for (mark_sending extends by it)
        self._upsert_card = _UPSERT_CARD[engine.dialect.name]
        self._read_options = {"read": True} if engine.dialect.name == "sqlite" else {"isolation_level": "AUTOCOMMIT"}

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, connect_timeout: float = 5.0, statement_timeout: float = 15.0,
             lock_timeout: float = 5.0, busy_timeout: float = 30.0) -> Store:
        """Open (and by default migrate) the database at `url`; timeouts in seconds (`Settings.store_options()`).

        Without migrating nothing connects yet (engine workers start without touching the
        database); the first query then fails within `connect_timeout` if the database is silent.
        """
        engine = _make_engine(url, connect_timeout=connect_timeout, statement_timeout=statement_timeout,
                              lock_timeout=lock_timeout, busy_timeout=busy_timeout)
        try:
            if migrate:
                _migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            raise StoreError(f"cannot open the database: {exc.orig}") from exc
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reads outside a transaction: each SELECT sees committed data, and there
        is no BEGIN (SQLite) or ROLLBACK round trip (PostgreSQL, in autocommit) to pay for it."""
        with self.engine.connect() as conn:
            yield conn.execution_options(**self._read_options)

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def claim_tx(self) -> Iterator[Connection]:
        """A transaction for claiming rows: BEGIN IMMEDIATE on SQLite; use FOR UPDATE SKIP LOCKED."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(claim=True)
            with conn.begin():
                yield conn

    # ------------------------------------------------------------------ learners

    def learner(self, channel: str, external_id: str, *, now: datetime, timezone: str, new_per_day: int,
                display_name: str = "", chat_id: int | None = None) -> Learner:
        """Get the learner for (channel, external id), creating them (and their settings) if new.

        As `arrive`, but it is not the learner's activity: their last-seen time and reminder stay.
        """
        return self.arrive(channel, external_id, now=now, timezone=timezone, new_per_day=new_per_day,
                           display_name=display_name, chat_id=chat_id, activity=False).learner

    def arrive(self, channel: str, external_id: str, *, now: datetime, timezone: str, new_per_day: int,
               display_name: str = "", chat_id: int | None = None,
               quiet: timedelta = timedelta(minutes=1), activity: bool = True) -> Arrival:
        """A learner acts: get or create them, record the activity and read what answering needs, cheaply.

        The one get-or-create path. One read in the common case (the learner, their pending
        question and its card, an open broadcast draft, the reminder back-off); a new or changed
        name or chat is written, `last_active_at` at most once a `quiet` period, and the back-off
        is reset only when there was one (with `activity=False`, neither).
        """
        name = _display_name(display_name)
        with self._read() as c:
            row = c.execute(_ARRIVE, {"channel": channel, "ext": external_id}).first()
        if row is None:
            self._create_learner(channel, external_id, now=now, timezone=timezone, new_per_day=new_per_day,
                                 display_name=name, chat_id=chat_id, active_at=now if activity else None)
            with self._read() as c:
                row = c.execute(_ARRIVE, {"channel": channel, "ext": external_id}).first()
            assert row is not None
        learner = _learner(row)
        changes: dict[str, Any] = {}
        if name and name != learner.display_name:
            changes["display_name"] = name
        if chat_id is not None and chat_id != learner.chat_id:
            changes["chat_id"] = chat_id
        if activity and (not learner.active or learner.last_active_at is None
                         or now - learner.last_active_at >= quiet):
            changes.update(last_active_at=now, active=True)
        backed_off: Reminder | None = None
        reset = activity and bool(row.rem_ignored)
        if changes or reset:
            with self.tx() as c:
                if changes:
                    c.execute(update(s.learners).where(s.learners.c.id == learner.id).values(**changes))
                if reset:
                    rem = c.execute(select(s.reminders).where(s.reminders.c.learner_id == learner.id)).first()
                    backed_off = _reminder(rem) if rem else None
                    c.execute(update(s.reminders).where(s.reminders.c.learner_id == learner.id).values(ignored=0))
            learner = replace(learner, **changes)
        pending = card = None
        if row.p_question_id is not None:
            pending = Pending(learner.id, row.p_question_id, row.p_mode, row.p_asked_at, row.p_poll_id)
            if row.c_card is not None:
                card = CardRow(learner.id, row.p_question_id, row.c_topic, fsrs.Card.from_dict(row.c_card), row.c_due,
                               row.c_introduced_at, row.c_reviews)
        return Arrival(learner, pending, card, bool(row.drafting), backed_off)

    def arrive_known(self, channel: str, external_id: str, *, now: datetime, timezone: str, new_per_day: int,
                     display_name: str = "", chat_id: int | None = None,
                     quiet: timedelta = timedelta(minutes=1)) -> Arrival | None:
        """`arrive` for someone who already uses the bot; None (and nothing written) for a stranger.

        For quiz-poll votes in groups: a member who never started the bot gets no rows.
        """
        if self.find_learner(channel, external_id) is None:
            return None
        return self.arrive(channel, external_id, now=now, timezone=timezone, new_per_day=new_per_day,
                           display_name=display_name, chat_id=chat_id, quiet=quiet)

    def _create_learner(self, channel: str, external_id: str, *, now: datetime, timezone: str, new_per_day: int,
                        display_name: str, chat_id: int | None, active_at: datetime | None) -> None:
        try:
            with self.tx() as c:
                lid = c.execute(insert(s.learners).values(
                    channel=channel, external_id=external_id, display_name=display_name, chat_id=chat_id,
                    created_at=now, last_active_at=active_at, active=True).returning(s.learners.c.id)).scalar_one()
                c.execute(insert(s.learner_settings).values(
                    learner_id=lid, timezone=timezone, new_per_day=new_per_day, topics=None))
        except IntegrityError:  # created concurrently by another update: use theirs
            pass

    def find_learner(self, channel: str, external_id: str) -> Learner | None:
        with self._read() as c:
            row = c.execute(select(s.learners).where(
                s.learners.c.channel == channel, s.learners.c.external_id == external_id)).first()
        return _learner(row) if row else None

    def get_learner(self, learner_id: int) -> Learner:
        with self._read() as c:
            row = c.execute(select(s.learners).where(s.learners.c.id == learner_id)).first()
        if row is None:
            raise NotFound(f"learner {learner_id}")
        return _learner(row)

    def touch(self, learner_id: int, now: datetime) -> Reminder | None:
        """Record activity: last seen, active again, reminder back-off reset.

        Returns the reminder as it was if it had backed off (so the caller can bring it forward).
        """
        with self.tx() as c:
            c.execute(update(s.learners).where(s.learners.c.id == learner_id).values(last_active_at=now, active=True))
            row = c.execute(select(s.reminders).where(s.reminders.c.learner_id == learner_id,
                                                      s.reminders.c.ignored > 0)).first()
            if row is not None:
                c.execute(update(s.reminders).where(s.reminders.c.learner_id == learner_id).values(ignored=0))
        return _reminder(row) if row else None

    def set_active(self, learner_id: int, active: bool) -> None:
        with self.tx() as c:
            c.execute(update(s.learners).where(s.learners.c.id == learner_id).values(active=active))

    def set_active_by_chat(self, channel: str, chat_id: int, active: bool) -> int:
        with self.tx() as c:
            return c.execute(update(s.learners).where(
                s.learners.c.channel == channel, s.learners.c.chat_id == chat_id).values(active=active)).rowcount

    def settings(self, learner_id: int) -> LearnerSettings:
        with self._read() as c:
            row = c.execute(select(s.learner_settings).where(s.learner_settings.c.learner_id == learner_id)).first()
        if row is None:
            raise NotFound(f"settings of learner {learner_id}")
        return LearnerSettings(row.timezone, row.new_per_day, tuple(row.topics) if row.topics is not None else None,
                               row.paused_until, row.exam_date)

    def update_settings(self, learner_id: int, **values: Any) -> None:
        if "topics" in values and values["topics"] is not None:
            values["topics"] = list(values["topics"])
        with self.tx() as c:
            c.execute(update(s.learner_settings).where(s.learner_settings.c.learner_id == learner_id).values(**values))

    # ------------------------------------------------------------------ cards

    def cards(self, learner_id: int) -> list[CardRow]:
        with self._read() as c:
            rows = c.execute(select(s.cards).where(s.cards.c.learner_id == learner_id)).all()
        return [_card(r) for r in rows]

    def card(self, learner_id: int, question_id: str) -> CardRow | None:
        with self._read() as c:
            row = c.execute(_GET_CARD, {"lid": learner_id, "qid": question_id}).first()
        return _card(row) if row else None

    def next_due(self, learner_id: int, now: datetime, question_ids: Sequence[str] | None,
                 exclude: str | None = None) -> CardRow | None:
        """The most overdue card due at `now`, among `question_ids` (None: any)."""
        q = select(s.cards).where(s.cards.c.learner_id == learner_id, s.cards.c.due <= now)
        if question_ids is not None:
            q = q.where(s.cards.c.question_id.in_(list(question_ids)))
        if exclude is not None:
            q = q.where(s.cards.c.question_id != exclude)
        with self._read() as c:
            row = c.execute(q.order_by(s.cards.c.due, s.cards.c.question_id).limit(1)).first()
        return _card(row) if row else None

    def due_counts(self, learner_id: int, until: datetime, question_ids: Sequence[str] | None) -> int:
        q = select(func.count()).select_from(s.cards).where(s.cards.c.learner_id == learner_id, s.cards.c.due <= until)
        if question_ids is not None:
            q = q.where(s.cards.c.question_id.in_(list(question_ids)))
        with self._read() as c:
            return int(c.execute(q).scalar_one())

    def next_due_time(self, learner_id: int, question_ids: Sequence[str] | None) -> datetime | None:
        q = select(func.min(s.cards.c.due)).where(s.cards.c.learner_id == learner_id)
        if question_ids is not None:
            q = q.where(s.cards.c.question_id.in_(list(question_ids)))
        with self._read() as c:
            value = c.execute(q).scalar_one()
        return value  # type: ignore[no-any-return]

    def introduced_count(self, learner_id: int, start: datetime, end: datetime) -> int:
        with self._read() as c:
            return int(c.execute(select(func.count()).select_from(s.cards).where(
                s.cards.c.learner_id == learner_id, s.cards.c.introduced_at >= start,
                s.cards.c.introduced_at < end)).scalar_one())

    def seen_questions(self, learner_id: int) -> dict[str, str]:
        """question id -> topic for every card the learner has."""
        with self._read() as c:
            return dict(c.execute(select(s.cards.c.question_id, s.cards.c.topic).where(
                s.cards.c.learner_id == learner_id)).all())

    def introduced_order(self, learner_id: int) -> list[str]:
        """The learner's question ids in the order they first answered them (oldest first)."""
        first = func.min(s.reviews.c.id)
        with self._read() as c:
            return [r[0] for r in c.execute(select(s.reviews.c.question_id).where(s.reviews.c.learner_id == learner_id)
                                            .group_by(s.reviews.c.question_id).order_by(first)).all()]

    # ------------------------------------------------------------------ reviews

    def _write_review(self, c: Connection, r: Review) -> int:
        """Append the review and, unless it was extra practice, upsert its card (inside `c`'s transaction)."""
        rid = c.execute(_INSERT_REVIEW, dict(
            learner_id=r.learner_id, question_id=r.question_id, topic=r.topic, kind=r.kind,
            reviewed_at=r.reviewed_at, rating=r.rating, score=r.score, hits=list(r.hits),
            misses=list(r.misses), answer=r.answer, extra=r.extra, card_before=_card_json(r.card_before),
            due_after=r.due_after, log=dict(r.log.to_dict()) if r.log is not None else None)).scalar_one()
        if r.card_after is not None and r.due_after is not None:
            c.execute(self._upsert_card, dict(learner_id=r.learner_id, question_id=r.question_id, topic=r.topic,
                                              card=_card_json(r.card_after), due=r.due_after, introduced_at=r.reviewed_at,
                                              reviews=1))
        return int(rid)

    def record_review(self, r: Review) -> int:
        """Append the review and write the new card state in one transaction; clear the pending question."""
        with self.tx() as c:
            rid = self._write_review(c, r)
            c.execute(_DELETE_PENDING, {"lid": r.learner_id})
        return rid

    def record_answer(self, r: Review, *, asked_at: datetime | None = None) -> int | None:
        """Record an answer to the learner's pending question, at most once (several processes).

        The pending question (`r.question_id`, and `asked_at` when given: the same question asked
        again later is another question) is deleted first in the write transaction; only if this
        call deleted it are the review and card written. Returns the review id, or None when the
        question was already answered (a double tap that reached two replicas, a redelivery).
        """
        cond = [s.pending.c.learner_id == r.learner_id, s.pending.c.question_id == r.question_id]
        if asked_at is not None:
            cond.append(s.pending.c.asked_at == asked_at)
        with self.claim_tx() as c:
            if not c.execute(delete(s.pending).where(*cond)).rowcount:
                return None
            return self._write_review(c, r)

    def get_review(self, review_id: int) -> Review:
        with self._read() as c:
            row = c.execute(select(s.reviews).where(s.reviews.c.id == review_id)).first()
            if row is None:
                raise NotFound(f"review {review_id}")
            overridden = c.execute(select(s.overrides.c.id).where(s.overrides.c.review_id == review_id,
                                                                  COUNTED_OVERRIDE)).first()
        return _review(row, overridden is not None)

    def latest_review_id(self, learner_id: int, question_id: str) -> int | None:
        with self._read() as c:
            return c.execute(select(func.max(s.reviews.c.id)).where(
                s.reviews.c.learner_id == learner_id, s.reviews.c.question_id == question_id,
                s.reviews.c.extra.is_(False))).scalar_one()

    def reviews(self, learner_id: int, since: datetime | None = None) -> list[Review]:
        q = select(s.reviews, s.overrides.c.id.label("override_id")).outerjoin(
            s.overrides, and_(s.overrides.c.review_id == s.reviews.c.id, COUNTED_OVERRIDE)).where(s.reviews.c.learner_id == learner_id)
        if since is not None:
            q = q.where(s.reviews.c.reviewed_at >= since)
        with self._read() as c:
            rows = c.execute(q.order_by(s.reviews.c.id)).all()
        return [_review(r, r.override_id is not None) for r in rows]

    def record_override(self, review_id: int, learner_id: int, question_id: str, card_after: fsrs.Card,
                        due_after: datetime, now: datetime) -> bool:
        """Re-rate a review Good: the card takes the new state, the override is kept for tutors.

        A review the grader doubted ("maybe", still undecided) becomes the learner's claim; one
        already claimed (even if a tutor rejected it) is not claimed again: False, nothing changes.
        """
        o = s.overrides
        with self.tx() as c:
            if not c.execute(update(o).where(o.c.review_id == review_id, o.c.kind == "maybe", o.c.status == "pending")
                             .values(kind="claim", created_at=now)).rowcount:
                if c.execute(_INSERT_DO_NOTHING[self.dialect](o).values(
                        review_id=review_id, learner_id=learner_id, question_id=question_id, created_at=now)
                        .on_conflict_do_nothing(index_elements=[o.c.review_id]).returning(o.c.id)).first() is None:
                    return False
            c.execute(update(s.cards).where(s.cards.c.learner_id == learner_id,
                                            s.cards.c.question_id == question_id).values(card=_card_json(card_after),
                                                                                        due=due_after))
        return True

    # ------------------------------------------------------------------ pending question

    def set_pending(self, p: Pending) -> None:
        with self.tx() as c:
            c.execute(delete(s.pending).where(s.pending.c.learner_id == p.learner_id))
            c.execute(insert(s.pending).values(learner_id=p.learner_id, question_id=p.question_id,
                                               mode=p.mode, asked_at=p.asked_at, poll_id=p.poll_id))

    def get_pending(self, learner_id: int) -> Pending | None:
        with self._read() as c:
            row = c.execute(_GET_PENDING, {"lid": learner_id}).first()
        return _pending(row) if row else None

    def pending_by_poll(self, poll_id: str) -> Pending | None:
        with self._read() as c:
            row = c.execute(select(s.pending).where(s.pending.c.poll_id == poll_id)).first()
        return _pending(row) if row else None

    def attach_poll(self, learner_id: int, question_id: str, poll_id: str) -> bool:
        with self.tx() as c:
            return bool(c.execute(update(s.pending).where(
                s.pending.c.learner_id == learner_id, s.pending.c.question_id == question_id).values(poll_id=poll_id)).rowcount)

    def clear_pending(self, learner_id: int) -> None:
        with self.tx() as c:
            c.execute(delete(s.pending).where(s.pending.c.learner_id == learner_id))

    # ------------------------------------------------------------------ data rights

    def _learner_tables(self) -> list[Any]:
        return [t for t in s.metadata.sorted_tables if "learner_id" in t.c]

    def export(self, learner_id: int) -> dict[str, Any]:
        """Every row about the learner, table by table, as JSON-ready values."""
        out: dict[str, Any] = {}
        with self._read() as c:
            out["learners"] = [dict(r._mapping) for r in c.execute(select(s.learners).where(s.learners.c.id == learner_id))]
            for t in self._learner_tables():
                out[t.name] = [dict(r._mapping) for r in c.execute(select(t).where(t.c.learner_id == learner_id))]
            out["cohorts_owned"] = [dict(r._mapping) for r in c.execute(select(s.cohorts).where(s.cohorts.c.owner_id == learner_id))]
            out["broadcasts_written"] = [dict(r._mapping) for r in c.execute(
                select(s.broadcasts).where(s.broadcasts.c.tutor_id == learner_id).order_by(s.broadcasts.c.id))]
            out["roles_granted"] = [dict(r._mapping) for r in c.execute(
                select(s.roles.c.learner_id, s.roles.c.role, s.roles.c.granted_at)
                .where(s.roles.c.granted_by == learner_id))]
        return json.loads(json.dumps(out, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))

    def forget(self, learner_id: int, now: datetime | None = None) -> None:
        """Erase the learner from every table, in one transaction: every column that identifies them.

        Rows keyed by their id go; elsewhere their traces are nulled: cohorts they own lose the
        owner, roles they granted lose `granted_by`, and broadcasts they wrote keep only counts
        (no author, no chat or message ids, no text). Copies of such a broadcast not yet sent are
        cancelled (the message lived in their chat) and every copy's payload, which named their
        chat, is cleared; a broadcast still going out is cancelled, so no report goes to them.
        """
        now = now or datetime.now(_tz.utc)
        with self.tx() as c:
            theirs = select(s.broadcasts.c.id).where(s.broadcasts.c.tutor_id == learner_id).scalar_subquery()
            c.execute(update(s.outbox).where(s.outbox.c.broadcast_id.in_(theirs),
                                             s.outbox.c.status.in_(["waiting", "claimed"]))
                      .values(status="cancelled", claimed_until=None, owner=None, updated_at=now))
            c.execute(update(s.outbox).where(s.outbox.c.broadcast_id.in_(theirs)).values(payload=None))
            c.execute(update(s.broadcasts).where(s.broadcasts.c.tutor_id == learner_id,
                                                 s.broadcasts.c.status.in_(["draft", "ready", "sending"]))
                      .values(status="cancelled", finished_at=now))
            c.execute(update(s.broadcasts).where(s.broadcasts.c.tutor_id == learner_id).values(
                tutor_id=None, from_chat_id=None, message_id=None, summary="", progress_chat_id=None,
                progress_message_id=None))
            c.execute(update(s.roles).where(s.roles.c.granted_by == learner_id).values(granted_by=None))
            name = c.execute(select(s.learners.c.display_name).where(s.learners.c.id == learner_id)).scalar()
            self.forget_in_learned(c, learner_id, name or "")
            for t in reversed(self._learner_tables()):
                c.execute(delete(t).where(t.c.learner_id == learner_id))
            c.execute(update(s.cohorts).where(s.cohorts.c.owner_id == learner_id).values(owner_id=None))
            c.execute(delete(s.learners).where(s.learners.c.id == learner_id))

    def inactive_learners(self, before: datetime) -> list[Learner]:
        """Learners not seen since `before` (never seen: created before it)."""
        seen = func.coalesce(s.learners.c.last_active_at, s.learners.c.created_at)
        with self._read() as c:
            rows = c.execute(select(s.learners).where(seen < before).order_by(s.learners.c.id)).all()
        return [_learner(r) for r in rows]

    def purge_inactive(self, now: datetime, retention: timedelta) -> list[Learner]:
        """RETENTION_DAYS: forget every learner inactive for `retention`; returns who was erased.

        Each is erased in their own transaction (as by /forget), so a failure part-way keeps
        what was done. Callers remove anything kept outside the database (shell export files)
        and log internal ids only.
        """
        gone = self.inactive_learners(now - retention)
        for learner in gone:
            self.forget(learner.id, now)
        return gone

    def purge_stale(self, now: datetime, *, outbox_keep: timedelta = timedelta(days=30),
                    inbox_keep: timedelta = timedelta(days=1),
                    join_attempts_keep: timedelta = timedelta(days=1)) -> dict[str, int]:
        """Delete housekeeping rows nobody needs any more (they hold chat ids): finished outbox
        rows, inbox tombstones (Telegram redelivers for at most a day) and old join attempts."""
        with self.tx() as c:
            return {
                "outbox": c.execute(delete(s.outbox).where(
                    s.outbox.c.status.not_in(_OPEN_OUTBOX), s.outbox.c.updated_at < now - outbox_keep)).rowcount,
                "update_inbox": c.execute(delete(s.update_inbox).where(
                    s.update_inbox.c.state == "done", s.update_inbox.c.done_at < now - inbox_keep)).rowcount,
                "join_attempts": c.execute(delete(s.join_attempts).where(
                    s.join_attempts.c.at < now - join_attempts_keep)).rowcount,
            }

    def table_names(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    # ------------------------------------------------------------------ reminders

    def set_reminder(self, learner_id: int, local_time: str, tz: str, next_fire_at: datetime) -> None:
        with self.tx() as c:
            values = dict(local_time=local_time, timezone=tz, next_fire_at=next_fire_at, enabled=True, ignored=0)
            if not c.execute(update(s.reminders).where(s.reminders.c.learner_id == learner_id).values(**values)).rowcount:
                c.execute(insert(s.reminders).values(learner_id=learner_id, **values))

    def disable_reminder(self, learner_id: int) -> bool:
        with self.tx() as c:
            return bool(c.execute(update(s.reminders).where(s.reminders.c.learner_id == learner_id).values(enabled=False)).rowcount)

    def get_reminder(self, learner_id: int) -> Reminder | None:
        with self._read() as c:
            row = c.execute(select(s.reminders).where(s.reminders.c.learner_id == learner_id)).first()
        return _reminder(row) if row else None

    def claim_due_reminders(self, now: datetime, late_limit: timedelta,
                            next_fire: Callable[[Reminder, bool], datetime], limit: int = 20000) -> tuple[list[Reminder], int]:
        """Atomically take every enabled reminder due at `now` and advance it to its next fire time.

        Reminders less than `late_limit` late (and whose learner is active) get an outbox row in
        the same transaction and are returned; older ones (the bot was down) are skipped to their
        next time. Returns (queued, skipped). Two sweepers never claim the same reminder.
        """
        q = (select(s.reminders, s.learners.c.chat_id, s.learners.c.active)
             .join(s.learners, s.learners.c.id == s.reminders.c.learner_id)
             .where(s.reminders.c.enabled.is_(True), s.reminders.c.next_fire_at <= now)
             .order_by(s.reminders.c.next_fire_at).limit(limit))
        if self.dialect == "postgresql":
            q = q.with_for_update(of=s.reminders, skip_locked=True)
        queued: list[Reminder] = []
        skipped = 0
        with self.claim_tx() as c:
            rows = c.execute(q).all()
            if not rows:
                return [], 0
            updates, outbox_rows = [], []
            for row in rows:
                rem = _reminder(row)
                send = now - rem.next_fire_at < late_limit and bool(row.active) and row.chat_id is not None
                updates.append({"lid": rem.learner_id, "nxt": next_fire(rem, send)})
                if send:
                    queued.append(rem)
                    outbox_rows.append(dict(learner_id=rem.learner_id, chat_id=row.chat_id, kind="reminder",
                                            payload={"fire_at": rem.next_fire_at.isoformat()}, status="waiting",
                                            attempts=0, not_before=now, updated_at=now, created_at=now))
                else:
                    skipped += 1
            c.execute(update(s.reminders).where(s.reminders.c.learner_id == bindparam("lid"))
                      .values(next_fire_at=bindparam("nxt")), updates)
            if outbox_rows:
                c.execute(insert(s.outbox), outbox_rows)
        return queued, skipped

    def reminder_sent(self, learner_id: int, now: datetime) -> None:
        with self.tx() as c:
            c.execute(update(s.reminders).where(s.reminders.c.learner_id == learner_id).values(
                ignored=s.reminders.c.ignored + 1, last_sent_at=now))

    # ------------------------------------------------------------------ outbox (reminders, broadcasts)

    def enqueue(self, rows: Sequence[dict[str, Any]], now: datetime) -> int:
        if not rows:
            return 0
        with self.tx() as c:
            c.execute(insert(s.outbox), [dict(status="waiting", attempts=0, not_before=now, updated_at=now,
                                              created_at=now, **r) for r in rows])
        return len(rows)

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta, *,
                     owner: str | None = None) -> list[ClaimedOutboxItem]:
        """Take up to `limit` sendable rows (waiting, or claimed/sending with an expired lease: a crash).

        Each row gets `owner` (default: this Store's) and a lease; every later write on the row
        (`mark_sending`, `renew_outbox`, `finish_outbox`, `retry_outbox`) happens only if the row is
        still that owner's, so a replica whose lease ran out cannot overwrite another's claim.
        """
        owner = owner or self.owner
        self._lease = lease
        cond = or_(and_(s.outbox.c.status == "waiting", s.outbox.c.not_before <= now),
                   and_(s.outbox.c.status.in_(["claimed", "sending"]), s.outbox.c.claimed_until < now))
        q = select(s.outbox).where(cond).order_by(s.outbox.c.id).limit(limit)
        if self.dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        until = now + lease
        with self.claim_tx() as c:
            rows = c.execute(q).all()
            if rows:
                c.execute(update(s.outbox).where(s.outbox.c.id.in_([r.id for r in rows])).values(
                    status="claimed", claimed_until=until, updated_at=now, owner=owner))
        return [ClaimedOutboxItem(r.id, r.kind, r.learner_id, r.chat_id, r.payload or {}, r.attempts, r.broadcast_id,
                                  owner=owner, claimed_until=until, created_at=r.created_at,
                                  first_failure_at=r.first_failure_at)
                for r in rows]

    def mark_sending(self, item_id: int, now: datetime, *, owner: str | None = None,
                     lease: timedelta | None = None) -> bool:
        """About to call Telegram for this row: after a crash only rows in this state can be duplicates.

        Extends the lease (by `lease`, default the one claimed with). False: the row is no longer
        ours (the lease ran out and someone else claimed it, or it was cancelled): do not send.
        """
        until = now + (lease or self._lease)
        with self.tx() as c:
            return bool(c.execute(_MARK_SENDING, {"oid": item_id, "now": now, "own": owner or self.owner,
                                                  "until": until}).rowcount)

    def renew_outbox(self, item_ids: Sequence[int], now: datetime, lease: timedelta, *,
                     owner: str | None = None) -> list[int]:
        """Extend the lease on rows still ours; returns the ids renewed (the others were lost)."""
        if not item_ids:
            return []
        with self.tx() as c:
            rows = c.execute(update(s.outbox).where(
                s.outbox.c.id.in_(list(item_ids)), s.outbox.c.owner == (owner or self.owner),
                s.outbox.c.status.in_(["claimed", "sending"])).values(claimed_until=now + lease)
                .returning(s.outbox.c.id)).scalars().all()
        return sorted(int(i) for i in rows)

    def finish_outbox(self, item_id: int, status: str, now: datetime, error: str | None = None, *,
                      owner: str | None = None) -> bool:
        """sent | blocked | failed. False (nothing written): the row is no longer ours."""
        with self.tx() as c:
            return bool(c.execute(update(s.outbox).where(
                s.outbox.c.id == item_id, s.outbox.c.owner == (owner or self.owner),
                s.outbox.c.status.in_(["claimed", "sending"])).values(
                status=status, error=(error or "")[:250] or None, updated_at=now, claimed_until=None)).rowcount)

    def retry_outbox(self, item_id: int, not_before: datetime, now: datetime, *, count_attempt: bool,
                     error: str | None = None, owner: str | None = None) -> bool:
        """Back to waiting until `not_before`. A counted attempt starts the retry budget if not started."""
        values: dict[str, Any] = dict(status="waiting", not_before=not_before, updated_at=now, claimed_until=None,
                                      owner=None, error=(error or "")[:250] or None)
        if count_attempt:
            values["attempts"] = s.outbox.c.attempts + 1
            values["first_failure_at"] = func.coalesce(s.outbox.c.first_failure_at, now)
        with self.tx() as c:
            return bool(c.execute(update(s.outbox).where(
                s.outbox.c.id == item_id, s.outbox.c.owner == (owner or self.owner),
                s.outbox.c.status.in_(["claimed", "sending"])).values(**values)).rowcount)

    def retry_outbox_within(self, item_id: int, now: datetime, *, budget: timedelta, error: str | None = None,
                            owner: str | None = None, cap: timedelta = timedelta(minutes=5)) -> datetime | None:
        """A 5xx or network error: retry on a time budget (OUTBOX_RETRY_HOURS), with capped back-off.

        Returns when the row will be tried again, or None when the budget is spent and the row
        is now `failed` (or the row is no longer ours). Counted from the first failure, so a long
        outage keeps every row waiting rather than spending a fixed number of attempts.
        """
        owner = owner or self.owner
        with self.tx() as c:
            row = c.execute(select(s.outbox.c.attempts, s.outbox.c.first_failure_at).where(
                s.outbox.c.id == item_id, s.outbox.c.owner == owner,
                s.outbox.c.status.in_(["claimed", "sending"]))).first()
            if row is None:
                return None
            first = row.first_failure_at or now
            nxt = retry_backoff(row.attempts, first, now, budget=budget, cap=cap)
            mine = and_(s.outbox.c.id == item_id, s.outbox.c.owner == owner)
            err = (error or "")[:250] or None
            if nxt is None:
                c.execute(update(s.outbox).where(mine).values(status="failed", error=err, updated_at=now,
                                                             claimed_until=None, first_failure_at=first))
                return None
            c.execute(update(s.outbox).where(mine).values(
                status="waiting", not_before=nxt, updated_at=now, claimed_until=None, owner=None, error=err,
                attempts=s.outbox.c.attempts + 1, first_failure_at=first))
        return nxt

    def outbox_counts(self, broadcast_id: int | None = None) -> dict[str, int]:
        q = select(s.outbox.c.status, func.count()).group_by(s.outbox.c.status)
        if broadcast_id is not None:
            q = q.where(s.outbox.c.broadcast_id == broadcast_id)
        with self._read() as c:
            return {status: int(n) for status, n in c.execute(q).all()}

    def outbox_pending(self) -> int:
        with self._read() as c:
            return int(c.execute(select(func.count()).select_from(s.outbox).where(
                s.outbox.c.status.in_(_OPEN_OUTBOX))).scalar_one())

    # ------------------------------------------------------------------ roles and cohorts

    def role(self, learner_id: int) -> str | None:
        with self._read() as c:
            return c.execute(select(s.roles.c.role).where(s.roles.c.learner_id == learner_id)).scalar_one_or_none()

    def set_role(self, learner_id: int, role: str | None, granted_by: int | None, now: datetime) -> None:
        with self.tx() as c:
            c.execute(delete(s.roles).where(s.roles.c.learner_id == learner_id))
            if role is not None:
                c.execute(insert(s.roles).values(learner_id=learner_id, role=role, granted_by=granted_by, granted_at=now))

    def tutors(self) -> list[Learner]:
        """Everyone with the tutor role."""
        with self._read() as c:
            rows = c.execute(select(s.learners).join(s.roles, s.roles.c.learner_id == s.learners.c.id)
                             .where(s.roles.c.role == "tutor").order_by(s.learners.c.id)).all()
        return [_learner(r) for r in rows]

    def tutor_chats(self) -> list[int]:
        """Chat ids of every tutor who has talked to the bot (for their command menu)."""
        with self._read() as c:
            return [int(r[0]) for r in c.execute(select(s.learners.c.chat_id).join(
                s.roles, s.roles.c.learner_id == s.learners.c.id).where(
                s.roles.c.role == "tutor", s.learners.c.chat_id.is_not(None))).all()]

    def create_cohort(self, name: str, owner_id: int, code: str, now: datetime) -> Cohort:
        with self.tx() as c:
            cid = c.execute(insert(s.cohorts).values(name=name, owner_id=owner_id, join_code=code, created_at=now)
                            .returning(s.cohorts.c.id)).scalar_one()
        return self.cohort(int(cid))  # type: ignore[return-value]

    def _cohort_query(self) -> Any:
        members = (select(func.count()).select_from(s.memberships)
                   .where(s.memberships.c.cohort_id == s.cohorts.c.id).scalar_subquery())
        return select(s.cohorts, members.label("members"))

    def cohort(self, cohort_id: int) -> Cohort | None:
        with self._read() as c:
            row = c.execute(self._cohort_query().where(s.cohorts.c.id == cohort_id)).first()
        return _cohort(row) if row else None

    def cohort_by_code(self, code: str) -> Cohort | None:
        with self._read() as c:
            row = c.execute(self._cohort_query().where(s.cohorts.c.join_code == code,
                                                       s.cohorts.c.closed_at.is_(None))).first()
        return _cohort(row) if row else None

    def cohorts(self, owner_id: int | None = None, member_id: int | None = None, open_only: bool = True) -> list[Cohort]:
        q = self._cohort_query()
        if owner_id is not None:
            q = q.where(s.cohorts.c.owner_id == owner_id)
        if member_id is not None:
            q = q.where(s.cohorts.c.id.in_(select(s.memberships.c.cohort_id).where(s.memberships.c.learner_id == member_id)))
        if open_only:
            q = q.where(s.cohorts.c.closed_at.is_(None))
        with self._read() as c:
            return [_cohort(r) for r in c.execute(q.order_by(s.cohorts.c.id)).all()]

    def rotate_code(self, cohort_id: int, code: str) -> None:
        with self.tx() as c:
            c.execute(update(s.cohorts).where(s.cohorts.c.id == cohort_id).values(join_code=code))

    def set_cohort_exam(self, cohort_id: int, day: date | None) -> None:
        with self.tx() as c:
            c.execute(update(s.cohorts).where(s.cohorts.c.id == cohort_id).values(exam_date=day))

    def close_cohort(self, cohort_id: int, now: datetime) -> None:
        with self.tx() as c:
            c.execute(update(s.cohorts).where(s.cohorts.c.id == cohort_id).values(closed_at=now))

    def join(self, cohort_id: int, learner_id: int, now: datetime) -> bool:
        """Add a member; False if they already belong."""
        try:
            with self.tx() as c:
                c.execute(insert(s.memberships).values(cohort_id=cohort_id, learner_id=learner_id, joined_at=now))
        except IntegrityError:
            return False
        return True

    def leave(self, cohort_id: int, learner_id: int) -> bool:
        with self.tx() as c:
            return bool(c.execute(delete(s.memberships).where(s.memberships.c.cohort_id == cohort_id,
                                                              s.memberships.c.learner_id == learner_id)).rowcount)

    def members(self, cohort_id: int) -> list[Learner]:
        with self._read() as c:
            rows = c.execute(select(s.learners).join(s.memberships, s.memberships.c.learner_id == s.learners.c.id)
                             .where(s.memberships.c.cohort_id == cohort_id).order_by(s.learners.c.id)).all()
        return [_learner(r) for r in rows]

    def note_join_failure(self, learner_id: int, now: datetime) -> None:
        with self.tx() as c:
            c.execute(insert(s.join_attempts).values(learner_id=learner_id, at=now))

    def join_failures_since(self, learner_id: int, since: datetime) -> int:
        with self._read() as c:
            return int(c.execute(select(func.count()).select_from(s.join_attempts).where(
                s.join_attempts.c.learner_id == learner_id, s.join_attempts.c.at >= since)).scalar_one())

    def cohort_reviews(self, cohort_id: int, since: datetime | None = None) -> list[Review]:
        q = (select(s.reviews, s.overrides.c.id.label("override_id"))
             .outerjoin(s.overrides, and_(s.overrides.c.review_id == s.reviews.c.id, COUNTED_OVERRIDE))
             .where(s.reviews.c.learner_id.in_(select(s.memberships.c.learner_id)
                                               .where(s.memberships.c.cohort_id == cohort_id))))
        if since is not None:
            q = q.where(s.reviews.c.reviewed_at >= since)
        with self._read() as c:
            return [_review(r, r.override_id is not None) for r in c.execute(q.order_by(s.reviews.c.id)).all()]

    def cohort_cards(self, cohort_id: int) -> list[CardRow]:
        with self._read() as c:
            rows = c.execute(select(s.cards).where(s.cards.c.learner_id.in_(
                select(s.memberships.c.learner_id).where(s.memberships.c.cohort_id == cohort_id)))).all()
        return [_card(r) for r in rows]

    def pending_overrides(self, cohort_id: int) -> list[tuple[int, str, str]]:
        """(override id, question id, learner's answer) for members' overrides not yet reviewed."""
        q = (select(s.overrides.c.id, s.overrides.c.question_id, s.reviews.c.answer)
             .join(s.reviews, s.reviews.c.id == s.overrides.c.review_id)
             .where(s.overrides.c.status == "pending", s.overrides.c.learner_id.in_(
                 select(s.memberships.c.learner_id).where(s.memberships.c.cohort_id == cohort_id)))
             .order_by(s.overrides.c.id))
        with self._read() as c:
            return [(int(i), q_, a) for i, q_, a in c.execute(q).all()]

    # ------------------------------------------------------------------ broadcasts

    def create_broadcast(self, cohort_id: int, tutor_id: int, now: datetime) -> int:
        with self.tx() as c:
            c.execute(update(s.broadcasts).where(s.broadcasts.c.tutor_id == tutor_id,
                                                 s.broadcasts.c.status.in_(["draft", "ready"])).values(status="cancelled"))
            return int(c.execute(insert(s.broadcasts).values(cohort_id=cohort_id, tutor_id=tutor_id, created_at=now,
                                                             status="draft").returning(s.broadcasts.c.id)).scalar_one())

    def broadcast(self, broadcast_id: int) -> Broadcast | None:
        with self._read() as c:
            row = c.execute(select(s.broadcasts).where(s.broadcasts.c.id == broadcast_id)).first()
        return _broadcast(row) if row else None

    def open_draft(self, tutor_id: int) -> Broadcast | None:
        with self._read() as c:
            row = c.execute(_OPEN_DRAFT, {"lid": tutor_id}).first()
        return _broadcast(row) if row else None

    def set_broadcast_message(self, broadcast_id: int, from_chat_id: int, message_id: int, summary: str) -> None:
        with self.tx() as c:
            c.execute(update(s.broadcasts).where(s.broadcasts.c.id == broadcast_id).values(
                from_chat_id=from_chat_id, message_id=message_id, summary=summary[:200], status="ready"))

    def cancel_broadcast(self, broadcast_id: int) -> None:
        with self.tx() as c:
            c.execute(update(s.broadcasts).where(s.broadcasts.c.id == broadcast_id,
                                                 s.broadcasts.c.status.in_(["draft", "ready"])).values(status="cancelled"))

    def start_broadcast(self, broadcast_id: int, now: datetime) -> int | None:
        """Ready -> sending: one outbox row per active member with a chat, in one transaction.

        Returns the number of recipients, or None if the broadcast was not ready (double tap).
        The transition is a conditional update (`WHERE status = 'ready'`) taken first: on
        PostgreSQL a second process's update waits on the row lock and then finds it `sending`,
        so a double tap across replicas queues the broadcast once.
        """
        with self.claim_tx() as c:
            won = c.execute(update(s.broadcasts).where(s.broadcasts.c.id == broadcast_id,
                                                       s.broadcasts.c.status == "ready")
                            .values(status="sending")).rowcount
            if not won:
                return None
            b = c.execute(select(s.broadcasts).where(s.broadcasts.c.id == broadcast_id)).one()
            members = c.execute(select(s.learners.c.id, s.learners.c.chat_id)
                                .join(s.memberships, s.memberships.c.learner_id == s.learners.c.id)
                                .where(s.memberships.c.cohort_id == b.cohort_id, s.learners.c.chat_id.is_not(None))
                                .order_by(s.learners.c.id)).all()
            rows = [dict(broadcast_id=broadcast_id, learner_id=m.id, chat_id=m.chat_id, kind="broadcast",
                         payload={"from_chat_id": b.from_chat_id, "message_id": b.message_id},
                         status="waiting", attempts=0, not_before=now, updated_at=now, created_at=now)
                    for m in members]
            if rows:
                c.execute(insert(s.outbox), rows)
            c.execute(update(s.broadcasts).where(s.broadcasts.c.id == broadcast_id).values(
                status="sending" if rows else "done", finished_at=None if rows else now))
        return len(rows)

    def set_progress_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        with self.tx() as c:
            c.execute(update(s.broadcasts).where(s.broadcasts.c.id == broadcast_id).values(
                progress_chat_id=chat_id, progress_message_id=message_id))

    def broadcasts_sending(self) -> list[Broadcast]:
        with self._read() as c:
            rows = c.execute(select(s.broadcasts).where(s.broadcasts.c.status == "sending")).all()
        return [_broadcast(r) for r in rows]

    def finish_broadcast_if_done(self, broadcast_id: int, now: datetime) -> bool:
        with self.tx() as c:
            left = c.execute(select(func.count()).select_from(s.outbox).where(
                s.outbox.c.broadcast_id == broadcast_id,
                s.outbox.c.status.in_(["waiting", "claimed", "sending"]))).scalar_one()
            if left:
                return False
            return bool(c.execute(update(s.broadcasts).where(s.broadcasts.c.id == broadcast_id,
                                                             s.broadcasts.c.status == "sending")
                                  .values(status="done", finished_at=now)).rowcount)

    def broadcast_report(self, broadcast_id: int) -> dict[str, list[str]]:
        """status -> display names of the recipients in that status."""
        q = (select(s.outbox.c.status, s.learners.c.display_name, s.learners.c.external_id)
             .join(s.learners, s.learners.c.id == s.outbox.c.learner_id)
             .where(s.outbox.c.broadcast_id == broadcast_id).order_by(s.outbox.c.id))
        out: dict[str, list[str]] = {}
        with self._read() as c:
            for status, name, ext in c.execute(q).all():
                out.setdefault(status, []).append(name or ext)
        return out

    def requeue_failed(self, broadcast_id: int, now: datetime) -> int:
        """"Resend to the failed": the broadcast's failed copies wait again, with a fresh retry budget.

        The broadcast is sending again (its next final report comes once more). Returns how many."""
        with self.claim_tx() as c:
            n = c.execute(update(s.outbox).where(
                s.outbox.c.broadcast_id == broadcast_id, s.outbox.c.status == "failed",
                s.outbox.c.payload.is_not(None)).values(
                status="waiting", attempts=0, first_failure_at=None, not_before=now, owner=None, error=None,
                claimed_until=None, updated_at=now)).rowcount
            if n:
                c.execute(update(s.broadcasts).where(s.broadcasts.c.id == broadcast_id,
                                                     s.broadcasts.c.status.in_(["done", "sending"]))
                          .values(status="sending", finished_at=None))
        return int(n)

    # ------------------------------------------------------------------ durable update inbox

    def inbox_put(self, update_id: int, chat_key: str, payload: dict[str, Any], now: datetime) -> bool:
        """Store an update before it is confirmed to Telegram. False: already stored (a redelivery).

        `chat_key` orders processing: one key's updates are handed out one at a time, in
        `update_id` order. Use `f"{channel}:{user id}"` (the learner), or the chat for updates
        without a user.
        """
        stmt = _INSERT_DO_NOTHING[self.dialect](s.update_inbox).values(
            update_id=update_id, chat_key=chat_key[:64], payload=payload, received_at=now, state="new",
            attempts=0).on_conflict_do_nothing(index_elements=[s.update_inbox.c.update_id]).returning(
            s.update_inbox.c.id)
        with self.tx() as c:
            return c.execute(stmt).first() is not None

    def inbox_backlog(self, chat_key: str) -> int:
        """How many of this key's updates are stored and not done (a learner's backlog)."""
        i = s.update_inbox
        with self._read() as c:
            return int(c.execute(select(func.count()).select_from(i).where(
                i.c.state.in_(["new", "claimed"]), i.c.chat_key == chat_key[:64])).scalar_one())

    def inbox_claim(self, now: datetime, lease: timedelta, limit: int = 16, *,
                    owner: str | None = None) -> list[InboxItem]:
        """Take up to `limit` updates to process: for each chat key only its oldest unfinished one.

        An update is processable when it is new (or its claim's lease ran out: a crash) and no
        earlier update of its key is unfinished, so one learner's updates run in order, one at
        a time, across every process. Two claimers never get the same update.
        """
        owner = owner or self.owner
        i, j = s.update_inbox, aliased(s.update_inbox, name="earlier")
        unfinished = ["new", "claimed"]
        earlier = (select(j.c.id).where(j.c.chat_key == i.c.chat_key, j.c.state.in_(unfinished),
                                        j.c.update_id < i.c.update_id).exists())
        q = (select(i).where(or_(i.c.state == "new", and_(i.c.state == "claimed", i.c.claimed_until < now)), ~earlier)
             .order_by(i.c.update_id).limit(limit))
        if self.dialect == "postgresql":
            q = q.with_for_update(of=i, skip_locked=True)
        until = now + lease
        with self.claim_tx() as c:
            rows = c.execute(q).all()
            if not rows:
                return []
            c.execute(update(i).where(i.c.id.in_([r.id for r in rows])).values(
                state="claimed", owner=owner, claimed_until=until, attempts=i.c.attempts + 1))
        return [replace(_inbox_item(r), state="claimed", owner=owner, claimed_until=until, attempts=r.attempts + 1)
                for r in rows]

    def inbox_renew(self, update_ids: Sequence[int], now: datetime, lease: timedelta, *,
                    owner: str | None = None) -> list[int]:
        """Extend our claims (a long engine call); returns the update ids still ours."""
        if not update_ids:
            return []
        i = s.update_inbox
        with self.tx() as c:
            got = c.execute(update(i).where(i.c.update_id.in_(list(update_ids)), i.c.owner == (owner or self.owner),
                                            i.c.state == "claimed").values(claimed_until=now + lease)
                            .returning(i.c.update_id)).scalars().all()
        return sorted(int(u) for u in got)

    def inbox_done(self, update_id: int, now: datetime, *, owner: str | None = None) -> bool:
        """The update's effects are written: erase it (payload and key), keeping a bare tombstone
        so a redelivery of `update_id` is still ignored (`purge_stale` drops tombstones after a
        day). False: the claim was no longer ours."""
        i = s.update_inbox
        with self.tx() as c:
            return bool(c.execute(update(i).where(i.c.update_id == update_id, i.c.owner == (owner or self.owner),
                                                  i.c.state == "claimed").values(
                state="done", payload=None, chat_key="", owner=None, claimed_until=None, done_at=now)).rowcount)

    def inbox_release(self, update_id: int, now: datetime, *, retry_at: datetime | None = None,
                      owner: str | None = None) -> bool:
        """Give a claimed update back unprocessed: claimable again at `retry_at` (default now).

        Until then its key's later updates wait behind it (order is kept)."""
        i = s.update_inbox
        with self.tx() as c:
            return bool(c.execute(update(i).where(i.c.update_id == update_id, i.c.owner == (owner or self.owner),
                                                  i.c.state == "claimed").values(
                owner=None, claimed_until=retry_at or now - timedelta(microseconds=1))).rowcount)

    def inbox_unfinished(self) -> list[InboxItem]:
        """Every update stored and not done, oldest first (replay at start-up; a backlog gauge)."""
        i = s.update_inbox
        with self._read() as c:
            rows = c.execute(select(i).where(i.c.state.in_(["new", "claimed"])).order_by(i.c.update_id)).all()
        return [_inbox_item(r) for r in rows]

    def inbox_max_update_id(self) -> int | None:
        """The highest update id ever stored (tombstones included): polling resumes after it."""
        with self._read() as c:
            value = c.execute(select(func.max(s.update_inbox.c.update_id))).scalar_one()
        return int(value) if value is not None else None

    # ------------------------------------------------------------------ shared send budget

    def _budget_next(self, c: Connection, name: str, start: datetime, now: datetime) -> datetime:
        """The budget's next free time, its row locked for this transaction (created at `start` if new)."""
        b = s.send_budget
        q = select(b.c.next_at).where(b.c.name == name)
        if self.dialect == "postgresql":
            q = q.with_for_update()
        nxt = c.execute(q).scalar_one_or_none()
        if nxt is None:
            c.execute(_INSERT_DO_NOTHING[self.dialect](b).values(name=name, next_at=start, updated_at=now)
                      .on_conflict_do_nothing(index_elements=[b.c.name]))
            nxt = c.execute(q).scalar_one()
        return nxt  # type: ignore[no-any-return]

    def reserve_send_slots(self, now: datetime, rate: float, count: int = 1, *, name: str = "telegram",
                           horizon: timedelta = timedelta(seconds=2)) -> list[datetime]:
        """Book send slots on a schedule shared by every process (SEND_RATE across replicas).

        Slots are `1/rate` apart on one timeline kept in `send_budget`, booked under a row lock,
        so N processes together never exceed `rate`. Returns at least one slot time (wait until
        each before sending); more, up to `count`, while they fall within `horizon` of the first.
        A slot may lie in the future: the budget is busy or paused (`pause_sending`).
        """
        step = timedelta(seconds=1.0 / rate)
        with self.claim_tx() as c:
            first = max(self._budget_next(c, name, now, now), now)
            n = max(1, min(count, 1 + int(horizon / step)))
            slots = [first + k * step for k in range(n)]
            c.execute(update(s.send_budget).where(s.send_budget.c.name == name)
                      .values(next_at=slots[-1] + step, updated_at=now))
        return slots

    def pause_sending(self, until: datetime, now: datetime, *, name: str = "telegram") -> None:
        """Flood control (429 retry_after) or an API outage: no process sends before `until`."""
        with self.claim_tx() as c:
            if until > self._budget_next(c, name, until, now):
                c.execute(update(s.send_budget).where(s.send_budget.c.name == name)
                          .values(next_at=until, updated_at=now))
