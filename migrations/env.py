"""Alembic environment for the SenseQuant event store.

SenseQuant runs migrations programmatically and hands over an open connection (already
inside a transaction that holds the migration lock) in ``config.attributes["connection"]``.
Run through the alembic CLI instead, the URL comes from ``-x db=URL`` or ``sqlalchemy.url``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, transaction_per_migration=False, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    url = context.get_x_argument(as_dictionary=True).get("db") or config.get_main_option("sqlalchemy.url")
    context.configure(url=url, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("db") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database with -x db=URL (or use `sensequant db upgrade --db URL`)")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
