"""Intraday strategy on 1-minute bars: EMA trend + RSI filter + price vs session VWAP.

Timing (IST, all times are config fields)
-----------------------------------------
A decision is made when bar ``i`` closes, at ``end = start + interval``; the engine
fills market orders at the next bar's open, i.e. at ``end``.

- Entries are allowed on bar ``i`` when ``start >= entry_start`` (09:15),
  ``end <= last_entry`` (15:29) and ``end < square_off`` (15:29): the entry fills
  before the square-off time. With 1-minute bars the last bar that may enter is the one
  starting 15:27 (it closes 15:28, fills at the 15:28 open).
- Square-off: a position is closed with ``FLAT`` / reason ``"square_off"`` on the first
  bar whose ``end >= square_off``; for 1-minute bars that is the bar starting 15:28, so
  the exit fills at the open of the 15:29 bar. A position still open on a later
  session (a missed square-off, e.g. data ending early) is squared off on its first bar.

Rule
----
``trend = clip((ema_fast - ema_slow) / (trend_atr * atr))``,
``stretch = clip((close - vwap) / (vwap_atr * atr))``,
``momentum = clip((rsi - 50) / 20)``; the technical score is their weighted mean in
[-1, 1]. LONG when trend > 0, close > VWAP, ``rsi_long_min <= rsi <= rsi_overbought``
and score >= ``min_confidence``; SHORT (if ``allow_short``) is the mirror image.
Confidence is ``|score|`` (then the sentiment gate / model blend).

Entries are state-based: every bar on which the setup holds while flat. A *suppressed*
entry is reported once per setup (on the first bar of a run of bars where the same
setup holds, then ``None`` while it stays suppressed), so the event log records the
decision without a record per minute; if the gate lifts while the setup still holds,
the entry happens. A held position is exited (``FLAT``, reason ``"reversal"``) when
the EMA trend turns against it (by more than ``exit_trend_atr * ATR``; 0 by default).
Defaults (EMA 20/50) trade about 6-7 times a session on the shipped NIFTY 1-minute
sample; EMA 9/21 trades about twice as often.

Stops: ``StopConfig`` (default 0.5% stop, 1% target: ATR on 1-minute bars is too small
for ATR multiples to sit outside the noise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from core.errors import ConfigError
from core.features.indicators import ATR, EMA, RSI, VWAP, IndicatorSpec
from core.model import Direction, StrategyKind
from core.strategies.base import PositionView, Signal
from core.strategies.gate import SUPPRESSED, ModelBlendConfig, SentimentGateConfig, component_scores, gate_entry
from core.strategies.rules import StopConfig, all_finite, clip, hhmm_validator, parse_hhmm, signal_context

if TYPE_CHECKING:
    from core.features.book import FeatureBook
    from ports.predictor import Prediction


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise ValueError(f"IntradayConfig.{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class IntradayConfig:
    """Every threshold of :class:`IntradayStrategy` (times are IST ``"HH:MM"``)."""

    entry_start: str = attrs.field(default="09:15", validator=hhmm_validator)
    last_entry: str = attrs.field(default="15:29", validator=hhmm_validator)
    square_off: str = attrs.field(default="15:29", validator=hhmm_validator)
    ema_fast: int = 20
    ema_slow: int = 50
    rsi_period: int = 14
    atr_period: int = 14
    rsi_long_min: float = 50.0
    rsi_overbought: float = 70.0
    rsi_short_max: float = 50.0
    rsi_oversold: float = 30.0
    trend_atr: float = attrs.field(default=0.5, validator=_positive)
    vwap_atr: float = attrs.field(default=2.0, validator=_positive)
    weight_trend: float = 0.4
    weight_vwap: float = 0.3
    weight_rsi: float = 0.3
    min_confidence: float = 0.3
    exit_trend_atr: float = 0.0
    allow_short: bool = True
    stops: StopConfig = attrs.Factory(lambda: StopConfig(mode="percent", stop_loss=0.005, take_profit=0.01))
    model: ModelBlendConfig = attrs.Factory(ModelBlendConfig)

    def __attrs_post_init__(self) -> None:
        if self.ema_fast >= self.ema_slow:
            raise ValueError(f"IntradayConfig.ema_fast ({self.ema_fast}) must be shorter than ema_slow ({self.ema_slow})")
        if parse_hhmm(self.entry_start) >= parse_hhmm(self.square_off):
            raise ValueError(f"IntradayConfig.entry_start ({self.entry_start}) must be before square_off ({self.square_off})")
        if self.weight_trend + self.weight_vwap + self.weight_rsi <= 0:
            raise ValueError("IntradayConfig weights must not all be zero")


class IntradayStrategy:
    """EMA trend + RSI + session VWAP on intraday bars; flat by the square-off time."""

    kind = StrategyKind.INTRADAY

    def __init__(self, config: IntradayConfig | None = None, gate: SentimentGateConfig | None = None,
                 name: str = "intraday") -> None:
        self.config = config or IntradayConfig()
        self.gate = gate or SentimentGateConfig()
        self.name = name
        c = self.config
        self._fast = EMA(c.ema_fast)
        self._slow = EMA(c.ema_slow)
        self._rsi = RSI(c.rsi_period)
        self._atr = ATR(c.atr_period)
        self._vwap = VWAP()
        self._names = (self._fast.name, self._slow.name, self._rsi.name, self._atr.name, self._vwap.name)
        self._entry_start = parse_hhmm(c.entry_start)
        self._last_entry = parse_hhmm(c.last_entry)
        self._square_off = parse_hhmm(c.square_off)
        w = c.weight_trend + c.weight_vwap + c.weight_rsi
        self._w = (c.weight_trend / w, c.weight_vwap / w, c.weight_rsi / w)

    def feature_spec(self) -> dict[str, IndicatorSpec]:
        specs = (self._fast, self._slow, self._rsi, self._atr, self._vwap)
        return {s.name: s for s in specs}

    def entry_allowed(self, start_minute: int, end_minute: int) -> bool:
        """True when a bar starting/ending at these IST minutes may open a position."""
        return (start_minute >= self._entry_start and end_minute <= self._last_entry
                and end_minute < self._square_off)

    def must_square_off(self, end_minute: int) -> bool:
        """True when a position must be closed on a bar that ends at ``end_minute``."""
        return end_minute >= self._square_off

    def decide(self, book: "FeatureBook", i: int, position: PositionView, sentiment: float | None,
               prediction: "Prediction | None" = None) -> Signal | None:
        c = self.config
        if not book.interval.is_intraday:
            raise ConfigError(f"the intraday strategy needs intraday bars, but the book of {book.symbol} holds "
                              f"{book.interval.value} bars; trade daily bars with the swing strategy or load "
                              f"1-minute data for this book")
        end = book.bar_end_minute(i)
        session = book.session[i]
        if not position.is_flat:
            stale = position.entry_session >= 0 and position.entry_session != session
            if self.must_square_off(end) or stale:
                return Signal(direction=Direction.FLAT, confidence=1.0, reason="square_off",
                              features=book.features_at(i),
                              signals=component_scores(0.0, sentiment, prediction, None),
                              context=signal_context(book, i, position, square_off=c.square_off,
                                                     carried_over=stale))
        values = self._values(book, i)
        if values is None:
            return None
        fast, slow, rsi, atr, vwap, close, score = values

        if not position.is_flat:
            # Hysteresis: the EMAs must cross by exit_trend_atr * ATR before we give up.
            margin = c.exit_trend_atr * atr
            against = (fast < slow - margin) if position.direction is Direction.LONG else (fast > slow + margin)
            if against:
                return Signal(direction=Direction.FLAT, confidence=min(1.0, abs(score)), reason="reversal",
                              features=book.features_at(i),
                              signals=component_scores(score, sentiment, prediction, None),
                              context=signal_context(book, i, position))
            return None

        direction = self._setup(book, i, values)
        if direction is None:
            return None
        outcome = gate_entry(direction, min(1.0, abs(score)), score, sentiment, prediction, self.gate, c.model)
        sl, tp = c.stops.levels(direction, close, atr)
        context = signal_context(book, i, position)
        reason = f"{direction.value.lower()}: ema trend, rsi {rsi:.1f}, close vs vwap {close - vwap:+.2f}"
        if outcome.suppressed_by is not None:
            if i > 0 and self._setup(book, i - 1, self._values(book, i - 1)) is direction:
                return None  # this setup was already reported as suppressed on an earlier bar
            context[SUPPRESSED] = outcome.suppressed_by
            reason = outcome.reason or reason
        return Signal(direction=direction, confidence=outcome.confidence, reason=reason,
                      features=book.features_at(i), signals=outcome.signals, context=context,
                      stop_loss=sl, take_profit=tp)

    def _values(self, book: "FeatureBook", i: int) -> tuple[float, ...] | None:
        """``(ema_fast, ema_slow, rsi, atr, vwap, close, score)`` at bar ``i``; None in warm-up."""
        c = self.config
        f = book.features
        n_fast, n_slow, n_rsi, n_atr, n_vwap = self._names
        fast, slow, rsi, atr, vwap = f[n_fast][i], f[n_slow][i], f[n_rsi][i], f[n_atr][i], f[n_vwap][i]
        if not all_finite(fast, slow, rsi, atr, vwap) or atr <= 0:
            return None
        close = book.close[i]
        trend = clip((fast - slow) / (c.trend_atr * atr))
        stretch = clip((close - vwap) / (c.vwap_atr * atr))
        momentum = clip((rsi - 50.0) / 20.0)
        wt, wv, wr = self._w
        return fast, slow, rsi, atr, vwap, close, wt * trend + wv * stretch + wr * momentum

    def _setup(self, book: "FeatureBook", i: int, values: tuple[float, ...] | None) -> Direction | None:
        """The entry the rule wants at bar ``i`` (inside the window), before any gate."""
        if values is None or not self.entry_allowed(book.minute_of_day[i], book.bar_end_minute(i)):
            return None
        c = self.config
        fast, slow, rsi, _atr, vwap, close, score = values
        if fast > slow and close > vwap and c.rsi_long_min <= rsi <= c.rsi_overbought and score >= c.min_confidence:
            return Direction.LONG
        if (c.allow_short and fast < slow and close < vwap and c.rsi_oversold <= rsi <= c.rsi_short_max
                and -score >= c.min_confidence):
            return Direction.SHORT
        return None
