"""Shared fixtures: a pinned clock, the bundled bank, and a store on SQLite and on PostgreSQL.

PostgreSQL: one throwaway database per test run on the server at TEST_POSTGRES_URL
(default postgresql+psycopg://postgres@127.0.0.1:5432/test), dropped afterwards. Each
test gets its own schema-fresh state by truncating tables. With CI=true an unreachable
server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.store import Store
from bot.store.schema import metadata
from bot.tutor.bank import QuestionBank, load_bank

ROOT = Path(__file__).resolve().parent.parent
# Tests grade with the lexical stage (fast, no ONNX session per process) unless a test passes a
# model to Grader(model=...) or clears this (tests/test_grading_stages.py does both).
os.environ.setdefault("GRADER_MODEL", "off")
ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))  # a Monday


@pytest.fixture(scope="session")
def bank() -> QuestionBank:
    return load_bank(ROOT / "content")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"tutor_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    Store.open(url).close()  # migrate once
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(store: Store) -> None:
    with store.tx() as c:
        if store.dialect == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in reversed(metadata.sorted_tables):
                c.execute(t.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        st = Store.open(f"sqlite:///{tmp_path / 'tutor.sqlite3'}")
    else:
        st = Store.open(request.getfixturevalue("pg_url"), migrate=False)
        _truncate(st)
    yield st
    st.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tutor.sqlite3'}"
