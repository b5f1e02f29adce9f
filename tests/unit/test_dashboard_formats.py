"""How the dashboard writes numbers: Indian digit grouping, signed percents, a true minus."""

from __future__ import annotations

from applications.dashboard.viewmodel import formats as fmt


def test_rupees_use_indian_grouping_and_a_true_minus():
    assert fmt.rupees(-621064) == "\u2212₹6,211"
    assert fmt.rupees(123456789, decimals=2) == "₹12,34,567.89"
    assert fmt.rupees(100000000) == "₹10,00,000"
    assert fmt.rupees(99_999) == "₹1,000"
    assert fmt.rupees(5000, signed=True) == "+₹50"
    assert fmt.rupees(None) == "n/a"
    assert fmt.indian_grouping(1234567890) == "1,23,45,67,890"


def test_percents_ratios_and_holds():
    assert fmt.signed_pct(-0.621) == "\u22120.62 %" and fmt.signed_pct(1.2) == "+1.20 %"
    assert fmt.signed_pct(0.0) == "0.00 %" and fmt.signed_pct(float("nan")) == "n/a"
    assert fmt.share(0.372) == "37.2 %"
    assert fmt.ratio(-0.0599) == "\u22120.06" and fmt.ratio(None) == "n/a"
    assert (fmt.hold(49), fmt.hold(90), fmt.hold(12020)) == ("49 min", "1.5 h", "8.3 days")
