"""The ReadModelStore port in memory: the in-process event store's read models.

Semantics mirror ``adapters.sql.read_models`` (one contract suite runs over both): a
batch is applied whole or not at all, and only on top of the position it was folded
from.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from core.errors import ProjectionConflictError
from ports.read_models import READ_MODEL_TABLES, ProjectionBatch, ProjectionPosition, complete_row, sort_rows


class InMemoryReadModels:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # run id -> table -> key tuple -> row
        self._rows: dict[str, dict[str, dict[tuple, dict[str, Any]]]] = {}
        self._positions: dict[str, ProjectionPosition] = {}

    def position(self, run_id: str) -> ProjectionPosition | None:
        with self._lock:
            return self._positions.get(run_id)

    def positions(self) -> list[ProjectionPosition]:
        with self._lock:
            return [self._positions[r] for r in sorted(self._positions)]

    def apply(self, batch: ProjectionBatch) -> None:
        with self._lock:
            current = self._positions.get(batch.run_id)
            at = current.seq if current is not None else 0
            if at != batch.after_seq:
                raise ProjectionConflictError(batch.run_id, batch.after_seq, at)
            # Built on a copy and swapped in, so a failing batch leaves nothing behind.
            tables = {} if batch.reset else copy.deepcopy(self._rows.get(batch.run_id, {}))
            for name, rows in batch.inserts.items():
                spec = READ_MODEL_TABLES[name]
                target = tables.setdefault(name, {})
                for row in rows:
                    full = complete_row(name, batch.run_id, row)
                    key = tuple(full[k] for k in spec.key)
                    if key in target:
                        raise ValueError(f"{name}: a row with key {key} is already projected")
                    target[key] = full
            for update in batch.updates:
                for row in tables.get(update.table, {}).values():
                    if all(row.get(k) == v for k, v in {**update.where, **update.only_if}.items()):
                        row.update(update.values)
            for name, rows in batch.replaced.items():
                spec = READ_MODEL_TABLES[name]
                tables[name] = {}
                for row in rows:
                    full = complete_row(name, batch.run_id, row)
                    tables[name][tuple(full[k] for k in spec.key)] = full
            self._rows[batch.run_id] = tables
            self._positions[batch.run_id] = ProjectionPosition(run_id=batch.run_id, seq=batch.to_seq,
                                                               events=batch.events)

    def rows(self, table: str, run_id: str) -> list[dict[str, Any]]:
        READ_MODEL_TABLES[table]  # an unknown table is a KeyError, as on SQL
        with self._lock:
            found = self._rows.get(run_id, {}).get(table, {})
            return sort_rows(table, [dict(row) for row in found.values()])

    def drop(self, run_id: str) -> None:
        with self._lock:
            self._rows.pop(run_id, None)
            self._positions.pop(run_id, None)

