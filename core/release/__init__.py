"""Release rules: when a candidate may go live, and when a deployed release underperforms.

Pure functions over plain figures (no I/O, no clock): the audit turns candidate-vs-production
backtest figures into risk flags (spec 002 §9: a release is ``deployment_ready`` only when it
has none), and the monitor compares what a deployed release does during its heightened
monitoring window (spec §10: 48 h, tighter thresholds) with what its audit promised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import attrs


@attrs.frozen(kw_only=True)
class BookFigures:
    """What one strategy book achieved over the audit window (ratios as plain floats)."""

    strategy: str
    sharpe: float
    total_return_pct: float
    win_rate_pct: float
    max_drawdown_pct: float  # <= 0: the worst peak-to-trough fall of daily equity
    trades: int


@attrs.frozen(kw_only=True)
class AuditThresholds:
    """Spec 002 §9 risk-flag rules, plus the limits live trading itself would apply."""

    sharpe_drop: float = 0.2  # candidate Sharpe below production's by more than this
    win_rate_drop_pct: float = 5.0  # percentage points
    max_drawdown_pct: float = -20.0  # a drawdown deeper than this is flagged
    min_trades: int = 5  # fewer closed trades than this says nothing
    min_deflated_sharpe: float = 0.95  # probability the best trial's Sharpe is not luck

    def __attrs_post_init__(self) -> None:
        if self.max_drawdown_pct > 0:
            raise ValueError("max_drawdown_pct is a fall: give it as a negative percentage, e.g. -20")
        if self.min_trades < 0 or self.sharpe_drop < 0 or self.win_rate_drop_pct < 0:
            raise ValueError("audit thresholds must not be negative")


@attrs.frozen(kw_only=True)
class RiskFlag:
    code: str
    severity: str  # HIGH blocks deployment like every flag; the severity orders the summary
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message}


def risk_flags(candidate: Mapping[str, BookFigures], production: Mapping[str, BookFigures], *,
               thresholds: AuditThresholds = AuditThresholds(), gate_verdict: str | None = None,
               deflated_sharpe: float | None = None, live_refusal: str | None = None,
               model_integrity_error: str | None = None) -> list[RiskFlag]:
    """Every reason not to deploy ``candidate`` in place of ``production`` (per book)."""
    flags: list[RiskFlag] = []
    if not candidate:
        flags.append(RiskFlag(code="no_candidate_books", severity="HIGH",
                              message="the candidate backtest produced no strategy book"))
    for name, c in sorted(candidate.items()):
        if c.trades < thresholds.min_trades:
            flags.append(RiskFlag(code="too_few_trades", severity="MEDIUM",
                                  message=f"{name}: {c.trades} closed trades (< {thresholds.min_trades})"))
        if c.max_drawdown_pct < thresholds.max_drawdown_pct:
            flags.append(RiskFlag(code="drawdown_above_limit", severity="HIGH",
                                  message=f"{name}: max drawdown {c.max_drawdown_pct:.2f}% is deeper than "
                                          f"{thresholds.max_drawdown_pct:.2f}%"))
        p = production.get(name)
        if p is None:
            continue
        if c.sharpe < p.sharpe - thresholds.sharpe_drop:
            flags.append(RiskFlag(code="sharpe_degradation", severity="HIGH",
                                  message=f"{name}: Sharpe {c.sharpe:.2f} vs production {p.sharpe:.2f} "
                                          f"(drop > {thresholds.sharpe_drop:g})"))
        if c.win_rate_pct < p.win_rate_pct - thresholds.win_rate_drop_pct:
            flags.append(RiskFlag(code="win_rate_degradation", severity="MEDIUM",
                                  message=f"{name}: win rate {c.win_rate_pct:.1f}% vs production "
                                          f"{p.win_rate_pct:.1f}% (drop > {thresholds.win_rate_drop_pct:g} pts)"))
    if gate_verdict is not None and gate_verdict != "PROMOTE":
        flags.append(RiskFlag(code="promotion_gate_failed", severity="HIGH",
                              message=f"the model's latest promotion-gate verdict is {gate_verdict}"))
    if deflated_sharpe is not None and deflated_sharpe < thresholds.min_deflated_sharpe:
        flags.append(RiskFlag(code="deflated_sharpe_low", severity="HIGH",
                              message=f"deflated Sharpe ratio {deflated_sharpe:.3f} < "
                                      f"{thresholds.min_deflated_sharpe:g}: the best trial may be luck"))
    if live_refusal:
        flags.append(RiskFlag(code="live_would_refuse", severity="HIGH", message=live_refusal))
    if model_integrity_error:
        flags.append(RiskFlag(code="model_integrity", severity="HIGH", message=model_integrity_error))
    return flags


def deployment_ready(flags: Sequence[RiskFlag]) -> bool:
    """Spec 002 §9: ready only when the audit raised no risk flag at all."""
    return not flags


# ------------------------------------------------------------------ heightened monitoring


@attrs.frozen(kw_only=True)
class HeightenedThresholds:
    """What a deployed release must keep doing during its heightened window.

    Spec 002 §10 tightens alerting to 5 % in the first 48 hours; these are the figures
    (from the release's deployment plan when it has one, else derived from its audit)
    below which ``release_underperforming`` is raised.
    """

    min_win_rate_pct: float | None = None
    max_drawdown_pct: float | None = None  # negative; a deeper day-over-peak fall breaches
    max_loss_pct: float | None = None  # negative; the release's cumulative return floor

    def to_dict(self) -> dict[str, float | None]:
        return attrs.asdict(self)

    @classmethod
    def from_audit(cls, figures: Mapping[str, BookFigures], tolerance_pct: float = 5.0) -> "HeightenedThresholds":
        """Audit figures loosened by ``tolerance_pct`` points: the 5 % rule of the spec."""
        if not figures:
            return cls()
        win = min(f.win_rate_pct for f in figures.values())
        dd = min(f.max_drawdown_pct for f in figures.values())
        return cls(min_win_rate_pct=max(0.0, win - tolerance_pct), max_drawdown_pct=dd - tolerance_pct,
                   max_loss_pct=-tolerance_pct)

    @classmethod
    def from_plan(cls, plan: Mapping[str, object]) -> "HeightenedThresholds":
        """Thresholds of a deployment plan (``deployment_plan.json``: ``thresholds`` mapping)."""
        raw = plan.get("thresholds", plan)
        if not isinstance(raw, Mapping):
            raise ValueError("a deployment plan's thresholds must be a mapping")

        def num(*keys: str) -> float | None:
            for key in keys:
                value = raw.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    return float(value)
            return None

        dd = num("max_drawdown_pct")
        return cls(min_win_rate_pct=num("min_win_rate_pct", "win_rate_pct"),
                   max_drawdown_pct=-abs(dd) if dd is not None else None,
                   max_loss_pct=num("max_loss_pct"))


@attrs.frozen(kw_only=True)
class ObservedFigures:
    """What the release has done since it was deployed (across its sessions)."""

    trades: int
    win_rate_pct: float
    max_drawdown_pct: float
    total_return_pct: float


def underperformance(thresholds: HeightenedThresholds, observed: ObservedFigures, *,
                     min_trades_for_win_rate: int = 5) -> list[str]:
    """The breached thresholds, each as one sentence (empty: the release performs)."""
    breaches: list[str] = []
    if (thresholds.min_win_rate_pct is not None and observed.trades >= min_trades_for_win_rate
            and observed.win_rate_pct < thresholds.min_win_rate_pct):
        breaches.append(f"win rate {observed.win_rate_pct:.1f}% over {observed.trades} trades is below "
                        f"{thresholds.min_win_rate_pct:.1f}%")
    if thresholds.max_drawdown_pct is not None and observed.max_drawdown_pct < thresholds.max_drawdown_pct:
        breaches.append(f"drawdown {observed.max_drawdown_pct:.2f}% is deeper than {thresholds.max_drawdown_pct:.2f}%")
    if thresholds.max_loss_pct is not None and observed.total_return_pct < thresholds.max_loss_pct:
        breaches.append(f"return since deployment {observed.total_return_pct:.2f}% is below "
                        f"{thresholds.max_loss_pct:.2f}%")
    return breaches


@attrs.frozen(kw_only=True)
class MonitoringWindow:
    """The heightened-monitoring period that starts when a release is deployed."""

    deployed_at: datetime
    heightened_hours: float = 48.0

    @property
    def heightened_until(self) -> datetime:
        return self.deployed_at + timedelta(hours=self.heightened_hours)

    def mode_at(self, now: datetime) -> str:
        return "heightened" if now < self.heightened_until else "normal"

    def time_left(self, now: datetime) -> timedelta:
        return max(self.heightened_until - now, timedelta(0))


__all__ = ["AuditThresholds", "BookFigures", "HeightenedThresholds", "MonitoringWindow", "ObservedFigures",
           "RiskFlag", "deployment_ready", "risk_flags", "underperformance"]
