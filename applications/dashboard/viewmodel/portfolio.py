"""The portfolio at the replay point and the LIVE/HISTORICAL badge."""

from __future__ import annotations

from datetime import date, datetime

import attrs
import numpy as np
import pandas as pd

from applications.analytics.metrics import (
    detect_live,
)
from applications.analytics.projections import (
    RunData,
)
from applications.dashboard.viewmodel.run import RunModel
from applications.dashboard.viewmodel.cards import _initial_cash

# ------------------------------------------------------- portfolio at a point


@attrs.frozen(kw_only=True)
class BookState:
    """One book at a replay point: cash and open positions after the last fill before it,
    and the last end-of-session valuation before it."""

    book: str
    cash_paise: int
    realized_pnl_paise: int
    positions: dict[str, dict[str, int]]
    last_fill_at: datetime | None
    session_date: date | None
    equity_paise: int | None
    positions_value_paise: int | None


def portfolio_at(model: RunModel, view: RunData, *, seq: int | None = None,
                 until: datetime | None = None) -> list[BookState]:
    """Every book's cash and positions as of the replay point (``PositionChanged``, the
    engine's own record after each fill) next to its last snapshot before that point
    (``view`` is the run already cut with ``as_of``)."""
    pc = model.position_changes
    if len(pc):
        mask = np.ones(len(pc), dtype=bool)
        if seq is not None:
            mask &= (pc["seq"] <= seq).to_numpy()
        if until is not None:
            mask &= (pc["occurred_at"] <= pd.Timestamp(until).tz_convert("UTC")).to_numpy()
        pc = pc.loc[mask]
    initial = _initial_cash(view) if len(view.portfolio) else {}
    started = model.data.started.get(model.run_id or "")
    if started is not None and isinstance(started.config, dict):
        initial = {**{str(k): int(v) for k, v in started.config.get("initial_cash_paise_by_book", {}).items()},
                   **initial}
    snaps = view.portfolio
    books = sorted(set(initial) | set(pc["book"]) | (set(snaps["book"]) if len(snaps) else set()))
    out = []
    for book in books:
        mine = pc[pc["book"] == book]
        last = mine.drop_duplicates("symbol", keep="last")
        positions = {str(r.symbol): {"quantity": int(r.quantity), "average_price_paise": int(r.average_price_paise)}
                     for r in last.itertuples(index=False) if r.quantity != 0}
        snap = snaps[snaps["book"] == book].tail(1) if len(snaps) else snaps
        s0 = snap.iloc[0] if len(snap) else None
        out.append(BookState(
            book=book, cash_paise=int(mine["cash_paise"].iloc[-1]) if len(mine) else int(initial.get(book, 0)),
            # each PositionChanged carries the P&L its own fill realised: the book's is their sum
            realized_pnl_paise=int(mine["realized_pnl_paise"].sum()) if len(mine) else 0,
            positions=positions,
            last_fill_at=mine["occurred_at"].iloc[-1].to_pydatetime() if len(mine) else None,
            session_date=s0["session_date"] if s0 is not None else None,
            equity_paise=int(s0["equity_paise"]) if s0 is not None else None,
            positions_value_paise=int(s0["positions_value_paise"]) if s0 is not None else None))
    return out


# -------------------------------------------------------------- live badge


@attrs.frozen(kw_only=True)
class Badge:
    status: str  # LIVE or HISTORICAL
    last_event_at: datetime | None
    last_recorded_at: datetime | None
    reason: str


def live_badge(model: RunModel, now: datetime, *, quiet_seconds: float = 120.0,
               trace_threshold_minutes: float = 30.0) -> Badge:
    """LIVE while the run is still being written (no ``RunCompleted`` and an event recorded
    within ``quiet_seconds`` of ``now``) or when its latest prediction trace is recent in
    market time (``analytics.detect_live``: a paper/live session); else HISTORICAL."""
    if model.run is None:
        return Badge(status="HISTORICAL", last_event_at=None, last_recorded_at=None, reason="no run yet")
    writing = (model.completed is None and model.last_recorded_at is not None
               and (now - model.last_recorded_at).total_seconds() < quiet_seconds)
    market = detect_live(model.data.traces, now, trace_threshold_minutes).is_live if model.completed is None \
        else False
    if writing or market:
        reason = "run is being written" if writing else "latest trace is recent"
        return Badge(status="LIVE", last_event_at=model.last_event_at, last_recorded_at=model.last_recorded_at,
                     reason=reason)
    reason = f"run {model.status}" if model.completed is not None else "no new events"
    return Badge(status="HISTORICAL", last_event_at=model.last_event_at, last_recorded_at=model.last_recorded_at,
                 reason=reason)
