"""The JSON export of a view and number formatting."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from applications.analytics.metrics import (
    json_safe,
)
from applications.analytics.projections import (
    RunData,
)
from applications.dashboard.viewmodel.run import RunModel
from applications.dashboard.viewmodel.cards import StrategyCard, equity_curves
from applications.dashboard.viewmodel.alerts import DashboardAlert
from applications.dashboard.viewmodel.portfolio import BookState

# ------------------------------------------------------------------- export


def metrics_document(model: RunModel, view: RunData, *, cards: dict[str, StrategyCard],
                     alert_list: Sequence[DashboardAlert], filters: dict[str, Any], as_of_seq: int | None,
                     as_of_time: datetime | None, generated_at: datetime,
                     portfolio: Sequence[BookState] = ()) -> dict[str, Any]:
    """The JSON export: what the dashboard shows now (filters, replay point, cards, alerts,
    portfolio figures), strict JSON (no NaN/inf)."""
    curves = equity_curves(view)
    books = {}
    for book, group in curves.groupby("book") if len(curves) else []:
        books[str(book)] = {"sessions": int(len(group)), "final_equity": float(group["equity"].iloc[-1]),
                            "cum_return_pct": float(group["cum_return_pct"].iloc[-1]),
                            "max_drawdown_pct": float(group["drawdown_pct"].min())}
    doc = {
        "run_id": model.run_id, "mode": model.run.mode if model.run else None, "status": model.status,
        "generated_at": generated_at, "events_folded": model.events, "last_seq": model.last_seq,
        "as_of": {"seq": as_of_seq, "time": as_of_time},
        "filters": filters,
        "strategies": {name: card.to_dict() for name, card in cards.items()},
        "books": books,
        "portfolio": [{**attrs.asdict(b), "session_date": b.session_date.isoformat() if b.session_date else None}
                      for b in portfolio],
        "trades": int(len(view.trades)), "traces": int(len(view.traces)),
        "alerts": [attrs.asdict(a) for a in alert_list],
    }
    return json_safe(doc)


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x * 100:.{digits}f} %"
