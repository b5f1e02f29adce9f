"""The alerts panel: accuracy and risk alerts of a run view."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs
import pandas as pd

from applications.analytics.metrics import (
    AccuracyMetrics,
    DegradationThresholds,
    detect_degradation,
    rolling_vs_alltime,
)
from applications.analytics.projections import (
    RunData,
)
from applications.services.monitoring import AlertRow
from core.events.base import RecordedEvent
from core.events.catalog import (
    AlertRaised,
)
from applications.dashboard.viewmodel.cards import StrategyCard

SHARPE_ALERT_THRESHOLD = 0.5


# ------------------------------------------------------------------------ alerts


@attrs.frozen(kw_only=True)
class DashboardAlert:
    severity: str
    rule: str
    strategy: str
    message: str
    at: datetime | None = None
    # for alerts the monitor raised: open, acknowledged (by whom) or cleared
    status: str = ""


def alerts(run: RunData, cards: dict[str, StrategyCard], *, precision_threshold: float = 0.55,
           sharpe_threshold: float = SHARPE_ALERT_THRESHOLD, window: int = 100,
           thresholds: DegradationThresholds | None = None,
           raised: Iterable[tuple[RecordedEvent, AlertRaised]] = (),
           breaker_books: dict[int, str] | None = None,
           metrics: dict[str, tuple[AccuracyMetrics, AccuracyMetrics]] | None = None,
           monitored: Iterable[AlertRow] = ()) -> list[DashboardAlert]:
    """Every alert rule of the dashboard, worst first.

    - rolling precision of the card's label below ``precision_threshold``;
    - rolling Sharpe below ``sharpe_threshold``;
    - the analytics package's degradation rules (rolling vs all-time drops);
    - circuit-breaker trips (``breaker_books``: seq -> book that tripped, from the model)
      and ``AlertRaised`` events in the log;
    - ``monitored``: the alerts `sensequant monitor` raised about this run (its alert events,
      with their open / acknowledged / cleared status), so the page shows what was delivered.
    Strategies without a trace raise nothing.
    """
    out: list[DashboardAlert] = []
    for name, card in cards.items():
        if card.trades == 0:
            continue
        label = card.label
        if card.rolling["precision"] < precision_threshold:
            out.append(DashboardAlert(
                severity="warning", rule="precision", strategy=name,
                message=f"{name}: {label} precision {card.rolling['precision']:.1%} over the last "
                        f"{min(card.window, card.trades)} trades is below {precision_threshold:.0%} "
                        f"(all-time {card.alltime['precision']:.1%})"))
        if card.rolling["sharpe"] < sharpe_threshold:
            out.append(DashboardAlert(
                severity="warning", rule="sharpe", strategy=name,
                message=f"{name}: Sharpe {card.rolling['sharpe']:.2f} over the last "
                        f"{min(card.window, card.trades)} trades is below {sharpe_threshold:.2f} "
                        f"(all-time {card.alltime['sharpe']:.2f})"))
        if metrics and name in metrics and window == card.window:
            roll, alltime = metrics[name]
        else:
            roll, alltime = rolling_vs_alltime(run.traces[run.traces["strategy"] == name], window)
        for d in detect_degradation(roll, alltime, thresholds or DegradationThresholds(precision_label=label)):
            out.append(DashboardAlert(severity="warning", rule=f"degradation:{d.metric}", strategy=name,
                                      message=f"{name}: {d.message}"))
    b = run.breakers
    for row in b.itertuples(index=False) if len(b) else []:
        strategy = (breaker_books or {}).get(row.seq, "")
        out.append(DashboardAlert(
            severity="critical", rule="circuit_breaker", strategy=strategy,
            message=f"circuit breaker tripped on {row.session_date}: daily P&L ₹{row.daily_pnl_paise / 100:,.2f} "
                    f"past the limit ₹{row.limit_paise / 100:,.2f}", at=row.occurred_at.to_pydatetime()))
    for rec, ev in raised:
        out.append(DashboardAlert(severity=ev.severity, rule=f"raised:{ev.source}", strategy="",
                                  message=ev.message, at=rec.occurred_at))
    for row in monitored:
        status = row.status + (f" by {row.acknowledged_by}: {row.note}" if row.acknowledged_by else "")
        out.append(DashboardAlert(severity=row.severity, rule=f"monitor:{row.rule}", strategy=row.key.split(":")[-1]
                                  if row.key.count(":") >= 2 else "", message=row.message, at=row.raised_at,
                                  status=status))
    order = {"critical": 0, "error": 0, "warning": 1, "info": 2}
    # cleared monitor alerts last: they are history
    return sorted(out, key=lambda a: (a.status.startswith("cleared"), order.get(a.severity, 3)))


def alerts_frame(items: Sequence[DashboardAlert]) -> pd.DataFrame:
    cols = ["severity", "rule", "strategy", "message", "at", "status"]
    return pd.DataFrame([attrs.asdict(a) for a in items], columns=cols) if items else \
        pd.DataFrame({c: [] for c in cols})
