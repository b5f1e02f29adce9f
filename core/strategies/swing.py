"""Swing strategy on daily bars: SMA trend + RSI pullback, held 2-10 sessions.

Rule
----
Entry LONG when the trend is up (``sma_fast > sma_slow`` and ``close > sma_slow``) and
the short RSI (5 sessions by default, so it reacts to a few down days) has pulled back
to ``rsi_entry_max`` (40) or below. SHORT entries (only with
``allow_short``, off by default: NSE cash equities cannot be held short overnight) are
the mirror image (downtrend, RSI at or above ``100 - rsi_entry_max``).

``trend = clip((sma_fast/sma_slow - 1) / trend_scale, 0, 1)`` and
``pullback = clip((rsi_entry_max - rsi) / 20, 0, 1)``; the technical score is
``(trend + pullback) / 2`` and the confidence ``0.5 + 0.5*score`` (a setup that
qualifies is at least a coin flip; stronger trends and deeper pullbacks rank higher).

A suppressed entry (sentiment gate or model veto) is reported once per setup: on the
first session of a run of sessions where the same setup holds; if the gate lifts while
the setup still holds, the entry happens.

Holding period (see ``rules.sessions_held``: sessions from the entry bar to the
decision bar inclusive; the exit fills at the next open)
-------------------------------------------------------------------------------------
- ``held < min_hold_sessions``: no discretionary exit (SL/TP stay with the broker).
- ``held >= max_hold_sessions``: ``FLAT`` with reason ``"max_hold"``.
- otherwise exit (``FLAT``) when the trend breaks (``close < sma_slow`` for a long,
  reason ``"trend_break"``) or the RSI reaches ``rsi_exit`` (reason ``"rsi_exit"``).
Stops: ``StopConfig`` in ATR multiples (2x stop, 4x target by default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from core.features.indicators import ATR, RSI, SMA, IndicatorSpec
from core.model import Direction, StrategyKind
from core.strategies.base import PositionView, Signal
from core.strategies.gate import SUPPRESSED, ModelBlendConfig, SentimentGateConfig, component_scores, gate_entry
from core.strategies.rules import StopConfig, all_finite, clip, sessions_held, signal_context

if TYPE_CHECKING:
    from core.features.book import FeatureBook
    from ports.predictor import Prediction


@attrs.frozen(kw_only=True)
class SwingConfig:
    """Every threshold of :class:`SwingStrategy`."""

    min_hold_sessions: int = 2
    max_hold_sessions: int = 10
    sma_fast: int = 20
    sma_slow: int = 50
    rsi_period: int = 5
    atr_period: int = 14
    rsi_entry_max: float = 40.0
    rsi_exit: float = 70.0
    trend_scale: float = 0.05
    min_confidence: float = 0.5
    allow_short: bool = False
    stops: StopConfig = attrs.Factory(lambda: StopConfig(mode="atr", stop_loss=2.0, take_profit=4.0))
    model: ModelBlendConfig = attrs.Factory(ModelBlendConfig)

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.min_hold_sessions <= self.max_hold_sessions:
            raise ValueError(f"SwingConfig needs 1 <= min_hold_sessions ({self.min_hold_sessions}) "
                             f"<= max_hold_sessions ({self.max_hold_sessions})")
        if self.sma_fast >= self.sma_slow:
            raise ValueError(f"SwingConfig.sma_fast ({self.sma_fast}) must be shorter than sma_slow ({self.sma_slow})")
        if not self.trend_scale > 0:
            raise ValueError(f"SwingConfig.trend_scale must be > 0, got {self.trend_scale}")


class SwingStrategy:
    """SMA trend + RSI pullback on daily bars, 2-10 session holds."""

    kind = StrategyKind.SWING

    def __init__(self, config: SwingConfig | None = None, gate: SentimentGateConfig | None = None,
                 name: str = "swing") -> None:
        self.config = config or SwingConfig()
        self.gate = gate or SentimentGateConfig()
        self.name = name
        c = self.config
        self._fast = SMA(c.sma_fast)
        self._slow = SMA(c.sma_slow)
        self._rsi = RSI(c.rsi_period)
        self._atr = ATR(c.atr_period)
        self._names = (self._fast.name, self._slow.name, self._rsi.name, self._atr.name)

    def feature_spec(self) -> dict[str, IndicatorSpec]:
        return {s.name: s for s in (self._fast, self._slow, self._rsi, self._atr)}

    def decide(self, book: "FeatureBook", i: int, position: PositionView, sentiment: float | None,
               prediction: "Prediction | None" = None) -> Signal | None:
        c = self.config
        f = book.features
        n_fast, n_slow, n_rsi, n_atr = self._names
        fast, slow, rsi, atr = f[n_fast][i], f[n_slow][i], f[n_rsi][i], f[n_atr][i]
        close = book.close[i]

        if not position.is_flat:
            held = sessions_held(book, i, position)
            reason = None
            if held >= c.max_hold_sessions:
                reason = "max_hold"
            elif held >= c.min_hold_sessions and all_finite(slow, rsi):
                long = position.direction is Direction.LONG
                if (close < slow) if long else (close > slow):
                    reason = "trend_break"
                elif (rsi >= c.rsi_exit) if long else (rsi <= 100.0 - c.rsi_exit):
                    reason = "rsi_exit"
            if reason is None:
                return None
            return Signal(direction=Direction.FLAT, confidence=1.0, reason=reason,
                          features=book.features_at(i),
                          signals=component_scores(0.0, sentiment, prediction, None),
                          context=signal_context(book, i, position, sessions_held=held,
                                                 min_hold_sessions=c.min_hold_sessions,
                                                 max_hold_sessions=c.max_hold_sessions))

        setup = self._setup(book, i)
        if setup is None:
            return None
        direction, score, confidence = setup
        signed = score if direction is Direction.LONG else -score
        outcome = gate_entry(direction, confidence, signed, sentiment, prediction, self.gate, c.model)
        sl, tp = c.stops.levels(direction, close, atr)
        context = signal_context(book, i, position, sessions_held=0, hold_sessions_target=[
            c.min_hold_sessions, c.max_hold_sessions])
        reason = f"{direction.value.lower()}: sma trend {fast / slow - 1.0:+.2%}, rsi pullback {rsi:.1f}"
        if outcome.suppressed_by is not None:
            previous = self._setup(book, i - 1) if i > 0 else None
            if previous is not None and previous[0] is direction:
                return None  # this setup was already reported as suppressed on an earlier bar
            context[SUPPRESSED] = outcome.suppressed_by
            reason = outcome.reason or reason
        return Signal(direction=direction, confidence=outcome.confidence, reason=reason,
                      features=book.features_at(i), signals=outcome.signals, context=context,
                      stop_loss=sl, take_profit=tp)

    def _setup(self, book: "FeatureBook", i: int) -> tuple[Direction, float, float] | None:
        """``(direction, score, confidence)`` of the entry the rule wants at bar ``i``, before any gate."""
        c = self.config
        f = book.features
        n_fast, n_slow, n_rsi, n_atr = self._names
        fast, slow, rsi, atr = f[n_fast][i], f[n_slow][i], f[n_rsi][i], f[n_atr][i]
        close = book.close[i]
        if not all_finite(fast, slow, rsi, atr) or slow <= 0:
            return None
        if fast > slow and close > slow and rsi <= c.rsi_entry_max:
            direction = Direction.LONG
            trend = clip((fast / slow - 1.0) / c.trend_scale, 0.0, 1.0)
            pullback = clip((c.rsi_entry_max - rsi) / 20.0, 0.0, 1.0)
        elif c.allow_short and fast < slow and close < slow and rsi >= 100.0 - c.rsi_entry_max:
            direction = Direction.SHORT
            trend = clip((1.0 - fast / slow) / c.trend_scale, 0.0, 1.0)
            pullback = clip((rsi - (100.0 - c.rsi_entry_max)) / 20.0, 0.0, 1.0)
        else:
            return None
        score = 0.5 * (trend + pullback)
        confidence = 0.5 + 0.5 * score
        if confidence < c.min_confidence:
            return None
        return direction, score, confidence
