"""Tables, as SQLAlchemy Core metadata. The migrations in `migrations/versions` create them.

Times are stored as timezone-aware UTC datetimes. Every table that holds a learner's data
has a `learner_id` column with ON DELETE CASCADE, so erasing a learner is one delete (and
`Store.forget` checks every table anyway).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["metadata", "learners", "cards", "reviews", "overrides", "pending", "learner_settings",
           "reminders", "roles", "cohorts", "memberships", "join_attempts", "broadcasts", "outbox",
           "update_inbox", "send_budget"]



class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite keeps no zone: we store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"naive or non-datetime value for a UTC column: {value!r}")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
TS = UTCDateTime()
_learner_fk: dict[str, Any] = dict(ondelete="CASCADE")

learners = Table(
    "learners",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("chat_id", BigInteger, nullable=True),
    Column("display_name", String(128), nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
    Column("last_active_at", TS, nullable=True),
    Column("active", Boolean, nullable=False, server_default="1"),  # false: blocked the bot
    UniqueConstraint("channel", "external_id"),
    sqlite_autoincrement=True,  # never hand a forgotten learner's id to someone else (migration 0002)
)

learner_settings = Table(
    "learner_settings",
    metadata,
    Column("learner_id", Integer, ForeignKey("learners.id", **_learner_fk), primary_key=True),
    Column("timezone", String(64), nullable=False),
    Column("new_per_day", Integer, nullable=False),
    Column("topics", JSON, nullable=True),  # null: every topic
    Column("paused_until", TS, nullable=True),
    Column("exam_date", Date, nullable=True),  # the learner's own; else their cohort's
)

cards = Table(
    "cards",
    metadata,
    Column("learner_id", Integer, ForeignKey("learners.id", **_learner_fk), primary_key=True),
    Column("question_id", String(80), primary_key=True),
    Column("topic", String(64), nullable=False),
    Column("card", JSON, nullable=False),  # fsrs.Card.to_dict()
    Column("due", TS, nullable=False),
    Column("introduced_at", TS, nullable=False),
    Column("reviews", Integer, nullable=False, server_default="0"),
    Index("ix_cards_learner_due", "learner_id", "due"),
)

reviews = Table(  # append-only
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("learner_id", Integer, ForeignKey("learners.id", **_learner_fk), nullable=False),
    Column("question_id", String(80), nullable=False),
    Column("topic", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # free_text | choice
    Column("reviewed_at", TS, nullable=False),
    Column("rating", Integer, nullable=True),  # fsrs.Rating; null for extra practice
    Column("score", Float, nullable=False),
    Column("hits", JSON, nullable=False),
    Column("misses", JSON, nullable=False),
    Column("answer", Text, nullable=False),
    Column("extra", Boolean, nullable=False, server_default="0"),  # practice off the schedule
    Column("card_before", JSON, nullable=True),
    Column("due_after", TS, nullable=True),
    Column("log", JSON, nullable=True),  # fsrs.ReviewLog.to_dict()
    Index("ix_reviews_learner_time", "learner_id", "reviewed_at"),
    Index("ix_reviews_learner_question", "learner_id", "question_id"),
)

overrides = Table(  # "I was right": re-rated Good, kept for tutors to improve accept lists
    "overrides",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("review_id", Integer, ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("learner_id", Integer, ForeignKey("learners.id", **_learner_fk), nullable=False),
    Column("question_id", String(80), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
)

pending = Table(  # the question a learner is answering now; survives restarts
    "pending",
    metadata,
    Column("learner_id", Integer, ForeignKey("learners.id", **_learner_fk), primary_key=True),
    Column("question_id", String(80), nullable=False),
    Column("mode", String(16), nullable=False),  # due | new | extra
    Column("asked_at", TS, nullable=False),
    Column("poll_id", String(64), nullable=True, unique=True),
)

reminders = Table(
    "reminders",
    metadata,
    Column("learner_id", Integer, ForeignKey("learners.id", **_learner_fk), primary_key=True),
    Column("local_time", String(5), nullable=False),  # HH:MM in the learner's zone
    Column("timezone", String(64), nullable=False),
    Column("next_fire_at", TS, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("ignored", Integer, nullable=False, server_default="0"),  # sent in a row, no activity
    Column("last_sent_at", TS, nullable=True),
    Index("ix_reminders_next_fire", "enabled", "next_fire_at"),
)

roles = Table(
    "roles",
    metadata,
    Column("learner_id", Integer, ForeignKey("learners.id", **_learner_fk), primary_key=True),
    Column("role", String(16), nullable=False),  # tutor
    Column("granted_by", Integer, nullable=True),
    Column("granted_at", TS, nullable=False),
)

cohorts = Table(
    "cohorts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("owner_id", Integer, ForeignKey("learners.id", ondelete="SET NULL"), nullable=True),
    Column("join_code", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("closed_at", TS, nullable=True),
    Column("exam_date", Date, nullable=True),  # members inherit it unless they set their own
)

memberships = Table(
    "memberships",
    metadata,
    Column("cohort_id", Integer, ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True),
    Column("learner_id", Integer, ForeignKey("learners.id", **_learner_fk), primary_key=True),
    Column("joined_at", TS, nullable=False),
)

join_attempts = Table(
    "join_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("learner_id", Integer, ForeignKey("learners.id", **_learner_fk), nullable=False),
    Column("at", TS, nullable=False),
    Index("ix_join_attempts_learner_at", "learner_id", "at"),
)

broadcasts = Table(
    "broadcasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cohort_id", Integer, ForeignKey("cohorts.id", ondelete="SET NULL"), nullable=True),
    Column("tutor_id", Integer, ForeignKey("learners.id", ondelete="SET NULL"), nullable=True),
    Column("status", String(16), nullable=False, server_default="draft"),  # draft|ready|sending|done|cancelled
    Column("from_chat_id", BigInteger, nullable=True),
    Column("message_id", BigInteger, nullable=True),
    Column("summary", String(200), nullable=False, server_default=""),
    Column("progress_chat_id", BigInteger, nullable=True),
    Column("progress_message_id", BigInteger, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("finished_at", TS, nullable=True),
    Index("ix_broadcasts_tutor_status", "tutor_id", "status"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("broadcast_id", Integer, ForeignKey("broadcasts.id", ondelete="CASCADE"), nullable=True),
    Column("learner_id", Integer, ForeignKey("learners.id", **_learner_fk), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # broadcast | reminder
    Column("payload", JSON, nullable=True),
    Column("status", String(16), nullable=False, server_default="waiting"),  # waiting|sending|sent|blocked|failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("not_before", TS, nullable=False),
    Column("claimed_until", TS, nullable=True),
    Column("error", String(256), nullable=True),
    Column("updated_at", TS, nullable=False),
    Column("owner", String(40), nullable=True),  # the claiming process; every later write checks it
    Column("created_at", TS, nullable=True),  # when queued (null: rows from before migration 0002)
    Column("first_failure_at", TS, nullable=True),  # start of the retry time budget
    Index("ix_outbox_status_not_before", "status", "not_before"),
    Index("ix_outbox_broadcast", "broadcast_id", "status"),
)

update_inbox = Table(  # updates stored before they are confirmed to Telegram; emptied as they are done
    "update_inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("update_id", BigInteger, nullable=False, unique=True),
    Column("chat_key", String(64), nullable=False),  # one key's updates are processed in order
    Column("payload", JSON, nullable=True),  # null once done (a tombstone that ignores redeliveries)
    Column("received_at", TS, nullable=False),
    Column("state", String(16), nullable=False, server_default="new"),  # new | claimed | done
    Column("owner", String(40), nullable=True),
    Column("claimed_until", TS, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("done_at", TS, nullable=True),
    Index("ix_update_inbox_state_update", "state", "update_id"),
    Index("ix_update_inbox_chat_update", "chat_key", "update_id"),
)

send_budget = Table(  # a send schedule shared by every process: one row per budget (e.g. "telegram")
    "send_budget",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("next_at", TS, nullable=False),  # the earliest time the next send slot may be used
    Column("updated_at", TS, nullable=False),
)
