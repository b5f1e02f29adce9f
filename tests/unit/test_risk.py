"""Risk caps (clip/reject) and the daily-loss circuit breaker."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from core.costs import ZeroCosts
from core.errors import ConfigError
from core.events import CircuitBreakerTripped, to_payload
from core.model import Direction, Side
from core.orders import Fill, Product
from core.portfolio import Portfolio
from core.risk import Brackets, PortfolioView, RiskConfig, RiskDecision, RiskManager, default_brackets

IST = timezone(timedelta(hours=5, minutes=30))
D1, D2 = date(2025, 6, 2), date(2025, 6, 3)


def portfolio_with(holdings: dict[str, tuple[int, int]], cash: int = 1_000_000_00) -> Portfolio:
    p = Portfolio(cash, ZeroCosts())
    for i, (sym, (qty, price)) in enumerate(holdings.items()):
        p.apply_fill(Fill(client_order_id=f"o{i}", trade_id=f"o{i}-F1", symbol=sym,
                          side=Side.BUY if qty > 0 else Side.SELL, quantity=abs(qty), price_paise=price,
                          filled_at=datetime(2025, 6, 2, 9, 15, tzinfo=IST)),
                     product=Product.INTRADAY, strategy="s")
    return p


class TestCaps:
    def test_portfolio_satisfies_the_view(self) -> None:
        assert isinstance(Portfolio(1, ZeroCosts()), PortfolioView)

    def test_within_caps_is_allowed_untouched(self) -> None:
        rm = RiskManager(RiskConfig(max_gross_exposure=1.0, max_position_fraction=0.25))
        d = rm.check_entry(symbol="A", quantity=100, price_paise=1_000_00, portfolio=portfolio_with({}))
        assert d == RiskDecision(allowed_quantity=100, reason="", requested_quantity=100)
        assert not d.rejected and not d.clipped

    def test_position_cap_clips_to_whole_shares(self) -> None:
        rm = RiskManager(RiskConfig(max_gross_exposure=1.0, max_position_fraction=0.25))
        # equity Rs10,00,000 -> 25% = Rs2,50,000 -> 249 shares at Rs1,001
        d = rm.check_entry(symbol="A", quantity=1_000, price_paise=1_001_00, portfolio=portfolio_with({}))
        assert d.allowed_quantity == 249 and d.clipped
        assert "position cap 0.25" in d.reason and "clipped from 1000 to 249" in d.reason

    def test_existing_position_counts_against_its_symbol(self) -> None:
        rm = RiskManager(RiskConfig(max_gross_exposure=1.0, max_position_fraction=0.25))
        p = portfolio_with({"A": (200, 1_000_00)})  # Rs2,00,000 of A, equity unchanged
        d = rm.check_entry(symbol="A", quantity=100, price_paise=1_000_00, portfolio=p)
        assert d.allowed_quantity == 50
        assert rm.check_entry(symbol="B", quantity=100, price_paise=1_000_00, portfolio=p).allowed_quantity == 100

    def test_gross_cap_counts_shorts_and_longs(self) -> None:
        rm = RiskManager(RiskConfig(max_gross_exposure=0.5, max_position_fraction=1.0))
        p = portfolio_with({"A": (200, 1_000_00), "B": (-200, 1_000_00)})  # gross Rs4,00,000
        d = rm.check_entry(symbol="C", quantity=500, price_paise=1_000_00, portfolio=p)
        assert d.allowed_quantity == 100 and "gross exposure cap 0.5" in d.reason

    def test_no_room_rejects_with_reason(self) -> None:
        rm = RiskManager(RiskConfig(max_gross_exposure=0.4, max_position_fraction=1.0))
        p = portfolio_with({"A": (400, 1_000_00)})
        d = rm.check_entry(symbol="C", quantity=5, price_paise=1_000_00, portfolio=p)
        assert d.rejected and d.allowed_quantity == 0 and d.reason.startswith("rejected: gross exposure cap")

    def test_disabled_caps_do_not_clip(self) -> None:
        rm = RiskManager(RiskConfig(max_gross_exposure=0.01, max_position_fraction=0.01,
                                    gross_exposure_enabled=False, position_limit_enabled=False))
        d = rm.check_entry(symbol="A", quantity=10_000, price_paise=1_000_00, portfolio=portfolio_with({}))
        assert d.allowed_quantity == 10_000

    def test_degenerate_requests(self) -> None:
        rm = RiskManager()
        p = portfolio_with({})
        assert rm.check_entry(symbol="A", quantity=0, price_paise=100, portfolio=p).rejected
        assert rm.check_entry(symbol="A", quantity=5, price_paise=0, portfolio=p).rejected
        broke = Portfolio(0, ZeroCosts())
        d = rm.check_entry(symbol="A", quantity=5, price_paise=100, portfolio=broke)
        assert d.rejected and "equity" in d.reason

    def test_negative_fraction_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="RiskConfig.daily_loss_cap must be"):
            RiskConfig(daily_loss_cap=-0.1)


class TestCircuitBreaker:
    def test_trips_once_at_the_cap_and_blocks_until_next_session(self) -> None:
        rm = RiskManager(RiskConfig(daily_loss_cap=0.02))
        rm.start_session(D1, 1_000_000_00)
        assert rm.daily_loss_limit_paise() == 20_000_00
        assert rm.update(980_000_01, D1) is None          # loss 19,999.99: below the cap
        event = rm.update(980_000_00, D1)                 # loss exactly the cap trips
        assert event == CircuitBreakerTripped(session_date=D1, daily_pnl_paise=-20_000_00,
                                              limit_paise=20_000_00, equity_paise=980_000_00)
        assert to_payload(event)["limit_paise"] == 20_000_00
        assert rm.entries_blocked
        assert rm.update(900_000_00, D1) is None          # only once per session
        d = rm.check_entry(symbol="A", quantity=1, price_paise=100, portfolio=portfolio_with({}))
        assert d.rejected and "circuit breaker" in d.reason
        rm.start_session(D2, 900_000_00)
        assert not rm.entries_blocked and rm.start_of_day_equity_paise == 900_000_00
        assert rm.check_entry(symbol="A", quantity=1, price_paise=100, portfolio=portfolio_with({})).allowed_quantity == 1

    def test_gains_never_trip(self) -> None:
        rm = RiskManager(RiskConfig(daily_loss_cap=0.0001))
        rm.start_session(D1, 100_00)
        assert rm.update(200_00, D1) is None and not rm.entries_blocked

    def test_update_on_a_new_date_starts_that_session(self) -> None:
        rm = RiskManager(RiskConfig(daily_loss_cap=0.05))
        rm.start_session(D1, 100_000_00)
        assert rm.update(90_000_00, D1) is not None
        assert rm.update(89_000_00, D2) is None            # new session opens at 89,000
        assert rm.session_date == D2 and not rm.entries_blocked
        assert rm.update(84_550_00, D2) is not None        # 5% of 89,000 = 4,450

    def test_disabled_breaker_never_trips(self) -> None:
        rm = RiskManager(RiskConfig(daily_loss_cap=0.01, circuit_breaker_enabled=False))
        rm.start_session(D1, 100_00)
        assert rm.update(1, D1) is None and not rm.entries_blocked


class TestDefaultBrackets:
    def test_long_and_short_levels(self) -> None:
        cfg = RiskConfig(default_stop_atr_multiple=2.0, default_target_atr_multiple=3.0)
        assert default_brackets(Direction.LONG, 100_00, 1.5, cfg) == Brackets(stop_loss_paise=97_00,
                                                                               take_profit_paise=104_50)
        assert default_brackets(Direction.SHORT, 100_00, 1.5, cfg) == Brackets(stop_loss_paise=103_00,
                                                                                take_profit_paise=95_50)

    @pytest.mark.parametrize("direction,atr", [(Direction.FLAT, 1.0), (Direction.LONG, 0.0),
                                               (Direction.LONG, float("nan")), (Direction.LONG, 60.0)])
    def test_none_when_undefined(self, direction: Direction, atr: float) -> None:
        assert default_brackets(direction, 100_00, atr, RiskConfig()) is None
