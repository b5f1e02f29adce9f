"""`sensequant report RUN` and `sensequant runs export RUN`: accuracy reports and exports.

Both read the run's events from the event store and compute everything from them
(``applications.analytics``); nothing depends on files a run may have left behind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from applications.cli.options import ISO_DATE, OutputFolder, count, finite, non_empty
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from applications.analytics.metrics import DIRECTIONS, DegradationThresholds
from applications.analytics.projections import RunData, latest_run_id, load_run
from applications.cli.output import console, err_console, print_json
from applications.cli.runs_cmd import runs
from applications.wiring.adapters import default_market_context
from applications.wiring.store import default_db_url, open_store, read_models_for, require_intact, runs_dir

T = TypeVar("T")
STRATEGY_CHOICE = click.Choice(["intraday", "swing", "both"])


def _steps(quiet: bool) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn(), console=err_console,
                    transient=True, disable=quiet)


def _step(progress: Progress, text: str, fn: Callable[[], T]) -> T:
    task = progress.add_task(text, total=None)
    try:
        return fn()
    finally:
        progress.remove_task(task)


def _load(db_url: str | None, run_id: str | None, *, whole_log: bool = False) -> RunData:
    """The run from its read models (traces, trades, portfolio, orders, fills; caught up
    first), or, with ``whole_log``, every frame folded from the event log."""
    from applications.services.projections import load_run_from_read_models

    store = open_store(db_url, must_exist=True)
    try:
        target = run_id if run_id and run_id != "latest" else latest_run_id(store)
        require_intact(store, store.get_run(target).run_id)
        if whole_log:
            return load_run(store, target)
        return load_run_from_read_models(store, read_models_for(store), target)
    finally:
        store.close()


def _fmt(value: Any, kind: str = "f") -> str:
    if value is None:
        return "—"
    if kind == "%":
        return f"{value:.1%}"
    if kind == "i":
        return f"{int(value)}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_report(doc: dict[str, Any], files: list[Path]) -> None:
    scopes = [("all", doc["overall"])] + list(doc["by_strategy"].items())
    title = f"Accuracy of run {', '.join(doc['run_ids'])} ({doc['mode']})"
    overview = Table(title=title, title_justify="left")
    for col in ("scope", "trades", "accuracy", "hit ratio", "win", "avg ret %", "hold min"):
        overview.add_column(col, justify="left" if col == "scope" else "right", no_wrap=True)
    for name, m in scopes:
        overview.add_row(name, _fmt(m["total_trades"], "i"), _fmt(m["accuracy"], "%"), _fmt(m["hit_ratio"], "%"),
                         _fmt(m["win_rate"], "%"), _fmt(m["avg_return"]), _fmt(m["avg_holding_minutes"], "i"))
    console.print(overview)
    risk = Table(title="PER-TRADE figures (each closed trade compounded at full size; not the portfolio, see below)",
                 title_justify="left")
    for col in ("scope", "per-trade Sharpe", "per-trade Sortino", "per-trade max DD", "profit factor", "best %",
                "worst %"):
        risk.add_column(col, justify="left" if col == "scope" else "right", no_wrap=True)
    for name, m in scopes:
        risk.add_row(name, _fmt(m["sharpe_ratio"]), _fmt(m["sortino_ratio"]), _fmt(m["max_drawdown"], "%"),
                     _fmt(m["profit_factor"]), _fmt(m["best_return"]), _fmt(m["worst_return"]))
    console.print(risk)

    cls = Table(title="Classification (per predicted direction)", title_justify="left")
    for col in ("scope", "direction", "precision", "recall", "F1", "support"):
        cls.add_column(col, justify="left" if col in ("scope", "direction") else "right")
    for name, m in scopes:
        for d in DIRECTIONS:
            cls.add_row(name, d, _fmt(m["precision"][d], "%"), _fmt(m["recall"][d], "%"),
                        _fmt(m["f1_score"][d], "%"), _fmt(m["support"][d], "i"))
    console.print(cls)

    cm = Table(title="Confusion matrix, all traces (rows actual, columns predicted)", title_justify="left")
    cm.add_column("actual \\ predicted")
    for d in DIRECTIONS:
        cm.add_column(d, justify="right")
    for d, row in zip(DIRECTIONS, doc["overall"]["confusion_matrix"]):
        cm.add_row(d, *[str(x) for x in row])
    console.print(cm)

    if "comparison" in doc:
        c = doc["comparison"]["comparison"]
        comp = Table(title="Intraday vs swing", title_justify="left")
        comp.add_column("measure")
        comp.add_column("value", justify="right")
        for key in ("intraday_trades", "swing_trades", "precision_delta", "win_rate_delta", "sharpe_delta",
                    "avg_return_delta", "intraday_score", "swing_score", "t_statistic", "p_value"):
            comp.add_row(key.replace("_", " "), _fmt(c.get(key)))
        comp.add_row("significant at 5 %", "yes" if c["statistical_significance"] else "no")
        comp.add_row("better strategy", str(c["better_strategy"]))
        console.print(comp)

    if "compare" in doc:
        cmp = doc["compare"]
        t = Table(title=f"This run minus run {', '.join(cmp['run_ids'])}", title_justify="left")
        t.add_column("measure")
        t.add_column("delta", justify="right")
        for key, value in cmp["deltas"].items():
            t.add_row(key, _fmt(value))
        t.add_row("p-value (Welch)", _fmt(cmp["p_value"]))
        console.print(t)

    portfolio = doc.get("portfolio", {})
    for run_id, books in portfolio.items():
        pt = Table(title=f"PORTFOLIO figures (daily book equity, net of costs) of run {run_id}", title_justify="left")
        for col in ("book", "total return", "portfolio Sharpe", "portfolio max DD", "trades", "win rate",
                    "final value ₹"):
            pt.add_column(col, justify="left" if col == "book" else "right", no_wrap=True)
        for book, m in books.items():
            pt.add_row(book, _fmt(m["total_return"], "%"), _fmt(m["sharpe_ratio"]),
                       _fmt(-m["max_drawdown"] if m["max_drawdown"] is not None else None, "%"),
                       _fmt(m["total_trades"], "i"), _fmt(m["win_rate"], "%"), f"{m['final_value']:,.2f}")
        console.print(pt)
    if doc.get("drawdown_scopes"):
        dd = Table(title="Drawdown, both scopes (per-trade compounding exaggerates: all capital in every trade)",
                   title_justify="left")
        for col in ("book", "per-trade compounded max DD", "portfolio daily-equity max DD"):
            dd.add_column(col, justify="left" if col == "book" else "right", no_wrap=True)
        for book, v in doc["drawdown_scopes"].items():
            dd.add_row(book, _fmt(v["per_trade_compounded_max_drawdown"], "%"),
                       _fmt(v["portfolio_daily_equity_max_drawdown"], "%"))
        console.print(dd)
    execution = doc.get("execution") or {}
    if execution.get("by_strategy"):
        ex = Table(title="Execution quality: fill vs decision price (slippage > 0 = adverse)", title_justify="left")
        for col in ("strategy", "symbol", "fills", "bps mean", "bps med", "bps p95", "slip ₹", "fees ₹", "STT ₹"):
            ex.add_column(col, justify="left" if col in ("strategy", "symbol") else "right", no_wrap=True)
        for strat, block in execution["by_strategy"].items():
            for sym, b in [("all", block), *block["by_symbol"].items()]:
                ex.add_row(strat, sym, _fmt(b["fills"], "i"), _fmt(b["slippage_bps_mean"]),
                           _fmt(b["slippage_bps_median"]), _fmt(b["slippage_bps_p95"]), f"{b['slippage']:,.2f}",
                           f"{b['fees']:,.2f}", f"{b['fees_by_component']['stt']:,.2f}")
        console.print(ex)

    alerts = [(name, a) for name, r in doc["rolling"].items() for a in r["alerts"]]
    if alerts:
        for name, alert in alerts:
            console.print(f"[yellow]degradation[/] {escape(str(name))}: {escape(str(alert))}")
    else:
        console.print("No degradation: rolling metrics are within thresholds of all-time.")
    if doc.get("live"):
        live = doc["live"]
        console.print(f"Live: {'yes' if live['is_live'] else 'no'} (latest trace {live['last_update']})")
    if doc["attribution"]:
        console.print("[bold]Worst trades by dominant feature[/]")
        for p in doc["attribution"]:
            console.print(f"  • {p['description']}")
    if files:
        console.print(f"Wrote {len(files)} files to {files[0].parent}: " + ", ".join(p.name for p in files), markup=False)


@click.command("report")
@click.argument("run_id", required=False, default="latest", metavar="RUN", callback=non_empty)
@click.option("--compare", "compare_id", metavar="RUN2", callback=non_empty, help="Also compare with this run (deltas, t-test).")
@click.option("--strategy", type=STRATEGY_CHOICE, default="both", show_default=True,
              help="Only this strategy's traces.")
@click.option("--symbol", help="Only this symbol's traces.")
@click.option("--start", "start", type=ISO_DATE, help="First entry date (inclusive).")
@click.option("--end", "end", type=ISO_DATE, help="Last entry date (inclusive).")
@click.option("--window", default=100, show_default=True, type=count(1, 1_000_000), help="Rolling window (last N trades) for degradation.")
@click.option("--precision-drop", default=0.10, show_default=True, type=finite(0, 1), help="Alert when rolling precision falls this much.")
@click.option("--win-rate-drop", default=0.10, show_default=True, type=finite(0, 1), help="Alert when rolling win rate falls this much.")
@click.option("--sharpe-drop", default=0.50, show_default=True, type=finite(0, 100), help="Alert when rolling Sharpe falls this much.")
@click.option("--live-minutes", default=30.0, show_default=True, type=finite(0, 525_600),
              help="Live mode when the latest trace is younger than this (relative to now).")
@click.option("--out", "out_dir", type=OutputFolder(file_okay=False, path_type=Path),
              help="Folder for accuracy_metrics.json and the PNG plots (default: data/runs/reports/RUN).")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--format", "output_format", type=click.Choice(["text", "html"]), default="text", show_default=True,
              help="html: also execute notebooks/accuracy_report.ipynb on RUN and write it as one self-contained "
                   "HTML file (report_RUN.html in --out; plots inline, no network needed to open it).")
@click.option("--json", "as_json", is_flag=True, help="Print the report document as JSON instead of tables.")
@click.pass_obj
def report(obj: dict, run_id: str, compare_id: str | None, strategy: str, symbol: str | None, start: str | None,
           end: str | None, window: int, precision_drop: float, win_rate_drop: float, sharpe_drop: float,
           live_minutes: float, out_dir: Path | None, no_plots: bool, output_format: str, as_json: bool) -> None:
    """Accuracy and performance report of RUN (default: the latest run), computed from its read models
    (projections of its events, caught up to the log first).

    Prints metric tables (classification per LONG/SHORT/NOOP, confusion matrix, hit ratio,
    win rate, Sharpe, Sortino, drawdown, profit factor, holding time; intraday vs swing with
    a composite score and a Welch t-test; rolling-window degradation alerts; the worst trades
    grouped by the model feature that drove them) and writes accuracy_metrics.json plus PNG
    plots (confusion matrices, return distribution, cumulative returns, drawdown, and the
    intraday vs swing overlay when both strategies traded).

    Example: sensequant report latest --strategy both --out reports/
    """
    from applications.analytics.report import build_report, write_plots, write_report_json
    from applications.analytics.projections import filter_traces

    with _steps(as_json) as progress:
        run = _step(progress, f"reading run {run_id}", lambda: _load(obj.get("db_url"), run_id))
        other = _step(progress, f"reading run {compare_id}", lambda: _load(obj.get("db_url"), compare_id)) \
            if compare_id else None
        thresholds = DegradationThresholds(precision_drop=precision_drop, win_rate_drop=win_rate_drop,
                                           sharpe_drop=sharpe_drop)
        doc = _step(progress, "computing metrics", lambda: build_report(
            run, strategy=strategy, symbol=symbol, start=start, end=end, compare=other, window=window,
            thresholds=thresholds, now=datetime.now(timezone.utc), live_threshold_minutes=live_minutes))
        target = out_dir or runs_dir() / "reports" / run.run_id
        files = [write_report_json(doc, target)]
        if not no_plots:
            traces = filter_traces(run.traces, strategy=strategy, symbol=symbol, start=start, end=end)
            files += _step(progress, "drawing plots", lambda: write_plots(traces, target))
        if output_format == "html":
            from applications.analytics.html_report import render_report_html
            db_url = obj.get("db_url") or default_db_url()
            html = _step(progress, "executing the accuracy notebook (HTML)", lambda: render_report_html(
                db_url, run.run_id, target / f"report_{run.run_id}.html"))
            files.append(html)
            doc["html_report"] = str(html)
    if as_json:
        print_json(doc)
    else:
        _print_report(doc, files)


@runs.command("export")
@click.argument("run_id", metavar="RUN", callback=non_empty)
@click.option("--format", "formats", type=click.Choice(["traces", "bundle", "trades", "execution"]), multiple=True,
              default=("bundle",), show_default=True, help="What to export (repeat for several).")
@click.option("--out", "out_dir", type=OutputFolder(file_okay=False, path_type=Path),
              help="Target folder (default: data/runs/exports/RUN).")
@click.option("--strategy", type=STRATEGY_CHOICE, default="both", show_default=True,
              help="traces: only this strategy's traces.")
@click.option("--compress", is_flag=True, help="traces: gzip the CSV files (.csv.gz).")
@click.option("--max-file-mb", default=100.0, show_default=True, type=finite(0, 1_000_000, min_open=True), help="traces: rotate files beyond this size (MB).")
@click.option("--worst", default=10, show_default=True, type=count(0, 100_000), help="trades: also print the N worst trades and their "
              "grouping by dominant model feature.")
@click.option("--explain-model", "explain_model", metavar="MODEL",
              help="trades: explain trades that carry no model contributions with this registry model "
                   "(id, unique prefix or 'champion'): its per-feature contributions at each entry.")
@click.option("--registry", "registry_dir", type=OutputFolder(file_okay=False, path_type=Path),
              help="Model registry folder for --explain-model (default: data/runs/models).")
@click.option("--market-context/--no-market-context", default=True, show_default=True,
              help="Add the NIFTY 50 regime at entry (close, 1d/5d return, 20d realised volatility) to each "
                   "trade's context (trades.parquet) and each trace's context (traces CSV).")
@click.option("--index-bars", type=click.Path(dir_okay=False, path_type=Path),
              help="Daily index closes (date,close CSV) for --market-context (default: the shipped NIFTY 50).")
@click.option("--json", "as_json", is_flag=True, help="Print the files written (and worst trades) as JSON.")
@click.pass_obj
def export(obj: dict, run_id: str, formats: tuple[str, ...], out_dir: Path | None, strategy: str, compress: bool,
           max_file_mb: float, worst: int, explain_model: str | None, registry_dir: Path | None,
           market_context: bool, index_bars: Path | None, as_json: bool) -> None:
    """Export RUN's prediction traces (CSV), its JSON bundle or its trades table (Parquet).

    \b
    traces  predictions_YYYYMMDD_HHMMSS_####.csv[.gz], size-rotated, loadable with
            applications.analytics.exports.load_traces
    bundle  config.json, portfolio_daily.json, tickers_daily.json, trades.json, results.json
            (validated: strict JSON, every trading day, cash + positions = total value)
    trades  trades.parquet: entry/exit times, symbol, prices, pnl, pnl_pct, duration,
            direction, size, signals and context at entry (with the NIFTY 50 regime
            known at entry: point in time, from the shipped daily index closes)
    execution  execution.csv + execution_summary.json: per fill the decision price,
            fill price, slippage (bps, rupees) and fees by component; intended vs
            executed per strategy and symbol

    Example: sensequant runs export latest --format bundle --format trades --out exports/
    """
    from applications.analytics import exports as ex
    from applications.analytics.projections import filter_traces

    result: dict[str, Any] = {"files": []}
    with _steps(as_json) as progress:
        # The bundle lists the run's decisions, which only the log holds; the other formats
        # are built from the read models.
        run = _step(progress, f"reading run {run_id}",
                    lambda: _load(obj.get("db_url"), run_id, whole_log="bundle" in formats))
        target = out_dir or runs_dir() / "exports" / run.run_id
        wants_context = market_context and any(f in ("traces", "trades") for f in formats)
        context = _step(progress, "loading the market context",
                        lambda: default_market_context(index_bars)) if wants_context else None
        for fmt in dict.fromkeys(formats):
            if fmt == "traces":
                traces = filter_traces(run.traces, strategy=strategy)
                if context is not None:  # the regime at each traced trade's entry, like trades.parquet
                    traces = ex.with_market_context(traces, "timestamp", context)
                stamp = run.runs[0].started_at if run.runs else datetime.now(timezone.utc)
                paths = _step(progress, "writing trace CSV", lambda: ex.write_traces_csv(
                    traces, target, stamp=stamp, compress=compress, max_file_bytes=int(max_file_mb * 1024 * 1024)))
                back = ex.load_traces(paths)
                if len(back) != len(traces):
                    raise click.ClickException(f"trace export re-read {len(back)} rows, wrote {len(traces)}")
                result["traces"] = len(traces)
            elif fmt == "bundle":
                paths = _step(progress, "building and validating the bundle", lambda: ex.write_bundle(run, target))
            elif fmt == "execution":
                paths, summary = _step(progress, "measuring execution quality",
                                       lambda: ex.write_execution(run, target))
                result["execution"] = summary["overall"]
            else:
                trades = ex.trades_table(run, context)
                if explain_model:
                    predictor = _load_predictor(explain_model, registry_dir)
                    trades, result["explained"] = _step(
                        progress, f"explaining trades with {predictor.model_id}",
                        lambda: ex.explain_trades(trades, predictor))
                    result["explained_by"] = predictor.model_id
                path = _step(progress, "writing trades.parquet",
                             lambda: ex.write_trades_parquet(trades, target / "trades.parquet"))
                paths = [path]
                table = ex.read_trades_parquet(path)
                result["trades"] = len(table)
                result["worst_trades"] = [
                    {k: r[k] for k in ("trade_id", "strategy", "symbol", "direction", "pnl", "pnl_pct", "exit_reason")}
                    for r in ex.worst_trades(table, worst).to_dict("records")]
                result["attribution"] = [p.to_dict() for p in ex.attribute_worst_trades(table, worst)]
            result["files"].extend(str(p) for p in paths)
    if as_json:
        print_json(result)
        return
    console.print(f"Exported run {run.run_id} ({', '.join(dict.fromkeys(formats))}) to {target}:", markup=False)
    for f in result["files"]:
        console.print(f"  {f}", markup=False)
    if "explained" in result:
        console.print(f"{result['explained']} trades explained by model {result['explained_by']}")
    if result.get("worst_trades"):
        t = Table(title=f"{len(result['worst_trades'])} worst trades", title_justify="left")
        for col in ("trade", "strategy", "symbol", "direction", "pnl ₹", "pnl %", "exit"):
            t.add_column(col)
        for r in result["worst_trades"]:
            t.add_row(r["trade_id"], r["strategy"], r["symbol"], r["direction"], f"{r['pnl']:,.2f}",
                      f"{r['pnl_pct']:.2f}", r["exit_reason"])
        console.print(t)
        for p in result["attribution"]:
            console.print(f"  • {p['description']}")


def _load_predictor(model: str, registry_dir: Path | None) -> Any:
    from adapters.ml.predictor import load_predictor
    from adapters.ml.registry import ModelRegistry
    from applications.services.learning import default_registry_dir

    registry = ModelRegistry(registry_dir or default_registry_dir())
    return load_predictor(registry, None if model == "champion" else model)


COMMANDS = [report]
