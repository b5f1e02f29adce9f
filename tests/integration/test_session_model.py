"""`--model production|ID` in paper and live: fixed at the session start, kept by a resume, recorded."""

from __future__ import annotations

import pytest

from adapters.memory import InMemoryEventStore
from adapters.simulated import SimulatedClock
from applications.roots.paper import PaperOptions, run_paper
from applications.services.books import BacktestConfig, SentimentSettings
from applications.wiring.adapters import default_feed
from core.errors import ResumeError
from tests.fakes.crashing_clock import CrashingClock, SimulatedCrash
from tests.fakes.predictor import FakePredictor

CONFIG = BacktestConfig(strategy="intraday", start="2024-01-01", end="2024-01-05",
                        sentiment=SentimentSettings(enabled=False))


class Registry:
    """A stand-in model registry: ``production`` resolves to whatever is promoted now."""

    def __init__(self) -> None:
        self.champion = "m1"
        self.loaded: list[str] = []
        self.models = {m: FakePredictor(model_id=m) for m in ("m1", "m2")}

    def load(self, requested: str) -> FakePredictor:
        self.loaded.append(requested)
        return self.models[self.champion if requested == "production" else requested]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    from applications.wiring.store import open_store
    url = f"sqlite:///{tmp_path / 'model.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened = open_store(url, durable=True)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def feed():
    return default_feed(CONFIG)


def run_events(store, run_id):
    return [(r.type, r.event) for r in store.read_stream(f"{run_id}:run")]


def test_a_promotion_takes_effect_at_the_next_session_start_never_mid_session(feed, store):
    registry = Registry()
    options = PaperOptions(replay_speed=1e6)
    with pytest.raises(SimulatedCrash):
        run_paper(CONFIG, store=store, feed=feed, sentiment=None, clock=CrashingClock(crash_at=400), options=options,
                  run_id="day1", model="production", model_loader=registry.load)
    registry.champion = "m2"  # promoted while day 1's session was down
    done = run_paper(CONFIG, store=store, feed=feed, sentiment=None, clock=CrashingClock(), options=options,
                     resume="day1", model="production", model_loader=registry.load)
    assert done.status == "completed"
    assert registry.loaded == ["production", "m1"]  # the resume loaded the run's own model, not the champion
    assert not registry.models["m2"].calls
    selected = [e for t, e in run_events(store, "day1") if t == "session.model_selected"]
    assert [(e.model_id, e.resumed) for e in selected] == [("m1", False), ("m1", True)]
    started = [e for t, e in run_events(store, "day1") if t == "run.started"][0]
    assert started.config["predictor"] == "m1"
    signals = [r.event for r in store.read_stream("day1:intraday") if r.type == "signal.generated"]
    assert signals and all(s.signals.get("model_id") == "m1" for s in signals)
    # the next session starts with the new champion and says what it replaced
    run_paper(CONFIG, store=store, feed=feed, sentiment=None, clock=SimulatedClock(), options=PaperOptions(
        replay_speed=0), run_id="day2", model="production", model_loader=registry.load)
    day2 = [e for t, e in run_events(store, "day2") if t == "session.model_selected"]
    assert [(e.model_id, e.previous_model_id, e.resumed) for e in day2] == [("m2", "m1", False)]
    signals = [r.event for r in store.read_stream("day2:intraday") if r.type == "signal.generated"]
    assert signals and all(s.signals.get("model_id") == "m2" for s in signals)


def test_a_resume_cannot_switch_models(feed, store):
    registry = Registry()
    with pytest.raises(SimulatedCrash):
        run_paper(CONFIG, store=store, feed=feed, sentiment=None, clock=CrashingClock(crash_at=300),
                  options=PaperOptions(replay_speed=1e6), run_id="r", model="m1", model_loader=registry.load)
    with pytest.raises(ResumeError, match="started with model m1"):
        run_paper(CONFIG, store=store, feed=feed, sentiment=None, clock=CrashingClock(), resume="r", model="m2",
                  options=PaperOptions(replay_speed=1e6), model_loader=registry.load)
