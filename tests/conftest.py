"""Shared fixtures: database URLs for the SQL event store and anything else that needs one.

``sqlite_url``: a fresh SQLite file in the test's tmp dir (nothing created yet).
``pg_url``: a fresh, empty PostgreSQL schema in the database named by
``SENSEQUANT_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``),
reached through ``search_path`` in the returned URL so that every connection made from it
(other processes included) sees only that schema; dropped afterwards. Skipped, with the
reason shown, when the variable is unset.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_ENV = "SENSEQUANT_TEST_POSTGRES_URL"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of a new SQLite database file under the test's tmp dir."""
    return f"sqlite:///{tmp_path / 'events.db'}"


def postgres_base_url() -> str | None:
    """The PostgreSQL URL tests may use, or None (tests then skip)."""
    return os.environ.get(POSTGRES_ENV) or None


def make_pg_schema_url(base_url: str, schema: str) -> str:
    """``base_url`` with ``search_path`` pinned to ``schema`` (created by the caller)."""
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


class PostgresSchemas:
    """Creates and drops throw-away schemas in the test database."""

    def __init__(self, base_url: str) -> None:
        import sqlalchemy as sa

        self.base_url = base_url
        url = sa.engine.make_url(base_url)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        self._engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def create(self) -> tuple[str, str]:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        with self._engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        return schema, make_pg_schema_url(self.base_url, schema)

    def drop(self, schema: str) -> None:
        import warnings

        import sqlalchemy as sa

        with self._engine.connect() as conn:
            # A session a test left open must not make teardown hang: give up after a while.
            conn.exec_driver_sql("SET lock_timeout = '10s'")
            try:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            except sa.exc.OperationalError as exc:
                warnings.warn(f"could not drop test schema {schema}: {exc}", stacklevel=2)

    def dispose(self) -> None:
        self._engine.dispose()


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[PostgresSchemas]:
    base = postgres_base_url()
    if base is None:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    schemas = PostgresSchemas(base)
    yield schemas
    schemas.dispose()


@pytest.fixture
def pg_url(pg_schemas: PostgresSchemas) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema (skips when the server URL is not configured)."""
    schema, url = pg_schemas.create()
    yield url
    pg_schemas.drop(schema)
