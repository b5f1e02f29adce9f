"""hvplot/HoloViews figures and HTML fragments drawn from the view-model's frames."""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

import holoviews as hv
import pandas as pd
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
from bokeh.models import HoverTool
from holoviews.streams import Pipe

from applications.analytics.metrics import DIRECTIONS
from applications.dashboard.viewmodel import formats as fmt
from applications.dashboard.viewmodel.cards import CARD_FIELDS, SUMMARY_FIELDS, StrategyCard, book_colour
from applications.dashboard.viewmodel.portfolio import Badge, BookState
from applications.dashboard.viewmodel.alerts import DashboardAlert

IST = timezone(timedelta(hours=5, minutes=30))


def _local(ts: pd.Series) -> pd.Series:
    """UTC timestamps as naive IST wall times (how NSE users read them)."""
    return pd.to_datetime(ts, utc=True).dt.tz_convert(IST).dt.tz_localize(None)


def _empty(title: str, message: str = "no data yet") -> hv.Element:
    return hv.Text(0.5, 0.5, message).opts(title=title, xaxis=None, yaxis=None, height=260,
                                            responsive=True, toolbar=None)


@attrs.frozen
class Figure:
    """What a plot pane shows: ``parts`` (one frame per drawn layer) and ``build``, which draws
    them from one ``Pipe`` each. Two figures with the same ``key`` have the same layout (the
    same books, layers and axes), so the second one's data can be streamed into the plots
    the first one built."""

    key: tuple
    parts: tuple = ()
    build: Callable[[list[Pipe]], Any] = attrs.field(default=None, eq=False)


class LivePlot:
    """A HoloViews pane that builds its Bokeh plots only when the layout changes; new data for
    the same layout goes into the existing plots through their ``Pipe`` streams. (Replacing
    the pane's object rebuilds every Bokeh model of the figure: most of a replay step or a
    run switch was spent there.)"""

    def __init__(self, pane: Any) -> None:
        self.pane = pane
        self._key: tuple | None = None
        self._pipes: list[Pipe] = []
        self.rebuilt = 0  # how many times the plots were built (tests, benchmarks)

    def documents(self) -> list[Any]:
        """The Bokeh documents this pane is drawn in (one per browser session)."""
        docs = []
        for ref in list(getattr(self.pane, "_models", {}).values()):
            doc = ref[0].document
            if doc is not None and doc not in docs:
                docs.append(doc)
        return docs

    def show(self, figure: Figure) -> None:
        if figure.key == self._key and len(self._pipes) == len(figure.parts):
            for pipe, data in zip(self._pipes, figure.parts):
                pipe.send(data)
            return
        self._pipes = [Pipe(data=data) for data in figure.parts]
        self.pane.object = figure.build(self._pipes)
        self._key = figure.key
        self.rebuilt += 1


@contextlib.contextmanager
def frozen(plots: list[LivePlot]) -> Any:
    """Streamed updates of several plots with their documents' model graphs recomputed once
    at the end, not after every update (that recompute walks the whole page's models)."""
    with contextlib.ExitStack() as stack:
        for doc in {id(d): d for p in plots for d in p.documents()}.values():
            stack.enter_context(doc.models.freeze())
        yield


def _static(key: tuple, element: hv.Element) -> Figure:
    return Figure(key=key, parts=(), build=lambda _pipes: element)


def _dynamic(pipe: Pipe, draw: Callable[[Any], hv.Element]) -> hv.DynamicMap:
    return hv.DynamicMap(lambda data: draw(data), streams=[pipe])


def _overlay(maps: list[hv.DynamicMap]) -> hv.DynamicMap:
    """The layers as one overlay (also of one layer: the legend and title options are an overlay's)."""
    if len(maps) == 1:
        return maps[0].map(lambda el: hv.Overlay([el]), [hv.Element])
    out = maps[0]
    for more in maps[1:]:
        out = out * more
    return out


def _curve_figure(curves: pd.DataFrame, x: str, y: str, ylabel: str, title: str, area: bool) -> Figure:
    """By date: one plot per book, each on its own time axis (a 2016 swing book and a 2024
    intraday book share no dates). By session number: the books overlaid on one axis."""
    books = tuple(sorted(curves["book"].unique()))
    # hv.Area reads a second value dimension as the area's lower edge: it gets the value only.
    vdims = [y] if area else [d for d in (y, "book", "session_date", "session") if d != x]
    hover = [(ylabel, f"@{{{y}}}{{0.00}}")] if area else [
        ("book", "@book"), ("date", "@session_date{%F}"), ("session", "@session"), (ylabel, f"@{{{y}}}{{0.00}}")]
    columns = list(dict.fromkeys([x, *vdims]))
    xlabel = "session" if x == "session" else "date"
    overlaid = x == "session" or len(books) == 1
    parts = tuple(curves.loc[curves["book"] == book, columns].reset_index(drop=True) for book in books)

    def build(pipes: list[Pipe]) -> Any:
        tool = HoverTool(tooltips=hover, formatters={} if area else {"@session_date": "datetime"})
        opts = dict(height=240 if area else 280, responsive=True, ylabel=ylabel, tools=[tool], framewise=True)
        layers = []
        for book, pipe in zip(books, pipes):
            colour = book_colour(book)

            def draw(data: pd.DataFrame, book: str = book, colour: str = colour) -> hv.Element:
                el = (hv.Area if area else hv.Curve)(data, kdims=[x], vdims=vdims, label=book)
                el = el.opts(color=colour, line_color=colour, **({"alpha": 0.35} if area else {}))
                return el if overlaid else el.opts(title=f"{title}: {book}", xlabel=xlabel, **opts)

            layers.append(_dynamic(pipe, draw))
        if overlaid:
            return _overlay(layers).opts(title=title, xlabel=xlabel, legend_position="top_left", **opts)
        return hv.Layout(layers).cols(len(layers)).opts(shared_axes=False)

    return Figure(key=("curves", title, x, area, books), parts=parts, build=build)


def returns_figure(curves: pd.DataFrame, x: str = "session_date") -> Figure:
    title = "Cumulative return (%)"
    if not len(curves):
        return _static(("empty", title), _empty(title))
    return _curve_figure(curves, x, "cum_return_pct", "return (%)", title, area=False)


def drawdown_figure(curves: pd.DataFrame, x: str = "session_date") -> Figure:
    title = "Drawdown (%) below the running peak"
    if not len(curves):
        return _static(("empty", title), _empty(title))
    return _curve_figure(curves, x, "drawdown_pct", "drawdown (%)", title, area=True)


def confusion_html(frames: dict[str, pd.DataFrame]) -> str:
    """One confusion matrix per book, side by side, as shaded tables (rows actual, columns
    predicted). A table, not a plot: nine numbers need no axes, and a replay step redraws
    them in microseconds instead of updating two Bokeh plots."""
    if not frames:
        return "<i>no book in this view</i>"
    blocks = []
    for name, cm in frames.items():
        counts = {(r.actual, r.predicted): int(r.count) for r in cm.itertuples(index=False)}
        n = sum(counts.values())
        top = max(counts.values(), default=0) or 1
        head = "".join(f"<th>{p}</th>" for p in DIRECTIONS)
        rows = []
        for actual in DIRECTIONS:
            cells = []
            for predicted in DIRECTIONS:
                c = counts.get((actual, predicted), 0)
                shade = c / top
                ink = "white" if shade > 0.55 else "black"
                cells.append(f'<td class="sq-cm-cell" data-actual="{actual}" data-predicted="{predicted}" '
                             f'style="background:rgba(31,119,180,{0.08 + 0.85 * shade:.3f});color:{ink};'
                             f'text-align:center;padding:10px 18px;font-size:11pt">{fmt.indian_grouping(c)}</td>')
            rows.append(f"<tr><th style='text-align:right;padding-right:8px'>{actual}</th>{''.join(cells)}</tr>")
        blocks.append(
            f'<div class="sq-confusion" data-book="{html.escape(name)}" style="flex:1;min-width:260px">'
            f'<div class="sq-confusion-title" style="font-weight:bold;border-left:6px solid {book_colour(name)};'
            f'padding-left:6px">{html.escape(name)} (n={n})</div>'
            '<table style="border-collapse:separate;border-spacing:2px;margin-top:4px">'
            f"<thead><tr><th style='color:#666;font-weight:normal'>actual \\ predicted</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")
    return f'<div style="display:flex;gap:16px;flex-wrap:wrap">{"".join(blocks)}</div>'


_ENTRY_HOVER = ["strategy", "direction", "trade_id"]
_EXIT_HOVER = ["strategy", "direction", "trade_id", "pnl"]


def price_figure(prices: pd.DataFrame, markers: pd.DataFrame, symbol: str) -> Figure:
    title = f"{symbol}: observed prices with entries and exits (IST)"
    if not len(prices) and not len(markers):
        return _static(("empty", title), _empty(title, f"no prices for {symbol} in the log"))
    # Every layer is always drawn (empty when there is nothing to mark), so that a replay step
    # or a tail that adds the first exit streams into the same plot.
    p = prices.assign(time=_local(prices["time"])) if len(prices) else \
        pd.DataFrame({"time": pd.Series([], dtype="datetime64[ns]"), "price": [], "source": []})
    m = markers.assign(time=_local(markers["time"])) if len(markers) else \
        pd.DataFrame({"time": pd.Series([], dtype="datetime64[ns]"), "price": [], "kind": [],
                      **{c: [] for c in _EXIT_HOVER}})
    layers: list[tuple[str, pd.DataFrame]] = [
        ("price", p[["time", "price", "source"]].reset_index(drop=True)),
        ("entry", m.loc[m["kind"] == "entry", ["time", "price", *_ENTRY_HOVER]].reset_index(drop=True)),
        ("exit", m.loc[m["kind"] == "exit", ["time", "price", *_EXIT_HOVER]].reset_index(drop=True))]
    kinds = tuple(kind for kind, _ in layers)

    def draw(kind: str, data: pd.DataFrame) -> hv.Element:
        if kind == "price":
            return data.hvplot.line(x="time", y="price", color="#555555", line_width=1, label="price",
                                    hover_cols=["source"]).opts(framewise=True)
        # Plain HoloViews for the markers: drawn again at every replay step, at a third of the cost.
        entry = kind == "entry"
        return hv.Scatter(data, kdims=["time"], vdims=["price", *(_ENTRY_HOVER if entry else _EXIT_HOVER)],
                          label=kind).opts(marker="triangle" if entry else "inverted_triangle", size=10,
                                           color="#2ca02c" if entry else "#d62728", tools=["hover"],
                                           framewise=True)

    def build(pipes: list[Pipe]) -> Any:
        maps = [_dynamic(pipe, lambda data, kind=kind: draw(kind, data)) for kind, pipe in zip(kinds, pipes)]
        return _overlay(maps).opts(title=title, height=300, responsive=True, legend_position="top_left",
                            ylabel="price (₹)", framewise=True)

    return Figure(key=("price", title, kinds), parts=tuple(data for _, data in layers), build=build)


# ------------------------------------------------------------------ HTML pieces


_ACCURACY_NAMES = {"precision": "Precision ({label})", "recall": "Recall ({label})", "f1": "F1 ({label})",
                   "hit_ratio": "Hit ratio"}
_SUMMARY_NAMES = {"net_pnl_paise": "Net P&L", "total_return_pct": "Return", "annualized_return_pct": "Annualised",
                  "sharpe": "Sharpe (daily)", "sortino": "Sortino", "calmar": "Calmar",
                  "max_drawdown_pct": "Max drawdown", "trades": "Trades", "win_rate_pct": "Win rate",
                  "profit_factor": "Profit factor", "average_hold_minutes": "Average hold",
                  "costs_paid_paise": "Costs paid"}


def _summary_text(field: str, value) -> str:
    if field in ("net_pnl_paise", "costs_paid_paise"):
        return fmt.rupees(value)
    if field in ("total_return_pct", "annualized_return_pct", "max_drawdown_pct"):
        return fmt.signed_pct(value)
    if field == "win_rate_pct":
        return "n/a" if value is None else f"{value:.1f} %"
    if field == "trades":
        return fmt.indian_grouping(int(value))
    if field == "average_hold_minutes":
        return fmt.hold(value)
    return fmt.ratio(value)


def _delta(value: float) -> str:
    colour = "#2ca02c" if value > 1e-12 else "#d62728" if value < -1e-12 else "#777"
    text = fmt.signed_pct(value * 100, 1).replace(" %", " pt")
    return f'<span style="color:{colour}">{text}</span>'


def card_html(card: StrategyCard) -> str:
    """A book's card: the figures of ``runs show`` (each cell carries its raw value in
    ``data-value`` so that a test can compare it with the CLI), then prediction accuracy."""
    summ = card.summary
    money = "".join(
        f'<tr><td>{_SUMMARY_NAMES[f]}</td><td class="sq-fig" data-field="{f}" '
        f'data-value="{html.escape(repr(summ.get(f)))}"><b>{_summary_text(f, summ.get(f))}</b></td></tr>'
        for f in SUMMARY_FIELDS)
    acc = "".join(
        f"<tr><td>{_ACCURACY_NAMES[f].format(label=card.label)}</td><td><b>{fmt.share(card.alltime[f])}</b></td>"
        f"<td>{fmt.share(card.rolling[f])}</td><td>{_delta(card.delta[f])}</td></tr>" for f in CARD_FIELDS)
    period = (f'{summ.get("first_session")} → {summ.get("last_session")} · {summ.get("sessions")} sessions'
              if summ.get("sessions") else "no session yet")
    if summ.get("closed_at_end") or summ.get("open_at_end"):
        # what the end of the data did to open positions (spec 002 §14.14.2)
        period += (f' · at data end: {summ.get("closed_at_end", 0)} closed (backtest_end), '
                   f'{summ.get("open_at_end", 0)} open')
    kind = f" ({html.escape(card.kind)})" if card.kind != card.strategy else ""
    return (f'<div class="sq-card" data-book="{html.escape(card.strategy)}" '
            f'style="border-left:6px solid {card.colour};padding:4px 12px;flex:1;min-width:300px">'
            f'<h3 style="margin:4px 0">{html.escape(card.strategy)}{kind}</h3>'
            f'<div class="sq-card-foot">{period}</div>'
            f'<table class="sq-card-summary" style="width:100%;border-collapse:collapse">{money}</table>'
            f'<table class="sq-card-accuracy" style="width:100%;border-collapse:collapse;margin-top:6px">'
            f'<thead><tr style="text-align:left;color:#666"><th>prediction accuracy</th><th>all-time</th>'
            f'<th>last {min(card.window, card.trades)}</th><th>Δ rolling</th></tr></thead>'
            f'<tbody>{acc}</tbody></table></div>')


def cards_html(cards: dict[str, StrategyCard]) -> str:
    if not cards:
        return "<i>no book in this view</i>"
    return ('<div class="sq-cards" style="display:flex;gap:12px;flex-wrap:wrap">'
            + "".join(card_html(c) for c in cards.values()) + "</div>")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_html(monthly: pd.DataFrame) -> str:
    """A tearsheet-style table: one row per book and year, one column per month."""
    if not len(monthly):
        return "<i>no session yet</i>"
    head = "".join(f"<th>{m}</th>" for m in _MONTHS)
    rows = []
    for (book, year), g in monthly.groupby(["book", "year"], sort=True):
        by_month = dict(zip(g["month"], g["return_pct"]))
        cells = "".join(
            f'<td style="color:{"#2ca02c" if by_month[m] > 0 else "#d62728" if by_month[m] < 0 else "#555"}">'
            f"{fmt.signed_pct(by_month[m], 1)}</td>" if m in by_month else "<td></td>" for m in range(1, 13))
        rows.append(f'<tr><td style="border-left:4px solid {book_colour(book)};padding-left:4px">'
                    f"{html.escape(book)}</td><td>{year}</td>{cells}</tr>")
    return ('<table class="sq-monthly-table" style="width:100%;border-collapse:collapse;text-align:right">'
            f"<thead><tr style='color:#666'><th style='text-align:left'>book</th><th>year</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def symbol_pnl_html(table: pd.DataFrame) -> str:
    if not len(table):
        return "<i>no closed trade yet</i>"
    rows = "".join(
        f'<tr><td style="text-align:left;border-left:4px solid {book_colour(r.book)};padding-left:4px">'
        f"{html.escape(r.book)}</td><td style='text-align:left'>{html.escape(r.symbol)}</td>"
        f"<td>{fmt.indian_grouping(r.trades)}</td><td>{fmt.rupees(r.net_pnl_paise)}</td>"
        f"<td>{fmt.rupees(r.fees_paise)}</td><td>{fmt.share(r.win_rate)}</td></tr>"
        for r in table.itertuples(index=False))
    return ('<table class="sq-symbol-pnl-table" style="width:100%;border-collapse:collapse;text-align:right">'
            "<thead><tr style='color:#666'><th style='text-align:left'>book</th><th style='text-align:left'>symbol"
            "</th><th>trades</th><th>net P&amp;L</th><th>costs</th><th>win rate</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def comparison_html(c) -> str:
    """Two runs' books side by side, the better run and the t-test of per-trade returns."""
    cols = [(c.left_run, b, v) for b, v in c.left.items()] + [(c.right_run, b, v) for b, v in c.right.items()]
    if not cols:
        return "<i>neither run has a book yet</i>"
    head = "".join(f'<th style="border-top:4px solid {book_colour(b)}">{html.escape(b)}<br>'
                   f"<small>run {html.escape(r[:8])}</small></th>" for r, b, _ in cols)
    rows = "".join(f"<tr><td style='text-align:left'>{_SUMMARY_NAMES[f]}</td>"
                   + "".join(f"<td>{_summary_text(f, v.get(f))}</td>" for _, _, v in cols) + "</tr>"
                   for f in SUMMARY_FIELDS)
    score = " vs ".join(f"{html.escape(r[:8])} {fmt.ratio(s, 3)}" for r, s in c.scores.items())
    if c.better is None:
        verdict = "no prediction trace in either run: no verdict"
    elif c.better == "tie":
        verdict = f"a tie on the composite score ({score})"
    else:
        verdict = f"better: run <b>{html.escape(c.better[:8])}</b> (composite score {score})"
    t = c.t_test
    if t.p_value is None:
        test = "Welch t-test: too few trades on one side"
    else:
        test = (f"Welch t-test of per-trade returns: t = {fmt.ratio(t.t_statistic)}, p = {t.p_value:.3f} "
                f"({'significant' if t.significant else 'not significant'} at {t.alpha:.0%})")
    return (f'<div class="sq-compare-verdict">{verdict}; {test}</div>'
            '<table class="sq-compare-table" style="width:100%;border-collapse:collapse;text-align:right">'
            f"<thead><tr><th></th>{head}</tr></thead><tbody>{rows}</tbody></table>")


def release_html(status: dict) -> str:
    """The active release in the header: id, monitoring mode and the heightened time left."""
    release = status.get("active_release")
    if release is None:
        return '<span class="sq-release-none" style="color:#6c757d">no active release</span>'
    left = float(status.get("heightened_seconds_left") or 0.0)
    mode = status.get("mode", "normal")
    colour = "#d62728" if mode == "heightened" else "#1f77b4"
    remaining = f" · {left / 3600:.1f} h left" if mode == "heightened" else ""
    return (f'<span class="sq-release sq-release-{html.escape(mode)}" style="border:2px solid {colour};'
            f'padding:2px 8px;border-radius:8px">release <b>{html.escape(str(release))}</b> · '
            f'{html.escape(mode)} monitoring{remaining}</span>')


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
        held = ", ".join(f"{html.escape(sym)} {p['quantity']:+,} @ {fmt.rupees(p['average_price_paise'], decimals=2)}"
                         for sym, p in sorted(b.positions.items())) or "flat"
        snap = (f"{fmt.rupees(b.equity_paise, decimals=2)} on {b.session_date}" if b.equity_paise is not None
                else "—")
        fill = b.last_fill_at.astimezone(IST).strftime("%Y-%m-%d %H:%M") if b.last_fill_at else "—"
        rows.append(f"<tr><td><b>{html.escape(b.book)}</b></td><td>{fmt.rupees(b.cash_paise, decimals=2)}</td>"
                    f"<td>{fmt.rupees(b.realized_pnl_paise, decimals=2)}</td><td>{held}</td><td>{fill}</td><td>{snap}</td></tr>")
    return (f'<div class="sq-portfolio-where" style="color:#555;margin-bottom:4px">{where}</div>'
            '<table class="sq-portfolio-table" style="width:100%;border-collapse:collapse;text-align:left">'
            "<thead><tr style='color:#666'><th>book</th><th>cash</th><th>realised P&amp;L (gross of fees)</th>"
            "<th>open positions</th>"
            "<th>last fill (IST)</th><th>last session equity</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
