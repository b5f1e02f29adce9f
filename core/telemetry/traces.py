"""Building and sampling prediction traces (telemetry spec 000/001, trades spec 004)."""

from __future__ import annotations

import random

import attrs

from core.model import Direction


@attrs.frozen(kw_only=True)
class TelemetryConfig:
    """Prediction-trace settings.

    ``sample_rate`` is the share of closed trades that get a trace; sampling draws from
    a generator seeded with ``seed``, so the same run traces the same trades.
    ``min_seconds_between`` throttles emission in live mode (0 = no throttle).
    ``intraday_threshold_pct``/``swing_threshold_pct``: a price move beyond these counts
    as an actual LONG/SHORT outcome, anything smaller as NOOP.
    """

    enabled: bool = True
    sample_rate: float = attrs.field(default=1.0, validator=attrs.validators.and_(
        attrs.validators.ge(0.0), attrs.validators.le(1.0)))
    seed: int = 42
    min_seconds_between: float = 0.0
    intraday_threshold_pct: float = 0.3
    swing_threshold_pct: float = 0.5


def actual_direction(price_move_pct: float, threshold_pct: float) -> str:
    """LONG if the price rose more than the threshold, SHORT if it fell more, else NOOP."""
    if price_move_pct > threshold_pct:
        return Direction.LONG.value
    if price_move_pct < -threshold_pct:
        return Direction.SHORT.value
    return "NOOP"


class TraceSampler:
    """Decides, deterministically, which closed trades get a trace.

    One random draw per closed trade whatever the rate, so changing the rate does not
    shift which later trades are drawn for other purposes.
    """

    def __init__(self, config: TelemetryConfig) -> None:
        self._config = config
        self._rng = random.Random(config.seed)
        self._last_emit_s: float | None = None
        self.emitted = 0
        self.skipped = 0

    def should_trace(self, now_s: float) -> bool:
        draw = self._rng.random()
        cfg = self._config
        take = cfg.enabled and (cfg.sample_rate >= 1.0 or draw < cfg.sample_rate)
        if take and cfg.min_seconds_between > 0 and self._last_emit_s is not None:
            take = now_s - self._last_emit_s >= cfg.min_seconds_between
        if take:
            self._last_emit_s = now_s
            self.emitted += 1
        else:
            self.skipped += 1
        return take
