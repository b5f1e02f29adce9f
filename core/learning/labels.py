"""Forward-return labels LONG / SHORT / NOOP, computed without look-ahead into features.

A label at bar ``t`` answers: "from the close of bar ``t``, did price move more than the
strategy's threshold by the end of the horizon?"  It reads only the close of ``t`` and of
the exit bar (``t+1 .. t+h``); the features paired with it (``core.learning.dataset``)
read only bars ``<= t``. Thresholds follow the strategies' definition of an actual move:
0.3 % for intraday over ``N`` bars of the same session (intraday positions never cross
the close), 0.5 % for swing over ``N`` sessions.
"""

from __future__ import annotations

import enum

import attrs
import numpy as np

from core.model import IST_OFFSET_NS, NS_PER_DAY, BarSeries, StrategyKind


class LabelClass(str, enum.Enum):
    """What happened after a bar, in the classes every model predicts."""

    LONG = "LONG"
    SHORT = "SHORT"
    NOOP = "NOOP"


#: Fixed class order: model outputs and confusion matrices use these indices.
CLASS_ORDER: tuple[str, ...] = (LabelClass.LONG.value, LabelClass.SHORT.value, LabelClass.NOOP.value)
LONG, SHORT, NOOP = 0, 1, 2
#: Code for a bar with no label (horizon runs past the data or the session).
UNLABELLED = -1


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise ValueError(f"LabelConfig.{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class LabelConfig:
    """How a forward move becomes a class.

    Parameters
    ----------
    kind
        ``INTRADAY``: the horizon counts bars and must end in the same session.
        ``SWING``: the horizon counts sessions; the exit is the last bar of session ``s+N``.
    threshold
        Fractional move (0.003 = 0.3 %). ``r > threshold`` is LONG, ``r < -threshold``
        SHORT, anything else NOOP.
    horizon
        Bars (intraday) or sessions (swing) ahead.
    max_abs_return
        Optional cap: a forward move larger than this (e.g. a split or bonus issue in
        unadjusted data) leaves the bar unlabelled instead of teaching a false move.
    """

    kind: StrategyKind
    threshold: float = attrs.field(validator=_positive)
    horizon: int = attrs.field(validator=_positive)
    max_abs_return: float | None = attrs.field(default=None)

    @classmethod
    def intraday(cls, *, horizon: int = 6, threshold: float = 0.003,
                 max_abs_return: float | None = None) -> "LabelConfig":
        """Intraday default: 0.3 % within ``horizon`` bars of the same session."""
        return cls(kind=StrategyKind.INTRADAY, threshold=threshold, horizon=horizon, max_abs_return=max_abs_return)

    @classmethod
    def swing(cls, *, horizon: int = 5, threshold: float = 0.005,
              max_abs_return: float | None = None) -> "LabelConfig":
        """Swing default: 0.5 % over ``horizon`` sessions."""
        return cls(kind=StrategyKind.SWING, threshold=threshold, horizon=horizon, max_abs_return=max_abs_return)

    @classmethod
    def for_kind(cls, kind: StrategyKind, **overrides: float) -> "LabelConfig":
        """The default configuration of a strategy kind, with optional overrides."""
        factory = cls.intraday if kind is StrategyKind.INTRADAY else cls.swing
        return factory(**overrides)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "threshold": self.threshold, "horizon": self.horizon,
                "max_abs_return": self.max_abs_return}


def session_ids(start_ns: np.ndarray) -> np.ndarray:
    """Session (IST calendar day) number of each bar start, as int64 days since the epoch."""
    return (np.asarray(start_ns, dtype=np.int64) + IST_OFFSET_NS) // NS_PER_DAY


def exit_indices(start_ns: np.ndarray, config: LabelConfig) -> np.ndarray:
    """Index of the bar whose close ends each bar's horizon, or ``UNLABELLED``.

    Intraday: ``t + horizon`` if that bar is in the same session as ``t``.
    Swing: the last bar of the ``horizon``-th session after ``t``'s session, if the
    data reaches it (sessions are counted by trading days present in the data).
    """
    start_ns = np.asarray(start_ns, dtype=np.int64)
    n = start_ns.shape[0]
    out = np.full(n, UNLABELLED, dtype=np.int64)
    if n == 0:
        return out
    sessions = session_ids(start_ns)
    if config.kind is StrategyKind.INTRADAY:
        idx = np.arange(n) + config.horizon
        ok = idx < n
        same = np.zeros(n, dtype=bool)
        same[ok] = sessions[idx[ok]] == sessions[ok]
        out[same] = idx[same]
        return out
    # Swing: rank sessions 0..S-1, find the last bar of each, step `horizon` sessions.
    change = np.empty(n, dtype=bool)
    change[0] = True
    change[1:] = sessions[1:] != sessions[:-1]
    rank = np.cumsum(change) - 1
    last_bar_of_rank = np.append(np.flatnonzero(change)[1:] - 1, n - 1)
    target = rank + config.horizon
    ok = target < last_bar_of_rank.shape[0]
    out[ok] = last_bar_of_rank[target[ok]]
    return out


def forward_returns(close: np.ndarray, exits: np.ndarray) -> np.ndarray:
    """``close[exit] / close[t] - 1`` per bar; NaN where there is no exit bar."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(close.shape[0], np.nan)
    ok = exits >= 0
    out[ok] = close[exits[ok]] / close[ok] - 1.0
    return out


def classify_returns(returns: np.ndarray, threshold: float) -> np.ndarray:
    """Class codes (``LONG``/``SHORT``/``NOOP``) of fractional returns; NaN -> ``UNLABELLED``."""
    returns = np.asarray(returns, dtype=np.float64)
    codes = np.full(returns.shape[0], NOOP, dtype=np.int64)
    codes[returns > threshold] = LONG
    codes[returns < -threshold] = SHORT
    codes[~np.isfinite(returns)] = UNLABELLED
    return codes


def classify_return(value: float, threshold: float) -> LabelClass:
    """The class of one fractional return."""
    if value > threshold:
        return LabelClass.LONG
    if value < -threshold:
        return LabelClass.SHORT
    return LabelClass.NOOP


@attrs.frozen(kw_only=True, eq=False)
class Labels:
    """Per-bar labels of one series: class codes, forward returns and the exit bar index."""

    codes: np.ndarray
    forward_return: np.ndarray
    exit_index: np.ndarray
    config: LabelConfig

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of bars that have a label."""
        return self.codes != UNLABELLED

    def counts(self) -> dict[str, int]:
        """How many bars fell in each class (unlabelled bars excluded)."""
        return {name: int(np.count_nonzero(self.codes == code)) for code, name in enumerate(CLASS_ORDER)}


def make_labels(series: BarSeries, config: LabelConfig) -> Labels:
    """Label every bar of ``series`` by its forward close-to-close return.

    The label of bar ``t`` reads ``close[t]`` and ``close[exit]`` with
    ``t < exit <= t + horizon`` (bars or sessions); nothing before ``t`` and nothing
    after the exit bar. Bars whose horizon runs past the data (or whose move exceeds
    ``max_abs_return``) are ``UNLABELLED``.
    """
    exits = exit_indices(series.start_ns, config)
    fwd = forward_returns(series.close, exits)
    if config.max_abs_return is not None:
        too_big = np.abs(fwd) > config.max_abs_return
        fwd[too_big] = np.nan
        exits = np.where(too_big, UNLABELLED, exits)
    return Labels(codes=classify_returns(fwd, config.threshold), forward_return=fwd, exit_index=exits,
                  config=config)
