"""Migration 0002 matches the schema module, keeps data, and stops SQLite reusing learner ids (finding 13)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, select, text

from bot.store import Store
from bot.store import schema as s
from bot.store.store import _MIGRATIONS

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def test_migrations_and_schema_module_agree(store: Store) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, s.metadata)
    assert diff == []


def test_sqlite_learners_table_uses_autoincrement(sqlite_url: str) -> None:
    st = Store.open(sqlite_url)
    with st.engine.connect() as c:
        sql = c.execute(text("SELECT sql FROM sqlite_master WHERE name = 'learners'")).scalar_one()
    st.close()
    assert "AUTOINCREMENT" in sql.upper()


def test_a_forgotten_learners_id_is_never_reused(store: Store) -> None:
    ids = [store.learner("telegram", str(i), now=T0, timezone="UTC", new_per_day=1).id for i in range(3)]
    store.forget(ids[-1])
    fresh = store.learner("telegram", "new", now=T0, timezone="UTC", new_per_day=1).id
    assert fresh > ids[-1]


def test_upgrading_a_0001_sqlite_database_keeps_every_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        for i in (1, 2, 3):
            conn.execute(insert(s.learners).values(id=i, channel="telegram", external_id=str(i), created_at=T0))
            conn.execute(insert(s.learner_settings).values(learner_id=i, timezone="UTC", new_per_day=1))
        conn.execute(insert(s.roles).values(learner_id=2, role="tutor", granted_by=1, granted_at=T0))
        conn.execute(s.learners.delete().where(s.learners.c.id == 3))
    engine.dispose()
    st = Store.open(url)  # 0001 -> head, through the Store (foreign keys off while rebuilding)
    try:
        with st.engine.connect() as c:
            assert c.execute(select(s.learner_settings.c.learner_id).order_by(s.learner_settings.c.learner_id)).scalars().all() == [1, 2]
            assert c.execute(select(s.roles.c.learner_id)).scalars().all() == [2]
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert st.learner("telegram", "9", now=T0, timezone="UTC", new_per_day=1).id == 3  # max kept id + 1
        st.forget(3)
        assert st.learner("telegram", "10", now=T0, timezone="UTC", new_per_day=1).id == 4
    finally:
        st.close()


@pytest.mark.parametrize("target", ["0001"])
def test_downgrade_to_0001_and_back(sqlite_url: str, target: str) -> None:
    Store.open(sqlite_url).close()
    engine = create_engine(sqlite_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, target)
    engine.dispose()
    Store.open(sqlite_url).close()
