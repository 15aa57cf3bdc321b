"""Finding 10 and 8: the store never waits forever on the database, and never leaks SQL parameters."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.exc import DBAPIError

from bot.errors import StoreError
from bot.store import Store
from bot.store import schema as s

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP listener that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def test_open_against_a_silent_database_fails_within_the_connect_timeout(silent_server: int) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{silent_server}/test"
    started = time.monotonic()
    with pytest.raises(StoreError, match="cannot open the database"):
        Store.open(url, connect_timeout=2)
    assert time.monotonic() - started < 8


def test_a_query_against_a_silent_database_fails_within_the_connect_timeout(silent_server: int) -> None:
    store = Store.open(f"postgresql+psycopg://postgres@127.0.0.1:{silent_server}/test", migrate=False,
                       connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(DBAPIError):
        store.find_learner("telegram", "1")
    assert time.monotonic() - started < 8
    store.close()


@pytest.mark.postgres
def test_postgresql_statement_and_lock_timeouts_apply(pg_url: str) -> None:
    a = Store.open(pg_url, migrate=False, statement_timeout=0.5, lock_timeout=0.3)
    b = Store.open(pg_url, migrate=False, statement_timeout=0.5, lock_timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(DBAPIError, match="statement timeout"):
            with a.tx() as c:
                c.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 3
        lid = a.learner("telegram", "1", now=T0, timezone="UTC", new_per_day=1).id
        with b.tx() as held:
            held.execute(text("SELECT id FROM learners WHERE id = :i FOR UPDATE"), {"i": lid})
            started = time.monotonic()
            with pytest.raises(DBAPIError, match="lock timeout"):
                a.set_active(lid, False)
            assert time.monotonic() - started < 3
    finally:
        a.close()
        b.close()


@pytest.mark.postgres
def test_postgresql_store_recovers_when_its_connections_are_cut(pg_url: str) -> None:
    store = Store.open(pg_url, migrate=False)
    try:
        assert store.find_learner("telegram", "nobody") is None
        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        admin.dispose()
        assert store.find_learner("telegram", "nobody") is None  # pre-ping replaced the dead connection
    finally:
        store.close()


def test_sqlite_busy_timeout_is_configurable(sqlite_url: str) -> None:
    Store.open(sqlite_url).close()
    holder = Store.open(sqlite_url, migrate=False)
    quick = Store.open(sqlite_url, migrate=False, busy_timeout=0.3)
    try:
        with holder.claim_tx() as c:  # BEGIN IMMEDIATE: the write lock
            assert c is not None
            started = time.monotonic()
            with pytest.raises(DBAPIError, match="locked"):
                quick.learner("telegram", "1", now=T0, timezone="UTC", new_per_day=1)
            assert time.monotonic() - started < 3
    finally:
        holder.close()
        quick.close()


def test_sql_errors_and_logs_carry_no_parameters(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    secret_name = "Amira Secretname 07700900123"
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    store.engine.echo = True  # the worst case: statement logging switched on
    try:
        store.learner("telegram", "4242", now=T0, timezone="UTC", new_per_day=1, display_name=secret_name,
                      chat_id=987654321)
        with pytest.raises(DBAPIError) as err:
            with store.tx() as c:  # a duplicate (channel, external_id): IntegrityError
                c.execute(insert(s.learners).values(channel="telegram", external_id="4242", created_at=T0,
                                                    display_name=secret_name, chat_id=987654321))
    finally:
        store.engine.echo = False
    assert secret_name not in str(err.value) and "987654321" not in str(err.value)
    assert "parameters hidden" in caplog.text or "hide_parameters" in caplog.text
    assert secret_name not in caplog.text and "987654321" not in caplog.text
