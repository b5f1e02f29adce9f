"""Which model a paper/live session scores its decisions with: fixed at the session start.

``select_session_model`` resolves ``--model production|ID`` once, when a session starts
(``production`` = the champion at that moment), and returns the ``SessionModelSelected``
event the session records on its run stream. A promotion made while a session runs
therefore takes effect at the next session start, never mid-session; a resumed session
(after a crash or a stop) loads the exact model its run started with, whatever is in
production by then, so its decisions continue the log unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import ResumeError
from core.events.account import SessionModelSelected
from core.events.catalog import RunStarted
from ports.event_store import EventStore
from ports.predictor import Predictor

ModelLoader = Callable[[str], Predictor]


def recorded_model(store: EventStore, run_id: str) -> str | None:
    """The model id a run started with (its ``RunStarted`` config), None when it had none."""
    for rec in store.read_stream(f"{run_id}:run"):
        if isinstance(rec.event, RunStarted):
            return rec.event.config.get("predictor")
    return None


def previous_session_model(store: EventStore, mode: str, before_run: str | None = None) -> str | None:
    """The model of the newest earlier session of ``mode`` that selected one (None if none did)."""
    for info in store.list_runs(mode=mode, limit=20):
        if info.run_id == before_run:
            continue
        for rec in store.read_stream(f"{info.run_id}:run"):
            if isinstance(rec.event, SessionModelSelected):
                return rec.event.model_id
    return None


def select_session_model(store: EventStore, *, mode: str, requested: str | None, load: ModelLoader,
                         resume_run: str | None = None,
                         log: Callable[[str], None] = lambda _m: None
                         ) -> tuple[Predictor | None, SessionModelSelected | None]:
    """The predictor for this session and the event to record (both None: no model)."""
    if resume_run is not None:
        started_with = recorded_model(store, store.get_run(resume_run).run_id)
        if started_with is None:
            if requested is not None:
                raise ResumeError(f"run {resume_run} started without a model; resume it without --model "
                                  "(a model can only be chosen when a session starts)")
            return None, None
        if requested not in (None, "production", started_with):
            raise ResumeError(f"run {resume_run} started with model {started_with}; it cannot continue with "
                              f"{requested} (a model change takes effect at the next session start)")
        predictor = load(started_with)
        log(f"model {started_with}: the one this run started with (a later promotion applies from the next "
            "session)")
        return predictor, SessionModelSelected(requested=requested or started_with, model_id=started_with,
                                               previous_model_id=started_with, resumed=True)
    if requested is None:
        return None, None
    predictor = load(requested)
    previous = previous_session_model(store, mode)
    if previous is not None and previous != predictor.model_id:
        log(f"model {predictor.model_id} replaces {previous} from this session on")
    else:
        log(f"model {predictor.model_id} scores this session's decisions")
    return predictor, SessionModelSelected(requested=requested, model_id=predictor.model_id,
                                           previous_model_id=previous, resumed=False)


__all__ = ["ModelLoader", "previous_session_model", "recorded_model", "select_session_model"]
