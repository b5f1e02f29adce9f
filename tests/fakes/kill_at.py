"""Run the ``sensequant`` CLI in a real process that ``kill -9``s itself at a chosen phase.

``python -m tests.fakes.kill_at PHASE N -- paper --db ... --json`` patches one seam of
the session, then runs the CLI unchanged; at the N-th time the seam is reached the
process sends itself SIGKILL (nothing is flushed, no handler runs: a real crash).

Phases:

* ``before-checkpoint``: the first book batch (the first ``EngineCheckpointed``) is about
  to be appended; the store holds only the run's start;
* ``mid-bar``: right after the N-th order reached the venue, before its bar's batch is
  appended (orders submitted, events of the bar only in memory);
* ``square-off``: after the N-th entry fill the process SIGTERMs itself (a clean stop
  begins) and dies while the square-off fills are being applied;
* ``close``: every bar was traded and the books finished (snapshot and checkpoint
  flushed); the process dies before the run is marked completed.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

PHASES = ("before-checkpoint", "mid-bar", "square-off", "close")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _after(n: int) -> Callable[[], bool]:
    calls = 0

    def reached() -> bool:
        nonlocal calls
        calls += 1
        return calls >= n

    return reached


def install(phase: str, n: int) -> None:
    from core.engine.engine import TradingEngine
    from core.engine.recorder import EventRecorder
    from adapters.simulated import SimulatedBroker

    reached = _after(n)
    if phase == "before-checkpoint":
        flush = EventRecorder.flush

        def dying_flush(self: EventRecorder) -> None:
            if not self.stream_id.endswith(":run") and self._buffer and reached():  # noqa: SLF001
                _die()
            flush(self)

        EventRecorder.flush = dying_flush  # type: ignore[method-assign]
    elif phase == "mid-bar":
        submit = SimulatedBroker.submit

        def dying_submit(self: SimulatedBroker, order: Any) -> Any:
            ack = submit(self, order)
            if reached():
                _die()
            return ack

        SimulatedBroker.submit = dying_submit  # type: ignore[method-assign]
    elif phase == "square-off":
        on_fill = TradingEngine._on_fill  # noqa: SLF001
        on_fills = TradingEngine.on_fills

        def stopping_on_fill(self: TradingEngine, book: Any, i: int, fill: Any) -> None:
            had = fill.symbol in self._open  # noqa: SLF001
            on_fill(self, book, i, fill)
            if not had and fill.symbol in self._open and reached():  # noqa: SLF001
                os.kill(os.getpid(), signal.SIGTERM)  # the handler sets the shutdown flag

        def dying_on_fills(self: TradingEngine, book: Any, fills: Any) -> None:
            on_fills(self, book, fills)
            _die()

        TradingEngine._on_fill = stopping_on_fill  # type: ignore[method-assign]  # noqa: SLF001
        TradingEngine.on_fills = dying_on_fills  # type: ignore[method-assign]
    elif phase == "close":
        finish = TradingEngine.finish

        def finished_then_die(self: TradingEngine) -> Any:
            result = finish(self)
            _die()
            return result

        TradingEngine.finish = finished_then_die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown phase {phase!r}; one of {', '.join(PHASES)}")


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[2] != "--":
        raise SystemExit("usage: python -m tests.fakes.kill_at PHASE N -- CLI-ARGS...")
    install(argv[0], int(argv[1]))
    from applications.cli.main import main as cli_main
    sys.argv = ["sensequant", *argv[3:]]
    cli_main()


if __name__ == "__main__":
    main(sys.argv[1:])
