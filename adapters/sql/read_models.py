"""The ReadModelStore port on SQL: the ``rm_*`` tables next to the events (revision 0006).

A batch is one transaction that first takes the run's position row — SQLite's write lock
(``BEGIN IMMEDIATE``), a ``SELECT ... FOR UPDATE`` of the row on PostgreSQL — checks that
the stored position is the one the batch was folded from, then writes the rows and the
new position. Two projectors racing on one run therefore never both apply: the second
gets ``ProjectionConflictError`` and nothing of its batch is written.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from adapters.sql import engine as engine_settings
from adapters.sql.tables import read_model_positions as positions_table
from adapters.sql.tables import read_model_tables
from core.errors import ProjectionConflictError
from ports.read_models import (
    READ_MODEL_TABLES,
    ProjectionBatch,
    ProjectionPosition,
    RowUpdate,
    complete_row,
    sort_rows,
)


class SqlReadModels:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._pid = os.getpid()

    def _bind(self) -> sa.Engine:
        if self._pid != os.getpid():
            # A forked child must not use (or close) the parent's pooled connections.
            self._engine.dispose(close=False)
            self._pid = os.getpid()
        return self._engine

    def position(self, run_id: str) -> ProjectionPosition | None:
        with self._bind().connect() as conn:
            row = conn.execute(sa.select(positions_table.c.seq, positions_table.c.events)
                               .where(positions_table.c.run_id == run_id)).first()
        return None if row is None else ProjectionPosition(run_id=run_id, seq=int(row.seq), events=int(row.events))

    def positions(self) -> list[ProjectionPosition]:
        with self._bind().connect() as conn:
            rows = conn.execute(sa.select(positions_table).order_by(positions_table.c.run_id)).all()
        return [ProjectionPosition(run_id=r.run_id, seq=int(r.seq), events=int(r.events)) for r in rows]

    def apply(self, batch: ProjectionBatch) -> None:
        engine = self._bind()
        begin = engine.execution_options(**{engine_settings.SQLITE_BEGIN: "IMMEDIATE"}).begin()
        with begin as conn:
            at = self._lock_position(conn, batch.run_id)
            if at != batch.after_seq:
                raise ProjectionConflictError(batch.run_id, batch.after_seq, at)
            run = batch.run_id
            if batch.reset:
                for table in read_model_tables.values():
                    conn.execute(table.delete().where(table.c.run_id == run))
            for name, rows in batch.inserts.items():
                self._insert(conn, name, run, rows)
            self._update(conn, run, batch.updates)
            for name, rows in batch.replaced.items():
                table = read_model_tables[name]
                conn.execute(table.delete().where(table.c.run_id == run))
                self._insert(conn, name, run, rows)
            conn.execute(positions_table.update().where(positions_table.c.run_id == run)
                         .values(seq=batch.to_seq, events=batch.events))

    @staticmethod
    def _insert(conn: sa.Connection, table: str, run_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Driver-level ``executemany``: compiling a Core insert per batch costs more than the rows."""
        if not rows:
            return
        columns = READ_MODEL_TABLES[table].columns
        known = frozenset(columns)
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        rest = columns[1:]  # run_id first
        values = []
        for row in rows:
            if not known.issuperset(row):
                complete_row(table, run_id, row)  # raises, naming the unknown columns
            values.append((run_id, *[row.get(c) for c in rest]))
        conn.exec_driver_sql(sql, values)

    @staticmethod
    def _update(conn: sa.Connection, run_id: str, updates: Sequence[RowUpdate]) -> None:
        """The updates in order, those of one shape (table, condition and value columns) in a
        row as one prepared statement executed many times."""
        def shape(u: RowUpdate) -> tuple:
            return u.table, tuple(u.where), tuple(u.only_if), tuple(u.values)

        for (name, where, only_if, values), group in itertools.groupby(updates, key=shape):
            table = read_model_tables[name]
            cond = [table.c.run_id == sa.bindparam("c_run_id")]
            cond += [table.c[k] == sa.bindparam(f"w_{k}") for k in where]
            cond += [table.c[k] == sa.bindparam(f"o_{k}") for k in only_if]
            statement = table.update().where(*cond).values({k: sa.bindparam(f"v_{k}") for k in values})
            conn.execute(statement, [{"c_run_id": run_id, **{f"w_{k}": v for k, v in u.where.items()},
                                      **{f"o_{k}": v for k, v in u.only_if.items()},
                                      **{f"v_{k}": v for k, v in u.values.items()}} for u in group])

    def _lock_position(self, conn: sa.Connection, run_id: str) -> int:
        """The run's stored position, its row locked for this transaction (created at 0)."""
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert
            conn.execute(pg_insert(positions_table).values(run_id=run_id, seq=0, events=0)
                         .on_conflict_do_nothing(index_elements=["run_id"]))
            row = conn.execute(sa.select(positions_table.c.seq).where(positions_table.c.run_id == run_id)
                               .with_for_update()).first()
        else:
            row = conn.execute(sa.select(positions_table.c.seq).where(positions_table.c.run_id == run_id)).first()
            if row is None:
                conn.execute(positions_table.insert().values(run_id=run_id, seq=0, events=0))
        return 0 if row is None else int(row.seq)

    def rows(self, table: str, run_id: str) -> list[dict[str, Any]]:
        spec = READ_MODEL_TABLES[table]
        t = read_model_tables[table]
        with self._bind().connect() as conn:
            found = conn.execute(sa.select(*[t.c[c] for c in spec.columns]).where(t.c.run_id == run_id)).all()
        return sort_rows(table, [dict(r._mapping) for r in found])

    def drop(self, run_id: str) -> None:
        engine = self._bind()
        with engine.execution_options(**{engine_settings.SQLITE_BEGIN: "IMMEDIATE"}).begin() as conn:
            for table in read_model_tables.values():
                conn.execute(table.delete().where(table.c.run_id == run_id))
            conn.execute(positions_table.delete().where(positions_table.c.run_id == run_id))

