"""Shared helpers for the bulk-sending benchmarks: throwaway stores and a running bot on the fake server."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from bot.store import Store  # noqa: E402
from bot.store import schema as s  # noqa: E402

ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


@contextmanager
def throwaway_store(kind: str) -> Iterator[Store]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            st = Store.open(f"sqlite:///{tmp}/bench.sqlite3")
            try:
                yield st
            finally:
                st.close()
        return
    name = f"tutor_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    st = Store.open(ADMIN.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield st
    finally:
        st.close()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def add_learners(store: Store, n: int, first_chat: int = 10_000, channel: str = "telegram") -> list[int]:
    """n active learners with chats; returns their ids."""
    chunk = 20_000
    with store.tx() as c:
        for start in range(0, n, chunk):
            c.execute(insert(s.learners), [
                dict(channel=channel, external_id=str(first_chat + i), chat_id=first_chat + i,
                     display_name=f"Learner {i}", created_at=T0, active=True)
                for i in range(start, min(n, start + chunk))])
        c.execute(text("INSERT INTO learner_settings (learner_id, timezone, new_per_day) "
                       "SELECT id, 'Europe/London', 10 FROM learners WHERE id NOT IN "
                       "(SELECT learner_id FROM learner_settings)"))
        ids = [r[0] for r in c.execute(text("SELECT id FROM learners ORDER BY id")).all()]
    return ids[-n:]
