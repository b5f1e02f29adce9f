"""What every strategy is: bars (+ sentiment + optional model score) in, Signals out.

The same strategy object runs in backtest, paper and live. It reads bar history and
feature columns from a ``FeatureBook`` (``core.features``) at index ``i`` — the bar that
has just closed — so the decision code is identical whether the book was filled in
one vectorised pass (backtest) or bar by bar (live). Strategies never see the future:
only indices ``<= i`` may be read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from core.model import Direction, StrategyKind

if TYPE_CHECKING:
    from core.features.book import FeatureBook
    from ports.predictor import Prediction


@attrs.frozen(kw_only=True, slots=True)
class PositionView:
    """What a strategy may know about its current position in a symbol."""

    direction: Direction = Direction.FLAT
    quantity: int = 0
    entry_price: float = 0.0
    entry_index: int = -1
    entry_session: int = -1

    @property
    def is_flat(self) -> bool:
        return self.direction is Direction.FLAT


FLAT_POSITION = PositionView()


@attrs.frozen(kw_only=True, slots=True)
class Signal:
    """A strategy's decision on a closed bar.

    ``direction`` is the position the strategy wants: LONG or SHORT (enter, or keep if
    already there) or FLAT (exit if holding). ``stop_loss``/``take_profit`` are price
    levels attached to entries. ``features`` holds the indicator values at the decision
    (finite floats only), ``signals`` the component scores (technical, sentiment, model)
    and ``context`` the circumstances (time of day, session, position state).
    """

    direction: Direction
    confidence: float
    reason: str
    features: dict[str, float] = attrs.Factory(dict)
    signals: dict[str, Any] = attrs.Factory(dict)
    context: dict[str, Any] = attrs.Factory(dict)
    stop_loss: float | None = None
    take_profit: float | None = None

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be within [0, 1], got {self.confidence}")


@runtime_checkable
class Strategy(Protocol):
    """A trading strategy.

    ``decide`` is called once per closed bar of every symbol the strategy trades, with
    the book of that symbol, the index of the bar that just closed, the current
    position, the latest sentiment score (or ``None``) and the model prediction (or
    ``None`` when no predictor is configured). Returning ``None`` means "nothing to do".

    A strategy may also offer ``decision_bars(book) -> numpy bool array``: True on every
    bar where ``decide`` could return a signal for some position (False must guarantee
    ``None``, whatever the position). The backtest loop then skips the other bars while
    no order works and no position needs watching (``TradingEngine.run``).
    """

    name: str
    kind: StrategyKind

    def feature_spec(self) -> "dict[str, Any]":
        """The feature columns this strategy needs in its books (see ``core.features``)."""
        ...

    def decide(self, book: "FeatureBook", i: int, position: PositionView, sentiment: float | None,
               prediction: "Prediction | None") -> Signal | None:
        ...
