"""Cash, positions and P&L of one account, exact in int paise.

Accounting rules
----------------
* A position is signed: ``quantity > 0`` long, ``< 0`` short. Its ``cost_basis_paise``
  is signed too (what was paid for a long, minus what was received for a short), so
  ``unrealized = quantity * mark - cost_basis`` holds for both directions.
* A fill that reduces a position closes ``c`` shares and removes a pro-rata share of
  the basis, ``removed = basis * c / |quantity|`` truncated toward zero (the remainder
  stays with the open shares, so no paisa is ever lost). Realized gross P&L of the
  close is ``c * price - removed`` for a long and ``|removed| - c * price`` for a short.
* A fill larger than the open position flips it: it is split into a close of the
  whole position and an open of the rest at the fill price.
* Cash moves by ``-side * quantity * price - fees`` on every fill.
* Marks: ``mark(symbol, price)`` stores the last price; a fill also marks its symbol at
  the fill price. A position's value is ``quantity * round_half_up(price * 100)``.
* DP charge: due once per symbol per session date (IST date of ``filled_at``) on a
  delivery sell that reduces a long position.

Invariants (exact, every time): ``cash + positions_value == equity`` and
``initial_cash + realized_gross - fees_paid + unrealized == equity``.

One position per symbol: the ``strategy`` and ``product`` are those of the fill that
opened it; later fills of the same symbol by another strategy net against it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import attrs

from core.costs import CostModel, FeeBreakdown
from core.model import Side, rupees_to_paise
from core.orders import Fill, Product

IST = timezone(timedelta(hours=5, minutes=30), "IST")


def ist_session_date(moment: datetime) -> date:
    """The NSE session date (IST calendar date) of a tz-aware instant."""
    return moment.astimezone(IST).date()


@attrs.frozen(kw_only=True, slots=True)
class Position:
    """An open (or, in a ``FillOutcome``, just closed: quantity 0) position."""

    symbol: str
    quantity: int
    cost_basis_paise: int
    strategy: str
    opened_at: datetime | None
    product: Product

    @property
    def average_price_paise(self) -> int:
        """Average entry price (paise, floor) for display; the basis total is the exact figure."""
        if self.quantity == 0:
            return 0
        return abs(self.cost_basis_paise) // abs(self.quantity)

    @property
    def is_long(self) -> bool:
        return self.quantity > 0

    @property
    def is_short(self) -> bool:
        return self.quantity < 0

    def as_dict(self) -> dict[str, int]:
        return {"quantity": self.quantity, "cost_basis_paise": self.cost_basis_paise,
                "average_price_paise": self.average_price_paise}


@attrs.frozen(kw_only=True, slots=True)
class FillOutcome:
    """What one fill did to the book.

    ``realized_pnl_paise`` is gross of fees and comes only from the closed part.
    ``closed_quantity`` shares were closed at an average entry of
    ``closed_entry_price_paise`` (floor of basis/qty); ``opened_quantity`` shares opened or
    added. A flip has both. ``position_before`` is ``None`` when the symbol was flat.
    """

    fees: FeeBreakdown
    position_after: Position
    realized_pnl_paise: int
    cash_after_paise: int
    cash_before_paise: int = 0
    position_before: Position | None = None
    closed_quantity: int = 0
    opened_quantity: int = 0
    closed_basis_paise: int = 0
    dp_charged: bool = False

    @property
    def closed_entry_price_paise(self) -> int:
        return abs(self.closed_basis_paise) // self.closed_quantity if self.closed_quantity else 0

    @property
    def net_realized_pnl_paise(self) -> int:
        """Realized gross P&L minus this fill's fees."""
        return self.realized_pnl_paise - self.fees.total


def _truncate_div(numerator: int, denominator: int) -> int:
    """Integer division rounding toward zero (``denominator > 0``)."""
    q = abs(numerator) // denominator
    return q if numerator >= 0 else -q


class Portfolio:
    """The account book: cash, positions, marks, realized P&L and fees, all int paise."""

    def __init__(self, initial_cash_paise: int, cost_model: CostModel) -> None:
        if not isinstance(initial_cash_paise, int):
            raise TypeError(f"initial_cash_paise must be int paise, got {type(initial_cash_paise).__name__}")
        self.initial_cash_paise = initial_cash_paise
        self.cost_model = cost_model
        self._cash = initial_cash_paise
        self._realized = 0
        self._fees = 0
        self._positions: dict[str, Position] = {}
        self._prices: dict[str, float] = {}
        self._mark_paise: dict[str, int] = {}
        self._dp_charged: set[tuple[str, date]] = set()

    # ------------------------------------------------------------------ reading

    @property
    def cash_paise(self) -> int:
        return self._cash

    @property
    def realized_pnl_paise(self) -> int:
        """Realized P&L, gross of fees."""
        return self._realized

    @property
    def fees_paid_paise(self) -> int:
        return self._fees

    @property
    def positions(self) -> dict[str, Position]:
        """Open positions by symbol (a copy)."""
        return dict(self._positions)

    def position(self, symbol: str) -> Position | None:
        return self._positions.get(symbol)

    def quantity(self, symbol: str) -> int:
        pos = self._positions.get(symbol)
        return 0 if pos is None else pos.quantity

    @property
    def prices(self) -> dict[str, float]:
        """Last marked price (rupees) per symbol."""
        return dict(self._prices)

    def mark_price_paise(self, symbol: str) -> int | None:
        return self._mark_paise.get(symbol)

    def _mark_of(self, pos: Position) -> int:
        mark = self._mark_paise.get(pos.symbol)
        if mark is None:  # unreachable after a fill (fills mark), kept for safety
            return pos.average_price_paise
        return mark

    def position_value_paise(self, symbol: str) -> int:
        """Signed marked value of one position (0 when flat)."""
        pos = self._positions.get(symbol)
        return 0 if pos is None else pos.quantity * self._mark_of(pos)

    def symbol_exposure_paise(self, symbol: str) -> int:
        """Absolute marked value of one position (0 when flat)."""
        return abs(self.position_value_paise(symbol))

    def positions_value_paise(self) -> int:
        """Signed sum of ``quantity * mark`` (shorts count negative)."""
        return sum(pos.quantity * self._mark_of(pos) for pos in self._positions.values())

    def gross_exposure_paise(self) -> int:
        """Sum of ``|quantity| * mark`` over open positions."""
        return sum(abs(pos.quantity) * self._mark_of(pos) for pos in self._positions.values())

    def equity_paise(self) -> int:
        return self._cash + self.positions_value_paise()

    def unrealized_pnl_paise(self) -> int:
        return sum(pos.quantity * self._mark_of(pos) - pos.cost_basis_paise for pos in self._positions.values())

    def snapshot(self) -> dict:
        """Fields of the ``portfolio.snapshotted`` event (without ``session_date``)."""
        positions_value = self.positions_value_paise()
        return {
            "cash_paise": self._cash,
            "positions_value_paise": positions_value,
            "equity_paise": self._cash + positions_value,
            "realized_pnl_paise": self._realized,
            "unrealized_pnl_paise": self.unrealized_pnl_paise(),
            "fees_paid_paise": self._fees,
            "positions": {s: {**p.as_dict(), "mark_paise": self._mark_of(p)}
                          for s, p in sorted(self._positions.items())},
            "prices": {s: self._prices[s] for s in sorted(self._prices)},
        }

    # ------------------------------------------------------------------ writing

    def mark(self, symbol: str, price: float) -> None:
        """Record the last price (rupees) of ``symbol``."""
        if not (price == price) or price <= 0:
            raise ValueError(f"mark price of {symbol} must be a positive number, got {price!r}")
        self._prices[symbol] = float(price)
        self._mark_paise[symbol] = int(rupees_to_paise(price))

    def apply_fill(self, fill: Fill, *, product: Product, strategy: str) -> FillOutcome:
        """Book a fill: fees, cash, position (open/add/reduce/close/flip), realized P&L."""
        if fill.quantity <= 0:
            raise ValueError(f"fill {fill.trade_id}: quantity must be positive, got {fill.quantity}")
        if fill.price_paise <= 0:
            raise ValueError(f"fill {fill.trade_id}: price must be positive, got {fill.price_paise} paise")
        product = Product(product)
        side = Side(fill.side)
        price = fill.price_paise
        delta = side.sign * fill.quantity
        before = self._positions.get(fill.symbol)
        held = 0 if before is None else before.quantity
        basis = 0 if before is None else before.cost_basis_paise

        closing = 0
        if held != 0 and (held > 0) != (delta > 0):
            closing = min(abs(delta), abs(held))
        opening = fill.quantity - closing

        session = ist_session_date(fill.filled_at)
        dp_due = (product is Product.DELIVERY and side is Side.SELL and held > 0 and closing > 0
                  and (fill.symbol, session) not in self._dp_charged)
        fees = self.cost_model.fees(side=side, quantity=fill.quantity, price_paise=price,
                                    product=product, dp_charge_due=dp_due)
        if dp_due and fees.dp_charge:
            self._dp_charged.add((fill.symbol, session))

        realized = 0
        removed = 0
        quantity = held
        if closing:
            removed = _truncate_div(basis * closing, abs(held))
            if held > 0:
                realized = closing * price - removed
                quantity = held - closing
            else:
                realized = -removed - closing * price
                quantity = held + closing
            basis -= removed
        opened_at = None if before is None else before.opened_at
        pos_strategy = strategy if before is None else before.strategy
        pos_product = product if before is None else before.product
        if opening:
            if quantity == 0:  # fresh position (from flat or after the close half of a flip)
                opened_at, pos_strategy, pos_product = fill.filled_at, strategy, product
                basis = 0
            signed_open = side.sign * opening
            basis += signed_open * price
            quantity += signed_open

        cash_before = self._cash
        self._cash += -side.sign * fill.quantity * price - fees.total
        self._realized += realized
        self._fees += fees.total
        after = Position(symbol=fill.symbol, quantity=quantity, cost_basis_paise=basis if quantity else 0,
                         strategy=pos_strategy, opened_at=opened_at if quantity else None, product=pos_product)
        if quantity:
            self._positions[fill.symbol] = after
        else:
            self._positions.pop(fill.symbol, None)
        self._prices[fill.symbol] = price / 100
        self._mark_paise[fill.symbol] = price
        return FillOutcome(fees=fees, position_after=after, realized_pnl_paise=realized,
                           cash_after_paise=self._cash, cash_before_paise=cash_before,
                           position_before=before, closed_quantity=closing, opened_quantity=opening,
                           closed_basis_paise=removed, dp_charged=bool(dp_due and fees.dp_charge))


__all__ = ["FillOutcome", "IST", "Portfolio", "Position", "ist_session_date"]
