"""NSE cash-equity costs and tick sizes, to the paisa."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest

from core.costs import (
    BrokerageConfig,
    BrokerageMode,
    CostConfig,
    CostModel,
    FeeBreakdown,
    FlatPercentCosts,
    NseEquityCosts,
    ZeroCosts,
    round_paise_to_tick,
    round_to_tick,
    tick_size_paise,
)
from core.errors import ConfigError
from core.events.codec import converter
from core.model import Side
from core.orders import Product

BUY, SELL = Side.BUY, Side.SELL


def round_trip(costs: CostModel, product: Product, **kw) -> FeeBreakdown:
    """Buy 100 @ Rs1000, sell 100 @ Rs1010 (the research notes' worked example)."""
    buy = costs.fees(side=BUY, quantity=100, price_paise=100_000, product=product)
    sell = costs.fees(side=SELL, quantity=100, price_paise=101_000, product=product, **kw)
    return buy + sell


class TestWorkedExample:
    costs = NseEquityCosts(CostConfig.without_brokerage())

    def test_delivery_total_is_rs_223_28(self) -> None:
        fees = round_trip(self.costs, Product.DELIVERY)
        assert fees.as_dict() == {"brokerage": 0, "stt": 20_100, "exchange_txn": 597, "sebi": 20,
                                  "stamp_duty": 1_500, "gst": 111, "dp_charge": 0, "total": 22_328}

    def test_intraday_total_is_rs_35_53(self) -> None:
        fees = round_trip(self.costs, Product.INTRADAY)
        assert fees.as_dict() == {"brokerage": 0, "stt": 2_525, "exchange_txn": 597, "sebi": 20,
                                  "stamp_duty": 300, "gst": 111, "dp_charge": 0, "total": 3_553}

    def test_per_side_components(self) -> None:
        buy = self.costs.fees(side=BUY, quantity=100, price_paise=100_000, product=Product.DELIVERY)
        sell = self.costs.fees(side=SELL, quantity=100, price_paise=101_000, product=Product.DELIVERY)
        # txn 0.00297% of 1,00,000 = 2.97; of 1,01,000 = 2.9997 -> 3.00
        assert (buy.exchange_txn, sell.exchange_txn) == (297, 300)
        # SEBI Rs10/crore: 0.10 and 0.101 -> 0.10
        assert (buy.sebi, sell.sebi) == (10, 10)
        # GST 18% of the rounded components: 0.18*3.07=0.5526 -> 0.55; 0.18*3.10=0.558 -> 0.56
        assert (buy.gst, sell.gst) == (55, 56)
        assert (buy.stamp_duty, sell.stamp_duty) == (1_500, 0)
        assert (buy.stt, sell.stt) == (10_000, 10_100)

    def test_intraday_stt_is_sell_only(self) -> None:
        buy = self.costs.fees(side=BUY, quantity=100, price_paise=100_000, product=Product.INTRADAY)
        assert buy.stt == 0 and buy.stamp_duty == 300

    def test_stt_rounded_to_rupee_when_configured(self) -> None:
        costs = NseEquityCosts(CostConfig.without_brokerage(stt_round_to_rupee=True))
        # delivery STT is already whole rupees; intraday 25.25 -> 25
        assert round_trip(costs, Product.DELIVERY).total == 22_328
        intraday = round_trip(costs, Product.INTRADAY)
        assert intraday.stt == 2_500 and intraday.total == 3_528
        # half a rupee rounds up: 0.025% of Rs2,000 = 0.50 -> Rs1
        half = costs.fees(side=SELL, quantity=1, price_paise=200_000, product=Product.INTRADAY)
        assert half.stt == 100


class TestDpCharge:
    costs = NseEquityCosts(CostConfig.without_brokerage())

    def test_delivery_sell_when_due_adds_rs20_plus_gst(self) -> None:
        without = self.costs.fees(side=SELL, quantity=100, price_paise=101_000, product=Product.DELIVERY)
        due = self.costs.fees(side=SELL, quantity=100, price_paise=101_000, product=Product.DELIVERY,
                              dp_charge_due=True)
        assert due.dp_charge == 2_000
        # GST now on 3.00 + 0.10 + 20.00 = 23.10 -> 4.158 -> 4.16
        assert due.gst == 416
        assert due.total - without.total == 2_000 + 416 - 56

    @pytest.mark.parametrize("side,product", [(BUY, Product.DELIVERY), (SELL, Product.INTRADAY),
                                              (BUY, Product.INTRADAY)])
    def test_never_on_buys_or_intraday(self, side: Side, product: Product) -> None:
        fees = self.costs.fees(side=side, quantity=10, price_paise=50_000, product=product, dp_charge_due=True)
        assert fees.dp_charge == 0


class TestBrokerage:
    def test_default_is_flat_rs20_per_order_both_products(self) -> None:
        costs = NseEquityCosts()
        for product in Product:
            fees = costs.fees(side=BUY, quantity=100, price_paise=100_000, product=product)
            assert fees.brokerage == 2_000
            # GST includes brokerage: 0.18 * (20 + 2.97 + 0.10) = 4.1526 -> 4.15
            assert fees.gst == 415

    def test_flat_fee_capped_at_2_5_percent_of_turnover(self) -> None:
        costs = NseEquityCosts()
        # 1 share at Rs100: 2.5% = Rs2.50 < Rs20
        assert costs.fees(side=BUY, quantity=1, price_paise=10_000, product=Product.INTRADAY).brokerage == 250

    def test_percent_with_min_and_max(self) -> None:
        cfg = BrokerageConfig(mode="percent", rate=0.0003, min_paise=500, max_paise=2_000)
        assert cfg.mode is BrokerageMode.PERCENT
        assert cfg.brokerage_paise(1_000_000) == 500        # 0.03% of Rs10k = Rs3 -> min Rs5
        assert cfg.brokerage_paise(5_000_000) == 1_500      # Rs15
        assert cfg.brokerage_paise(100_000_000) == 2_000    # Rs300 -> max Rs20
        assert cfg.brokerage_paise(1_234_567) == 500
        exact = BrokerageConfig(mode="percent", rate=0.0055, cap_rate=None)
        assert exact.brokerage_paise(1_234_567) == 6_790    # 6790.1185 -> 6790
        assert exact.brokerage_paise(1_000_100) == 5_501    # 5500.55 -> 5501 (half up)

    def test_product_specific_brokerage(self) -> None:
        cfg = CostConfig(delivery_brokerage=BrokerageConfig(mode="percent", rate=0.0055),
                         intraday_brokerage=BrokerageConfig(mode="percent", rate=0.00275))
        costs = NseEquityCosts(cfg)
        assert costs.fees(side=BUY, quantity=100, price_paise=100_000, product=Product.DELIVERY).brokerage == 55_000
        assert costs.fees(side=BUY, quantity=100, price_paise=100_000, product=Product.INTRADAY).brokerage == 27_500

    def test_negative_rates_are_rejected(self) -> None:
        with pytest.raises(ConfigError, match="CostConfig.delivery_stt_rate must be a number >= 0"):
            CostConfig(delivery_stt_rate=-0.001)
        with pytest.raises(ConfigError, match="sebi_rate"):
            CostConfig(sebi_rate=float("nan"))
        with pytest.raises(ConfigError, match="flat_paise"):
            BrokerageConfig(flat_paise=-1)


class TestConfigOverrides:
    def test_structures_from_a_config_mapping(self) -> None:
        cfg = converter.structure(
            {"delivery_stt_rate": 0.002, "stt_round_to_rupee": True,
             "intraday_brokerage": {"mode": "percent", "rate": 0.0003, "max_paise": 2000}}, CostConfig)
        assert cfg.delivery_stt_rate == 0.002 and cfg.stt_round_to_rupee
        assert cfg.intraday_brokerage.mode is BrokerageMode.PERCENT
        assert cfg.delivery_brokerage == BrokerageConfig()
        fees = NseEquityCosts(cfg).fees(side=BUY, quantity=100, price_paise=100_000, product=Product.DELIVERY)
        assert fees.stt == 20_000

    def test_defaults_are_the_2026_rates(self) -> None:
        cfg = CostConfig()
        assert (cfg.delivery_stt_rate, cfg.intraday_sell_stt_rate) == (0.001, 0.00025)
        assert cfg.exchange_txn_rate == 0.0000297 and cfg.sebi_rate == 0.000001
        assert (cfg.delivery_stamp_rate, cfg.intraday_stamp_rate) == (0.00015, 0.00003)
        assert cfg.gst_rate == 0.18 and cfg.dp_charge_paise == 2_000


class TestOtherModels:
    def test_flat_percent_is_exact_and_all_brokerage(self) -> None:
        costs = FlatPercentCosts(0.001)
        fees = costs.fees(side=BUY, quantity=100, price_paise=100_000, product=Product.INTRADAY)
        assert fees == FeeBreakdown(brokerage=10_000)
        # 7 * 12345 * 0.001 = 86.415 -> 86 ; 1 * 12500 * 0.001 = 12.5 -> 13 (half up)
        assert costs.fees(side=SELL, quantity=7, price_paise=12_345, product=Product.DELIVERY).total == 86
        assert costs.fees(side=SELL, quantity=1, price_paise=12_500, product=Product.DELIVERY).total == 13
        # float rates are read exactly: 0.1% of 3 x Rs333.35 = 1.00005 Rs -> 100.005 -> 100 paise
        assert costs.fees(side=BUY, quantity=3, price_paise=33_335, product=Product.DELIVERY).total == 100

    def test_zero_costs(self) -> None:
        assert ZeroCosts().fees(side=BUY, quantity=5, price_paise=100, product=Product.INTRADAY).total == 0

    def test_models_satisfy_the_protocol(self) -> None:
        for model in (NseEquityCosts(), FlatPercentCosts(0.001), ZeroCosts()):
            assert isinstance(model, CostModel)

    @pytest.mark.parametrize("quantity,price", [(0, 100), (-1, 100), (1, 0)])
    def test_rejects_nonsense(self, quantity: int, price: int) -> None:
        with pytest.raises(ValueError):
            NseEquityCosts().fees(side=BUY, quantity=quantity, price_paise=price, product=Product.INTRADAY)


def test_fees_match_an_independent_decimal_computation() -> None:
    """Random fills: every component equals a straightforward Decimal re-computation."""
    rng = random.Random(20260415)
    costs = NseEquityCosts()
    q = Decimal(1)

    def r(x: Decimal) -> int:
        return int(x.quantize(q, rounding="ROUND_HALF_UP"))

    for _ in range(2_000):
        side = rng.choice([BUY, SELL])
        product = rng.choice(list(Product))
        qty = rng.randint(1, 5_000)
        price = rng.randint(100, 5_000_000)
        due = rng.random() < 0.5
        fees = costs.fees(side=side, quantity=qty, price_paise=price, product=product, dp_charge_due=due)
        t = Decimal(qty * price)
        delivery = product is Product.DELIVERY
        brokerage = r(min(Decimal(2000), t * Decimal("0.025")))
        stt = r(t * Decimal("0.001")) if delivery else (r(t * Decimal("0.00025")) if side is SELL else 0)
        txn = r(t * Decimal("0.0000297"))
        sebi = r(t * Decimal("0.000001"))
        stamp = (r(t * Decimal("0.00015")) if delivery else r(t * Decimal("0.00003"))) if side is BUY else 0
        dp = 2000 if (delivery and side is SELL and due) else 0
        gst = r((brokerage + txn + sebi + dp) * Decimal("0.18"))
        assert fees == FeeBreakdown(brokerage=brokerage, stt=stt, exchange_txn=txn, sebi=sebi,
                                    stamp_duty=stamp, gst=gst, dp_charge=dp)
        assert fees.total == sum(v for k, v in fees.as_dict().items() if k != "total")


class TestTicks:
    @pytest.mark.parametrize("price_paise,tick", [
        (1, 1), (24_999, 1), (25_000, 5), (99_995, 5), (100_000, 10), (499_990, 10),
        (500_000, 50), (999_950, 50), (1_000_000, 100), (1_999_900, 100), (2_000_000, 500), (9_000_000, 500),
    ])
    def test_bands_from_2025_04_15(self, price_paise: int, tick: int) -> None:
        assert tick_size_paise(price_paise, date(2025, 4, 15)) == tick
        assert tick_size_paise(price_paise, date(2026, 1, 1)) == tick

    @pytest.mark.parametrize("price_paise,tick", [(24_999, 1), (25_000, 5), (2_000_000, 5)])
    def test_sub_rupee_rule_from_2024_06_10(self, price_paise: int, tick: int) -> None:
        assert tick_size_paise(price_paise, date(2024, 6, 10)) == tick
        assert tick_size_paise(price_paise, date(2025, 4, 14)) == tick

    @pytest.mark.parametrize("price_paise", [1, 10_000, 25_000, 3_000_000])
    def test_five_paise_before_2024_06_10(self, price_paise: int) -> None:
        assert tick_size_paise(price_paise, date(2024, 6, 9)) == 5
        assert tick_size_paise(price_paise, date(2019, 1, 1)) == 5

    def test_round_to_tick_directions(self) -> None:
        assert round_to_tick(1000.03, 5, Side.BUY) == 100_005
        assert round_to_tick(1000.03, 5, Side.SELL) == 100_000
        assert round_to_tick(1000.03, 5) == 100_005
        assert round_to_tick(1000.02, 5) == 100_000
        assert round_to_tick(1000.025, 5) == 100_005  # half rounds up (away from zero)
        assert round_to_tick(1234.56, 10, Side.BUY) == 123_460
        assert round_to_tick(1234.56, 10, Side.SELL) == 123_450
        assert round_to_tick(Decimal("1000.0001"), 1, Side.BUY) == 100_001

    def test_on_tick_floats_are_not_moved(self) -> None:
        # prices that are not exact in binary must not be pushed a tick by float error
        for paise in range(25_000, 40_000, 5):
            price = paise / 100
            assert round_to_tick(price, 5, Side.BUY) == paise
            assert round_to_tick(price, 5, Side.SELL) == paise
            assert round_to_tick(price, 5) == paise

    def test_round_paise_to_tick(self) -> None:
        assert round_paise_to_tick(100_003, 5, Side.BUY) == 100_005
        assert round_paise_to_tick(100_003, 5, Side.SELL) == 100_000
        assert round_paise_to_tick(100_002, 5) == 100_000
        assert round_paise_to_tick(100_003, 5) == 100_005
        assert round_paise_to_tick(100_000, 5, Side.BUY) == 100_000

    @pytest.mark.parametrize("bad", [float("nan"), float("inf")])
    def test_non_finite_price_is_an_error(self, bad: float) -> None:
        with pytest.raises(ValueError, match="non-finite"):
            round_to_tick(bad, 5)
        with pytest.raises(ValueError, match="tick size"):
            round_to_tick(1.0, 0)
