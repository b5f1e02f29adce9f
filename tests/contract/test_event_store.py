"""The EventStore contract: one suite, run against every adapter (memory, SQLite, PostgreSQL).

PostgreSQL runs when ``SENSEQUANT_TEST_POSTGRES_URL`` is set (each test gets a fresh schema)
and is skipped with that reason otherwise.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from adapters.memory import InMemoryEventStore
from core.errors import ConcurrencyError, IdempotencyError, RunNotFoundError
from core.events import AlertRaised, NewEvent, OrderFilled, RunInfo, RunStatus
from core.events.codec import decode_payload, encode_payload
from ports.event_store import EventStore

IST = timezone(timedelta(hours=5, minutes=30))
T0 = datetime(2024, 3, 1, 9, 15, tzinfo=IST)
GOLDEN = Path(__file__).resolve().parents[1] / "golden"

HOSTILE = [
    "plain",
    "it's \"quoted\"",
    "'; DROP TABLE events; --",
    "\"; DELETE FROM runs; --",
    "back\\slash % _ wildcards",
    "ünïcødé ﾃｽﾄ Ελληνικά हिन्दी",
    "emoji 📈🚀💸👩‍💻",
    "new\nline\ttab",
    " ",
]


# "-durable": the same SQL stores with durable appends, which go through group commit.
@pytest.fixture(params=["memory", "sqlite", "postgres", "sqlite-durable", "postgres-durable"])
def store(request) -> Iterator[EventStore]:
    if request.param == "memory":
        s: EventStore = InMemoryEventStore()
    else:
        from adapters.sql import open_sql_store
        backend = request.param.removesuffix("-durable")
        url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
        s = open_sql_store(url, durable=request.param.endswith("-durable"))
    yield s
    s.close()


def alert(message: str = "hello", **details) -> AlertRaised:
    return AlertRaised(severity="info", source="test", message=message, details=details)


def fill(n: int) -> OrderFilled:
    return OrderFilled(client_order_id=f"c{n}", trade_id=f"t{n}", symbol="RELIANCE", side="buy", quantity=n,
                       price_paise=250_000 + n, fees_paise=12, fee_breakdown={"brokerage": 10, "stt": 2},
                       product="cnc", fill_reason="market")


def new(event=None, minutes: int = 0, **kw) -> NewEvent:
    return NewEvent(event=event or alert(), occurred_at=T0 + timedelta(minutes=minutes), **kw)


def batch(n: int, start: int = 0) -> list[NewEvent]:
    return [new(fill(start + i), minutes=start + i) for i in range(n)]


def run_info(run_id: str, started: datetime = T0, mode: str = "backtest", **kw) -> RunInfo:
    return RunInfo(run_id=run_id, mode=mode, config_hash="cfg", code_version="abc123",
                   data_fingerprint="sha256:00", started_at=started, **kw)


# ---------------------------------------------------------------------------- append/read


def test_empty_store(store):
    assert store.last_seq() == 0
    assert store.stream_version("nope") == 0
    assert store.read_stream("nope") == []
    assert store.read_all() == []
    assert isinstance(store, EventStore)


def test_append_returns_recorded_events_that_read_back_identically(store):
    events = batch(3)
    recorded = store.append("order-1", 0, events, run_id="run-a")
    assert [r.seq for r in recorded] == [1, 2, 3]
    assert [r.stream_version for r in recorded] == [1, 2, 3]
    assert [r.event_id for r in recorded] == [e.event_id for e in events]
    assert [r.event for r in recorded] == [e.event for e in events]
    assert all(r.run_id == "run-a" and r.stream_id == "order-1" for r in recorded)
    assert len({r.recorded_at for r in recorded}) == 1
    assert recorded[0].recorded_at.utcoffset() == timedelta(0)
    assert store.read_stream("order-1") == recorded
    assert store.read_all() == recorded
    assert store.last_seq() == 3
    assert store.stream_version("order-1") == 3


def test_times_come_back_as_the_same_instant_in_utc(store):
    event = new(alert(), minutes=0, correlation_id=uuid.uuid4(), causation_id=uuid.uuid4())
    event = NewEvent(event=event.event, occurred_at=datetime(2024, 3, 1, 9, 15, 0, 123456, tzinfo=IST),
                     correlation_id=event.correlation_id, causation_id=event.causation_id)
    (rec,) = store.append("s", 0, [event], run_id="r")
    (read,) = store.read_stream("s")
    assert read == rec
    assert read.occurred_at == event.occurred_at
    assert read.occurred_at.tzinfo == timezone.utc
    assert read.occurred_at.microsecond == 123456
    assert read.correlation_id == event.correlation_id and read.causation_id == event.causation_id


def test_streams_share_one_global_order(store):
    a1 = store.append("a", 0, batch(2), run_id="r")
    b1 = store.append("b", 0, batch(1, 10), run_id="r")
    a2 = store.append("a", 2, batch(2, 20), run_id="r")
    assert [r.seq for r in a1 + b1 + a2] == [1, 2, 3, 4, 5]
    assert [r.stream_version for r in store.read_stream("a")] == [1, 2, 3, 4]
    assert store.read_stream("a", from_version=3) == a2
    assert store.read_stream("a", from_version=0) == a1 + a2
    assert store.read_stream("a", from_version=9) == []
    assert store.read_all() == a1 + b1 + a2


def test_every_event_type_round_trips_through_the_store(store):
    from core.events import registered_event_types
    events = []
    for type_name, cls in sorted(registered_event_types().items()):
        path = GOLDEN / f"{type_name}.v{cls.VERSION}.json"
        if path.exists():
            doc = json.loads(path.read_text(encoding="utf-8"))
            events.append(new(decode_payload(type_name, cls.VERSION, doc["payload"])))
    assert events, "no golden payloads found"
    recorded = store.append("all-types", 0, events, run_id="r")
    read = store.read_all(limit=10_000)
    assert read == recorded
    assert [encode_payload(r.event) for r in read] == [encode_payload(e.event) for e in events]


# ------------------------------------------------------------------------ concurrency


def test_wrong_expected_version_is_a_typed_error_and_writes_nothing(store):
    store.append("s", 0, batch(2), run_id="r")
    for expected in (0, 1, 3, 10):
        with pytest.raises(ConcurrencyError) as info:
            store.append("s", expected, batch(1, 100), run_id="r")
        assert (info.value.stream_id, info.value.expected_version, info.value.actual_version) == ("s", expected, 2)
    with pytest.raises(ConcurrencyError):
        store.append("new-stream", 1, batch(1, 200), run_id="r")
    assert store.last_seq() == 2
    assert store.stream_version("s") == 2
    assert store.stream_version("new-stream") == 0


def test_empty_batch_checks_the_version_and_writes_nothing(store):
    assert store.append("s", 0, [], run_id="r") == []
    store.append("s", 0, batch(1), run_id="r")
    assert store.append("s", 1, [], run_id="r") == []
    with pytest.raises(ConcurrencyError):
        store.append("s", 0, [], run_id="r")
    assert store.last_seq() == 1


def test_batch_is_all_or_nothing(store):
    first = store.append("s", 0, batch(2), run_id="r")
    # The third event reuses an id stored before: the whole batch is refused.
    bad = batch(2, 10) + [NewEvent(event=fill(99), occurred_at=T0, event_id=first[0].event_id)]
    with pytest.raises(IdempotencyError):
        store.append("s", 2, bad, run_id="r")
    # Two events of one batch with the same id.
    twin = new(fill(5))
    with pytest.raises(IdempotencyError):
        store.append("s", 2, [new(fill(4)), twin, twin], run_id="r")
    # An event that cannot be encoded (NaN is not JSON) fails before anything is written.
    with pytest.raises(ValueError):
        store.append("s", 2, [new(alert()), new(alert(bad=float("nan")))], run_id="r")
    assert store.last_seq() == 2
    assert store.stream_version("s") == 2
    assert store.read_all() == first
    # The store still works after the refused batches.
    assert [r.seq for r in store.append("s", 2, batch(1, 50), run_id="r")] == [3]


# ------------------------------------------------------------------------ idempotency


def test_identical_retry_is_a_no_op_returning_the_stored_events(store):
    events = batch(3)
    first = store.append("s", 0, events, run_id="r")
    again = store.append("s", 0, events, run_id="r")
    assert again == first
    # Still a no-op after the stream moved on (the retry's first attempt had committed).
    later = store.append("s", 3, batch(2, 10), run_id="r")
    assert store.append("s", 0, events, run_id="r") == first
    assert store.last_seq() == 5
    assert store.read_all() == first + later


def test_altered_retry_is_refused(store):
    events = batch(3)
    store.append("s", 0, events, run_id="r")
    altered_payload = [events[0], NewEvent(event=fill(77), occurred_at=events[1].occurred_at,
                                           event_id=events[1].event_id), events[2]]
    altered_time = [events[0], events[1], NewEvent(event=events[2].event, occurred_at=T0 - timedelta(days=1),
                                                   event_id=events[2].event_id)]
    altered_corr = [NewEvent(event=events[0].event, occurred_at=events[0].occurred_at,
                             event_id=events[0].event_id, correlation_id=uuid.uuid4())] + events[1:]
    for bad, expected in [(altered_payload, 0), (altered_time, 0), (altered_corr, 0),
                          (events, 1),               # same ids, other position
                          (events[:2] + batch(1, 9), 0),
                          (events + batch(1, 9), 0),  # longer than what was stored
                          (events[1:], 0)]:           # shifted
        with pytest.raises(IdempotencyError):
            store.append("s", expected, bad, run_id="r")
    with pytest.raises(IdempotencyError):
        store.append("other-stream", 0, events, run_id="r")
    assert store.last_seq() == 3
    assert store.stream_version("other-stream") == 0


# ----------------------------------------------------------------------------- read_all


def test_read_all_pages_and_filters_by_run(store):
    written = []
    for i in range(10):
        run = "run-a" if i % 2 == 0 else "run-b"
        written += store.append(f"s{i % 3}", store.stream_version(f"s{i % 3}"), batch(3, i * 3), run_id=run)
    assert store.last_seq() == 30
    pages, cursor = [], 0
    while page := store.read_all(cursor, limit=7):
        pages.append(page)
        cursor = page[-1].seq
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert [r for p in pages for r in p] == written
    run_a = [r for r in written if r.run_id == "run-a"]
    assert store.read_all(run_id="run-a") == run_a
    assert store.read_all(run_a[4].seq, limit=4, run_id="run-a") == run_a[5:9]
    assert store.read_all(run_id="run-zzz") == []
    assert store.read_all(30) == []
    assert store.read_all(0, limit=0) == []
    assert store.read_all(-5, limit=2) == written[:2]


# --------------------------------------------------------------------------------- runs


def test_runs_table(store):
    store.start_run(run_info("20240301-aaaa", T0, label="first"))
    store.start_run(run_info("20240302-bbbb", T0 + timedelta(days=1), mode="paper"))
    store.start_run(run_info("20240302-bbbc", T0 + timedelta(days=1)))
    got = store.get_run("20240301-aaaa")
    assert got == run_info("20240301-aaaa", T0, label="first")
    assert got.started_at.tzinfo == timezone.utc and got.status == RunStatus.RUNNING and got.ended_at is None
    assert store.get_run("20240301").run_id == "20240301-aaaa"
    with pytest.raises(RunNotFoundError, match="ambiguous"):
        store.get_run("20240302-bbb")
    with pytest.raises(RunNotFoundError, match="runs list"):
        store.get_run("nope")
    with pytest.raises(RunNotFoundError):
        store.get_run("2024030%")  # a LIKE wildcard is not a wildcard
    with pytest.raises(ValueError):
        store.start_run(run_info("20240301-aaaa"))
    ended = T0 + timedelta(hours=6)
    store.finish_run("20240301", RunStatus.COMPLETED, ended)
    done = store.get_run("20240301-aaaa")
    assert (done.status, done.ended_at, done.label) == (RunStatus.COMPLETED, ended, "first")
    with pytest.raises(RunNotFoundError):
        store.finish_run("missing", RunStatus.FAILED, ended)
    assert [r.run_id for r in store.list_runs()] == ["20240302-bbbb", "20240302-bbbc", "20240301-aaaa"]
    assert [r.run_id for r in store.list_runs(mode="paper")] == ["20240302-bbbb"]
    assert [r.run_id for r in store.list_runs(limit=1)] == ["20240302-bbbb"]
    assert store.list_runs(mode="live") == []


# -------------------------------------------------------------------- hostile strings


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_ids_and_payload_strings_round_trip_unchanged(store, text):
    events = [new(alert(text, note=text, nested={"k": [text, {text: text}]})),
              new(OrderFilled(client_order_id=text, trade_id=text, symbol=text, side="buy", quantity=1,
                              price_paise=1, fees_paise=0, fee_breakdown={text: 1}, product=text,
                              fill_reason=text))]
    recorded = store.append(text, 0, events, run_id=text)
    store.append("control", 0, batch(1), run_id="control")
    assert store.read_stream(text) == recorded
    assert [r.event for r in store.read_stream(text)] == [e.event for e in events]
    assert store.read_all(run_id=text) == recorded
    assert store.stream_version(text) == 2
    store.start_run(run_info(text, label=text))
    assert store.get_run(text).label == text
    assert store.last_seq() == 3


def test_nul_characters_in_keys_are_refused_up_front(store):
    with pytest.raises(ValueError, match="NUL"):
        store.append("bad\x00id", 0, batch(1), run_id="r")
    (rec,) = store.append("s", 0, [new(alert("nul \x00 inside a payload is fine"))], run_id="r")
    assert store.read_stream("s")[0].event == rec.event
    assert store.last_seq() == 1


def test_runs_started_together_are_listed_by_run_id(store):
    ids = ["b-run", "B-run", "a-run", "é-run", "_run", "Z-run"]
    for run_id in ids:
        store.start_run(run_info(run_id, T0))
    assert [r.run_id for r in store.list_runs()] == sorted(ids)


def test_threads_sharing_one_store_lose_nothing(store):
    import threading

    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            for i in range(25):
                while True:
                    version = store.stream_version("shared")
                    try:
                        store.append("shared", version, [new(alert(f"{tag}:{i}"))], run_id=tag)
                        break
                    except ConcurrencyError:
                        continue
                store.read_all(max(store.last_seq() - 5, 0), limit=5)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    stream = store.read_stream("shared")
    assert [r.stream_version for r in stream] == list(range(1, 101))
    for n in range(4):
        assert [r.event.message for r in stream if r.run_id == f"t{n}"] == [f"t{n}:{i}" for i in range(25)]
