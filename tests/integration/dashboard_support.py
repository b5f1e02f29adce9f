"""A real backtest run (both books, a slice of the shipped data) in a SQLite store, for the
dashboard tests. Import the fixture into a test module: ``from tests.integration.dashboard_support
import backtest_db  # noqa: F401``."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest

from applications.services.books import BacktestConfig, SentimentSettings
from applications.services.backtest import run_backtest
from applications.wiring.store import open_store
from core.events.base import NewEvent, RecordedEvent
from ports.event_store import EventStore

SLICE = dict(strategy="both", start="2019-01-01", end="2024-01-12")


@attrs.frozen
class BacktestDb:
    url: str
    run_id: str
    events: list[RecordedEvent]


@pytest.fixture(scope="session")
def backtest_db(tmp_path_factory) -> Iterator[BacktestDb]:
    """Intraday (TCS minutes, Jan 2024) and swing (seven stocks, 2019-2020) in one SQLite run."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'events.db'}"
    store = open_store(url)
    try:
        result = run_backtest(BacktestConfig(**SLICE, sentiment=SentimentSettings(enabled=False)), store=store)
        events = store.read_all(0, 1_000_000, run_id=result.run_id)
    finally:
        store.close()
    yield BacktestDb(url=url, run_id=result.run_id, events=events)


def copy_events(events: list[RecordedEvent], target: EventStore) -> None:
    """Re-append recorded events (same ids, streams and order) into ``target`` — the way a
    run being written looks to a reader: a prefix now, the rest later."""
    # Consecutive events of one stream go in one append; appending in seq order keeps the
    # global order of the source run.
    batch: list[RecordedEvent] = []
    for rec in [*sorted(events, key=lambda r: r.seq), None]:
        if batch and (rec is None or rec.stream_id != batch[0].stream_id):
            target.append(batch[0].stream_id, batch[0].stream_version - 1,
                          [NewEvent(event=r.event, occurred_at=r.occurred_at, event_id=r.event_id,
                                    correlation_id=r.correlation_id, causation_id=r.causation_id) for r in batch],
                          run_id=batch[0].run_id)
            batch = []
        if rec is not None:
            batch.append(rec)
