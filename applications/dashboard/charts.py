"""hvplot/HoloViews figures and HTML fragments drawn from the view-model's frames."""

from __future__ import annotations

import html
from datetime import datetime, timedelta, timezone

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
import pandas as pd

from applications.analytics.metrics import DIRECTIONS
from applications.dashboard.viewmodel.cards import CARD_FIELDS, StrategyCard
from applications.dashboard.viewmodel.portfolio import Badge, BookState
from applications.dashboard.viewmodel.alerts import DashboardAlert

IST = timezone(timedelta(hours=5, minutes=30))
COLOURS = {"intraday": "#1f77b4", "swing": "#ff7f0e"}
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"]


def _local(ts: pd.Series) -> pd.Series:
    """UTC timestamps as naive IST wall times (how NSE users read them)."""
    return pd.to_datetime(ts, utc=True).dt.tz_convert(IST).dt.tz_localize(None)


def _empty(title: str, message: str = "no data yet") -> hv.Element:
    return hv.Text(0.5, 0.5, message).opts(title=title, xaxis=None, yaxis=None, height=260,
                                            responsive=True, toolbar=None)


def returns_plot(curves: pd.DataFrame, x: str = "session_date") -> hv.Element:
    title = "Cumulative return (%) by book"
    if not len(curves):
        return _empty(title)
    colours = [COLOURS.get(s, _PALETTE[i % len(_PALETTE)]) for i, s in enumerate(sorted(curves["strategy"].unique()))]
    return curves.hvplot.line(x=x, y="cum_return_pct", by="strategy", color=colours, title=title,
                              ylabel="return (%)", xlabel="session" if x == "session" else "date",
                              height=280, responsive=True, hover_cols=["book", "equity", "session_date"],
                              legend="top_left")


def drawdown_plot(curves: pd.DataFrame, x: str = "session_date") -> hv.Element:
    title = "Drawdown (%) below the running peak"
    if not len(curves):
        return _empty(title)
    colours = [COLOURS.get(s, _PALETTE[i % len(_PALETTE)]) for i, s in enumerate(sorted(curves["strategy"].unique()))]
    return curves.hvplot.area(x=x, y="drawdown_pct", by="strategy", stacked=False, alpha=0.35, color=colours,
                              title=title, ylabel="drawdown (%)", xlabel="session" if x == "session" else "date",
                              height=220, responsive=True, legend="bottom_left")


def confusion_plot(cm: pd.DataFrame, strategy: str) -> hv.Element:
    n = int(cm["count"].sum()) if len(cm) else 0
    title = f"{strategy} (n={n})"
    heat = hv.HeatMap(cm, kdims=["predicted", "actual"], vdims=["count"]).redim.values(
        predicted=list(DIRECTIONS), actual=list(DIRECTIONS)[::-1])
    labels = hv.Labels(cm, kdims=["predicted", "actual"], vdims=["count"])
    # A 3x3 table needs no pan/zoom: no toolbar keeps the page's Bokeh model count down.
    return (heat.opts(cmap="Blues", colorbar=False, tools=["hover"], default_tools=[], toolbar=None, title=title,
                      height=260, responsive=True, xlabel="predicted", ylabel="actual")
            * labels.opts(text_color="black", text_font_size="11pt"))


def price_plot(prices: pd.DataFrame, markers: pd.DataFrame, symbol: str) -> hv.Element:
    title = f"{symbol}: observed prices with entries and exits (IST)"
    if not len(prices) and not len(markers):
        return _empty(title, f"no prices for {symbol} in the log")
    layers = []
    if len(prices):
        p = prices.assign(time=_local(prices["time"]))
        layers.append(p.hvplot.line(x="time", y="price", color="#555555", line_width=1, label="price",
                                    hover_cols=["source"]))
    if len(markers):
        m = markers.assign(time=_local(markers["time"]))
        entries, exits = m[m["kind"] == "entry"], m[m["kind"] == "exit"]
        if len(entries):
            layers.append(entries.hvplot.scatter(x="time", y="price", marker="triangle", size=90, color="#2ca02c",
                                                 label="entry", hover_cols=["strategy", "direction", "trade_id"]))
        if len(exits):
            layers.append(exits.hvplot.scatter(x="time", y="price", marker="inverted_triangle", size=90,
                                               color="#d62728", label="exit",
                                               hover_cols=["strategy", "direction", "trade_id", "pnl"]))
    overlay = hv.Overlay(layers)
    return overlay.opts(title=title, height=300, responsive=True, legend_position="top_left", ylabel="price (₹)")


# ------------------------------------------------------------------ HTML pieces


def _fmt(field: str, value: float) -> str:
    return f"{value:.2f}" if field == "sharpe" else f"{value * 100:.1f}%"


def _delta(field: str, value: float) -> str:
    colour = "#2ca02c" if value > 1e-12 else "#d62728" if value < -1e-12 else "#777"
    text = f"{value:+.2f}" if field == "sharpe" else f"{value * 100:+.1f} pt"
    return f'<span style="color:{colour}">{text}</span>'


def card_html(card: StrategyCard) -> str:
    names = {"precision": f"Precision ({card.label})", "recall": f"Recall ({card.label})",
             "f1": f"F1 ({card.label})", "win_rate": "Win rate", "sharpe": "Sharpe (per trade)"}
    rows = "".join(
        f"<tr><td>{names[f]}</td><td><b>{_fmt(f, card.alltime[f])}</b></td><td>{_fmt(f, card.rolling[f])}</td>"
        f"<td>{_delta(f, card.delta[f])}</td></tr>" for f in CARD_FIELDS)
    book = card.book
    foot = ""
    if book:
        foot = (f'<div class="sq-card-foot">book {html.escape(str(book["book"]))}: {book["sessions"]} sessions · '
                f'return {book["total_return"] * 100:+.2f}% · daily Sharpe {book["sharpe_daily"]:.2f} · '
                f'max DD {book["max_drawdown"] * 100:.2f}% · net ₹{book["net_pnl"]:,.0f}'
                + (f' · at data end: {book["closed_at_end"]} closed (backtest_end), {book["open_at_end"]} open'
                   if book.get("closed_at_end") or book.get("open_at_end") else "") + '</div>')
    colour = COLOURS.get(card.strategy, "#444")
    return (f'<div class="sq-card" style="border-left:6px solid {colour};padding:4px 12px">'
            f'<h3 style="margin:4px 0">{html.escape(card.strategy.title())} '
            f'<small style="color:#666">{card.trades} traced trades</small></h3>'
            f'<table style="width:100%;border-collapse:collapse"><thead><tr style="text-align:left;color:#666">'
            f'<th>metric</th><th>all-time</th><th>last {min(card.window, card.trades)}</th><th>Δ rolling</th>'
            f'</tr></thead>'
            f'<tbody>{rows}</tbody></table>{foot}</div>')


def badge_html(badge: Badge) -> str:
    colour = "#2ca02c" if badge.status == "LIVE" else "#6c757d"
    last = "—"
    if badge.last_event_at is not None:
        last = badge.last_event_at.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S IST")
    rec = ""
    if badge.last_recorded_at is not None:
        rec = f" · recorded {badge.last_recorded_at.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')}"
    return (f'<span class="sq-badge-{badge.status.lower()}" style="background:{colour};color:white;'
            f'padding:3px 10px;border-radius:10px;font-weight:bold">{badge.status}</span>'
            f'<span style="margin-left:8px">last event {last}{rec} ({html.escape(badge.reason)})</span>')


def alerts_html(items: list[DashboardAlert]) -> str:
    if not items:
        return '<div class="sq-no-alerts" style="color:#2ca02c">No alerts: every rule passes.</div>'
    colours = {"critical": "#d62728", "error": "#d62728", "warning": "#e6a100", "info": "#1f77b4"}
    rows = []
    for a in items:
        when = f' <small style="color:#666">{a.at.astimezone(IST):%Y-%m-%d %H:%M} IST</small>' \
            if isinstance(a.at, datetime) else ""
        status = f' <span class="sq-alert-status" style="color:#666">[{html.escape(a.status)}]</span>' \
            if a.status else ""
        rows.append(f'<li class="sq-alert sq-alert-{a.severity}"><b style="color:{colours.get(a.severity, "#444")}">'
                    f'{a.severity.upper()}</b> <code>{html.escape(a.rule)}</code> '
                    f'{html.escape(a.message)}{when}{status}</li>')
    return f'<ul style="margin:0;padding-left:18px">{"".join(rows)}</ul>'


def portfolio_html(states: list[BookState], where: str) -> str:
    if not states:
        return "<i>no book yet</i>"
    rows = []
    for b in states:
        held = ", ".join(f"{html.escape(sym)} {p['quantity']:+,} @ ₹{p['average_price_paise'] / 100:,.2f}"
                         for sym, p in sorted(b.positions.items())) or "flat"
        snap = (f"₹{b.equity_paise / 100:,.2f} on {b.session_date}" if b.equity_paise is not None else "—")
        fill = b.last_fill_at.astimezone(IST).strftime("%Y-%m-%d %H:%M") if b.last_fill_at else "—"
        rows.append(f"<tr><td><b>{html.escape(b.book)}</b></td><td>₹{b.cash_paise / 100:,.2f}</td>"
                    f"<td>₹{b.realized_pnl_paise / 100:,.2f}</td><td>{held}</td><td>{fill}</td><td>{snap}</td></tr>")
    return (f'<div class="sq-portfolio-where" style="color:#555;margin-bottom:4px">{where}</div>'
            '<table class="sq-portfolio-table" style="width:100%;border-collapse:collapse;text-align:left">'
            "<thead><tr style='color:#666'><th>book</th><th>cash</th><th>realised P&amp;L (gross of fees)</th>"
            "<th>open positions</th>"
            "<th>last fill (IST)</th><th>last session equity</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
