"""NSE cash-equity tick sizes and rounding prices onto the tick.

Tick-size history applied by :func:`tick_size_paise` (research notes §3):

* before 2024-06-10: Rs0.05 for every price;
* 2024-06-10 to 2025-04-14: Rs0.01 below Rs250, Rs0.05 from Rs250 up;
* from 2025-04-15, by price band (lower bound inclusive):

  ==================  =======
  price (Rs)          tick
  ==================  =======
  < 250               0.01
  250 - < 1,000       0.05
  1,000 - < 5,000     0.10
  5,000 - < 10,000    0.50
  10,000 - < 20,000   1.00
  >= 20,000           5.00
  ==================  =======

The exchange fixes a scrip's tick for a month from the previous month's last close;
a backtest has no such table, so the band is chosen from the price being rounded
(the approximation the Breeze SDK's ``tick_size_calculation`` also makes). Whether a
band's boundary price belongs to the lower or upper band is not stated in the sources;
lower bounds are treated as inclusive.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from core.model import Side

TICK_SUB_RUPEE_FROM = date(2024, 6, 10)
TICK_BANDS_FROM = date(2025, 4, 15)

# (lower bound in paise inclusive, tick in paise), ascending
_BANDS_2025: tuple[tuple[int, int], ...] = (
    (0, 1),
    (25_000, 5),
    (100_000, 10),
    (500_000, 50),
    (1_000_000, 100),
    (2_000_000, 500),
)


def tick_size_paise(price_paise: int, on: date) -> int:
    """NSE equity tick size (paise) for a price on a trading date."""
    if on < TICK_SUB_RUPEE_FROM:
        return 5
    if on < TICK_BANDS_FROM:
        return 1 if price_paise < 25_000 else 5
    tick = 1
    for lower, band_tick in _BANDS_2025:
        if price_paise >= lower:
            tick = band_tick
        else:
            break
    return tick


def round_to_tick(price: float | Decimal, tick_paise: int, side: Side | None = None) -> int:
    """Round a rupee price onto a multiple of ``tick_paise``; the result is paise.

    ``side=BUY`` rounds up and ``side=SELL`` rounds down (the adverse direction for a
    slippage-adjusted fill price: never better than the model said); ``None`` rounds to
    the nearest tick, halves away from zero. A float is read through its shortest
    ``repr`` so ``1000.05`` is exactly 100005 paise before rounding; a ``Decimal`` (rupees)
    is used as is.
    """
    if tick_paise <= 0:
        raise ValueError(f"tick size must be positive, got {tick_paise}")
    exact = price if isinstance(price, Decimal) else Decimal(repr(float(price)))
    if not exact.is_finite():
        raise ValueError(f"cannot round a non-finite price {price!r} to a tick")
    paise = exact * 100
    ticks = paise / tick_paise
    if side is None:
        mode = ROUND_HALF_UP
    else:
        mode = ROUND_CEILING if Side(side) is Side.BUY else ROUND_FLOOR
    return int(ticks.quantize(Decimal(1), rounding=mode)) * tick_paise


def round_paise_to_tick(price_paise: int, tick_paise: int, side: Side | None = None) -> int:
    """Like :func:`round_to_tick` for a price already in (whole) paise."""
    if tick_paise <= 0:
        raise ValueError(f"tick size must be positive, got {tick_paise}")
    if side is None:
        q, r = divmod(price_paise, tick_paise)
        return (q + (1 if 2 * r >= tick_paise else 0)) * tick_paise
    if Side(side) is Side.BUY:
        return -(-price_paise // tick_paise) * tick_paise
    return (price_paise // tick_paise) * tick_paise


__all__ = ["TICK_BANDS_FROM", "TICK_SUB_RUPEE_FROM", "round_paise_to_tick", "round_to_tick", "tick_size_paise"]
