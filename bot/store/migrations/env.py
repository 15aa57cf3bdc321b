"""Alembic environment: runs on the connection the Store hands over (or DATABASE_URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from bot.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")


def _run(conn) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=conn,
        target_metadata=metadata,
        render_as_batch=conn.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # `alembic` command line, e.g. to autogenerate a revision
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///data/tutor.sqlite3")
    with engine.connect() as conn:
        _run(conn)
