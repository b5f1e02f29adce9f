"""Position sizing methods, confidence scaling, Kelly cap, ATR risk, fixed quantity."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.sizing import PositionSizer, SizingConfig

E = 1_000_000_00   # Rs10,00,000 equity
P = 1_000_00       # Rs1,000 price


def size(cfg: SizingConfig, **kw) -> int:
    args = {"equity_paise": E, "price_paise": P, "confidence": 1.0, **kw}
    return PositionSizer(cfg).size(**args)


def test_fixed_notional_scaled_by_confidence() -> None:
    cfg = SizingConfig(method="fixed_notional", notional_paise=100_000_00)
    assert size(cfg) == 100
    assert size(cfg, confidence=0.55) == 55
    assert size(cfg, price_paise=3_000_00) == 33


def test_fixed_fraction_scaled_by_confidence() -> None:
    cfg = SizingConfig(method="fixed_fraction", fraction=0.1)
    assert size(cfg) == 100
    assert size(cfg, confidence=0.5) == 50
    assert size(SizingConfig(method="fixed_fraction", fraction=0.1, scale_by_confidence=False),
                confidence=0.5) == 100


def test_confidence_is_clipped_and_nan_is_zero() -> None:
    cfg = SizingConfig(method="fixed_fraction", fraction=0.1)
    assert size(cfg, confidence=1.7) == 100
    assert size(cfg, confidence=-0.3) == 0
    assert size(cfg, confidence=float("nan")) == 0


def test_capped_kelly() -> None:
    cfg = SizingConfig(method="kelly", kelly_cap=0.25)
    # w=0.6, b=2: 0.6 - 0.4/2 = 0.4 -> capped 0.25 -> Rs2,50,000 -> 250 shares
    assert size(cfg, win_rate=0.6, payoff_ratio=2.0) == 250
    # w=0.55, b=1: 0.10 -> 100 shares, times confidence 0.5 -> 50
    assert size(cfg, win_rate=0.55, payoff_ratio=1.0) == 100
    assert size(cfg, win_rate=0.55, payoff_ratio=1.0, confidence=0.5) == 50
    # negative edge -> 0
    assert size(cfg, win_rate=0.3, payoff_ratio=1.0) == 0
    assert PositionSizer.kelly_fraction(0.6, 2.0, 1.0) == pytest.approx(0.4)
    assert PositionSizer.kelly_fraction(0.6, 0.0, 1.0) == 0.0


def test_kelly_without_history_falls_back_to_fixed_fraction() -> None:
    cfg = SizingConfig(method="kelly", fraction=0.05)
    assert size(cfg) == 50 and size(cfg, win_rate=0.6) == 50


def test_atr_risk_sizing_times_confidence() -> None:
    cfg = SizingConfig(method="atr", atr_risk_fraction=0.01, atr_multiple=2.0)
    # budget Rs10,000; stop 2 x Rs12.5 = Rs25 per share -> 400 shares
    assert size(cfg, atr=12.5) == 400
    assert size(cfg, atr=12.5, confidence=0.5) == 200
    # higher volatility -> fewer shares
    assert size(cfg, atr=25.0) == 200


def test_atr_without_atr_falls_back_to_fixed_fraction() -> None:
    cfg = SizingConfig(method="atr", fraction=0.02)
    assert size(cfg) == 20 and size(cfg, atr=0.0) == 20 and size(cfg, atr=float("nan")) == 20


def test_never_more_than_max_notional() -> None:
    cfg = SizingConfig(method="atr", atr_risk_fraction=0.05, atr_multiple=1.0)
    assert size(cfg, atr=0.01) == E // P  # tiny ATR would ask for millions of shares
    assert size(SizingConfig(method="fixed_notional", notional_paise=10 * E, max_notional_fraction=0.5)) == 500


def test_fixed_quantity_for_the_reference_strategy() -> None:
    assert size(SizingConfig(method="fixed_quantity", fixed_quantity=100), confidence=0.1) == 100
    assert size(SizingConfig(method="fixed_fraction", fixed_quantity=100), confidence=0.1) == 100
    with pytest.raises(ConfigError, match="fixed_quantity"):
        SizingConfig(method="fixed_quantity")


def test_degenerate_inputs_give_zero() -> None:
    cfg = SizingConfig()
    assert size(cfg, price_paise=0) == 0
    assert size(cfg, equity_paise=-5) == 0


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="sizing.method 'martingale' is unknown"):
        SizingConfig(method="martingale")
    with pytest.raises(ConfigError, match="sizing.fraction"):
        SizingConfig(fraction=-0.1)


def test_result_is_whole_and_exact() -> None:
    # 0.1 * Rs10,00,000 / Rs333.33 = 300.003 -> 300, no float drift
    assert size(SizingConfig(method="fixed_fraction", fraction=0.1), price_paise=333_33) == 300
    assert size(SizingConfig(method="fixed_fraction", fraction=0.3), price_paise=300_00, equity_paise=300_00) == 0
    assert size(SizingConfig(method="fixed_fraction", fraction=0.3), price_paise=30_00, equity_paise=300_00) == 3
