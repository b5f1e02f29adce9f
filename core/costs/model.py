"""Transaction costs of NSE cash equity, exact to the paisa.

Rates (as of 2026, NSE cash segment; sources in the research notes §2):

================  ===========================  ===========================
Charge            Delivery (swing)             Intraday
================  ===========================  ===========================
STT               0.1% on buy and on sell       0.025% on sell only
NSE transaction   0.00297% of turnover, each side (from 2024-10-01)
SEBI fee          Rs10 per crore (0.0001%), each side
Stamp duty        0.015% on buy only            0.003% on buy only
GST               18% on brokerage + transaction charge + SEBI fee (+ DP charge)
DP charge         Rs20 per scrip per day on a delivery sell (plus GST); none intraday
Brokerage         configurable (flat per order or % of turnover, min/max, 2.5% cap)
================  ===========================  ===========================

Rounding (every component is computed in ``Decimal`` from the fill's turnover
``quantity * price_paise`` and rounded once, ROUND_HALF_UP):

* brokerage, transaction charge, SEBI fee, stamp duty: to the paisa, per fill.
* STT: to the paisa per fill by default. The exchange rounds STT to the nearest rupee on
  the contract note's aggregate per scrip, which a per-fill model cannot reproduce; the
  research notes' worked example (intraday STT Rs25.25) is reproduced only with paisa
  rounding, so that is the default. ``CostConfig.stt_round_to_rupee=True`` rounds each
  fill's STT to the rupee instead (delivery figures of the worked example are unchanged
  because 0.1% of a whole-rupee turnover is already whole rupees).
* GST: 18% of the *already rounded* brokerage + transaction + SEBI (+ DP) components,
  rounded to the paisa — the way a contract note levies it on the charged amounts.
* DP charge: a fixed amount (default Rs20) on a delivery sell when the caller says it is
  due (the first delivery sell of a scrip on a session day); its GST is in ``gst``.

Known simplification: a delivery buy and sell of the same scrip on the same day is
charged by the exchange as intraday; this model charges the product it is told.
"""

from __future__ import annotations

import enum
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol, runtime_checkable

import attrs

from core.errors import ConfigError
from core.model import Side
from core.orders import Product

_ONE = Decimal(1)
_HUNDRED = Decimal(100)


def _dec(value: float | int | str | Decimal) -> Decimal:
    """Exact decimal of a config rate: floats go through ``repr`` (shortest round trip)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def _round_paise(amount: Decimal) -> int:
    return int(amount.quantize(_ONE, rounding=ROUND_HALF_UP))


def _round_rupee_in_paise(amount_paise: Decimal) -> int:
    return int((amount_paise / _HUNDRED).quantize(_ONE, rounding=ROUND_HALF_UP)) * 100


def _non_negative(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is not None and (value != value or value < 0):  # type: ignore[operator]
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a number >= 0, got {value!r}")


@attrs.frozen(kw_only=True, slots=True)
class FeeBreakdown:
    """Fees of one fill, each component in int paise. ``total`` is their exact sum."""

    brokerage: int = 0
    stt: int = 0
    exchange_txn: int = 0
    sebi: int = 0
    stamp_duty: int = 0
    gst: int = 0
    dp_charge: int = 0

    @property
    def total(self) -> int:
        return (self.brokerage + self.stt + self.exchange_txn + self.sebi + self.stamp_duty
                + self.gst + self.dp_charge)

    def as_dict(self) -> dict[str, int]:
        """Components plus ``total``, for the ``order.filled`` event's ``fee_breakdown``."""
        return {
            "brokerage": self.brokerage, "stt": self.stt, "exchange_txn": self.exchange_txn,
            "sebi": self.sebi, "stamp_duty": self.stamp_duty, "gst": self.gst,
            "dp_charge": self.dp_charge, "total": self.total,
        }

    def __add__(self, other: "FeeBreakdown") -> "FeeBreakdown":
        if not isinstance(other, FeeBreakdown):
            return NotImplemented
        return FeeBreakdown(**{f: getattr(self, f) + getattr(other, f) for f in _FEE_FIELDS})


_FEE_FIELDS = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst", "dp_charge")
ZERO_FEES = FeeBreakdown()


@runtime_checkable
class CostModel(Protocol):
    """Fees charged for one fill."""

    def fees(self, *, side: Side, quantity: int, price_paise: int, product: Product,
             dp_charge_due: bool = False) -> FeeBreakdown:
        """Fees of ``quantity`` shares at ``price_paise`` (already on the tick).

        ``dp_charge_due`` is true on the first delivery sell of a scrip on a session day.
        """
        ...


class BrokerageMode(str, enum.Enum):
    """How a broker prices an executed order."""

    FLAT = "flat"          # a fixed amount per executed order
    PERCENT = "percent"    # a fraction of turnover, with optional min/max per order


@attrs.frozen(kw_only=True, slots=True)
class BrokerageConfig:
    """Brokerage of one product.

    ``flat``: ``flat_paise`` per executed order. ``percent``: ``rate`` x turnover, raised
    to ``min_paise`` and lowered to ``max_paise`` when those are set. In both modes the
    result is capped at ``cap_rate`` x turnover (SEBI: brokerage may not exceed 2.5% of
    the trade value), which keeps the flat fee sane on tiny orders.
    """

    mode: BrokerageMode = attrs.field(default=BrokerageMode.FLAT, converter=BrokerageMode)
    flat_paise: int = attrs.field(default=2000, validator=_non_negative)
    rate: float = attrs.field(default=0.0, validator=_non_negative)
    min_paise: int | None = attrs.field(default=None, validator=_non_negative)
    max_paise: int | None = attrs.field(default=None, validator=_non_negative)
    cap_rate: float | None = attrs.field(default=0.025, validator=_non_negative)

    def brokerage_paise(self, turnover_paise: int) -> int:
        """Brokerage of one order with this turnover, rounded to the paisa (half up)."""
        if self.mode is BrokerageMode.FLAT and self.flat_paise == 0:
            return 0
        turnover = Decimal(turnover_paise)
        if self.mode is BrokerageMode.FLAT:
            amount = Decimal(self.flat_paise)
        else:
            amount = turnover * _dec(self.rate)
            if self.min_paise is not None:
                amount = max(amount, Decimal(self.min_paise))
            if self.max_paise is not None:
                amount = min(amount, Decimal(self.max_paise))
        if self.cap_rate is not None:
            amount = min(amount, turnover * _dec(self.cap_rate))
        return _round_paise(amount)


def _zero_brokerage() -> BrokerageConfig:
    return BrokerageConfig(mode=BrokerageMode.FLAT, flat_paise=0)


@attrs.frozen(kw_only=True, slots=True)
class CostConfig:
    """Every rate of the NSE cash-equity cost model; defaults are the 2026 values.

    Rates are plain fractions (``0.001`` = 0.1%); they are converted to ``Decimal`` via
    their shortest ``repr`` so ``0.0000297`` is exactly 0.00297%. Config files override
    any field (``[costs] delivery_stt_rate = 0.001``).

    Default brokerage: a flat Rs20 per executed order for both products (discount-broker
    pricing, e.g. ICICI Neo intraday), capped at 2.5% of turnover. ICICI's plans differ
    (I-Secure 0.55% delivery / 0.275% intraday); set ``*_brokerage`` to match yours and
    check it against Breeze ``preview_order``.
    """

    delivery_stt_rate: float = attrs.field(default=0.001, validator=_non_negative)
    intraday_sell_stt_rate: float = attrs.field(default=0.00025, validator=_non_negative)
    stt_round_to_rupee: bool = False
    exchange_txn_rate: float = attrs.field(default=0.0000297, validator=_non_negative)
    sebi_rate: float = attrs.field(default=0.000001, validator=_non_negative)  # Rs10 per crore
    delivery_stamp_rate: float = attrs.field(default=0.00015, validator=_non_negative)
    intraday_stamp_rate: float = attrs.field(default=0.00003, validator=_non_negative)
    gst_rate: float = attrs.field(default=0.18, validator=_non_negative)
    dp_charge_paise: int = attrs.field(default=2000, validator=_non_negative)
    intraday_brokerage: BrokerageConfig = attrs.field(factory=BrokerageConfig)
    delivery_brokerage: BrokerageConfig = attrs.field(factory=BrokerageConfig)

    @classmethod
    def without_brokerage(cls, **overrides: object) -> "CostConfig":
        """Statutory charges only (brokerage zero), as in the research notes' worked example."""
        return cls(intraday_brokerage=_zero_brokerage(), delivery_brokerage=_zero_brokerage(),
                   **overrides)  # type: ignore[arg-type]


@attrs.frozen(slots=True)
class _Rates:
    """``CostConfig`` rates as exact decimals, computed once per cost model."""

    delivery_stt: Decimal
    intraday_sell_stt: Decimal
    exchange_txn: Decimal
    sebi: Decimal
    delivery_stamp: Decimal
    intraday_stamp: Decimal
    gst: Decimal

    @classmethod
    def of(cls, cfg: CostConfig) -> "_Rates":
        return cls(_dec(cfg.delivery_stt_rate), _dec(cfg.intraday_sell_stt_rate), _dec(cfg.exchange_txn_rate),
                   _dec(cfg.sebi_rate), _dec(cfg.delivery_stamp_rate), _dec(cfg.intraday_stamp_rate),
                   _dec(cfg.gst_rate))


@attrs.frozen(slots=True)
class NseEquityCosts:
    """Exact NSE cash-equity costs (see the module docstring for rates and rounding)."""

    config: CostConfig = attrs.field(factory=CostConfig)
    _rates: _Rates = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_rates", _Rates.of(self.config))

    def fees(self, *, side: Side, quantity: int, price_paise: int, product: Product,
             dp_charge_due: bool = False) -> FeeBreakdown:
        if quantity <= 0 or price_paise <= 0:
            raise ValueError(f"fees need a positive quantity and price, got {quantity} @ {price_paise} paise")
        cfg = self.config
        rates = self._rates
        is_delivery = Product(product) is Product.DELIVERY
        is_buy = Side(side) is Side.BUY
        turnover_paise = quantity * price_paise
        turnover = Decimal(turnover_paise)

        brokerage_cfg = cfg.delivery_brokerage if is_delivery else cfg.intraday_brokerage
        brokerage = brokerage_cfg.brokerage_paise(turnover_paise)

        if is_delivery:
            stt_exact = turnover * rates.delivery_stt
        else:
            stt_exact = Decimal(0) if is_buy else turnover * rates.intraday_sell_stt
        stt = _round_rupee_in_paise(stt_exact) if cfg.stt_round_to_rupee else _round_paise(stt_exact)

        exchange_txn = _round_paise(turnover * rates.exchange_txn)
        sebi = _round_paise(turnover * rates.sebi)
        if is_buy:
            stamp_duty = _round_paise(turnover * (rates.delivery_stamp if is_delivery else rates.intraday_stamp))
        else:
            stamp_duty = 0
        dp_charge = cfg.dp_charge_paise if (is_delivery and not is_buy and dp_charge_due) else 0
        gst = _round_paise(Decimal(brokerage + exchange_txn + sebi + dp_charge) * rates.gst)
        return FeeBreakdown(brokerage=brokerage, stt=stt, exchange_txn=exchange_txn, sebi=sebi,
                            stamp_duty=stamp_duty, gst=gst, dp_charge=dp_charge)


@attrs.frozen(slots=True)
class FlatPercentCosts:
    """One flat rate of turnover per fill, all booked as ``brokerage``.

    ``fee = quantity * price_paise * rate`` in exact decimal arithmetic, rounded to the
    paisa (half up). Used by the reference strategy peer check (0.1% per side).
    """

    rate: float = attrs.field(default=0.001, validator=_non_negative)

    def fees(self, *, side: Side, quantity: int, price_paise: int, product: Product,
             dp_charge_due: bool = False) -> FeeBreakdown:
        if quantity <= 0 or price_paise <= 0:
            raise ValueError(f"fees need a positive quantity and price, got {quantity} @ {price_paise} paise")
        return FeeBreakdown(brokerage=_round_paise(Decimal(quantity) * Decimal(price_paise) * _dec(self.rate)))


@attrs.frozen(slots=True)
class ZeroCosts:
    """No costs at all (for tests and frictionless comparisons)."""

    def fees(self, *, side: Side, quantity: int, price_paise: int, product: Product,
             dp_charge_due: bool = False) -> FeeBreakdown:
        return ZERO_FEES


__all__ = [
    "BrokerageConfig", "BrokerageMode", "CostConfig", "CostModel", "FeeBreakdown", "FlatPercentCosts",
    "NseEquityCosts", "ZERO_FEES", "ZeroCosts",
]
