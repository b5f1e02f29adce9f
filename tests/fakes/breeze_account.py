"""The swing-account scenario on the fake Breeze SDK, shared by the in-process and the real-process tests.

Friday's close gives the swing book a long entry; day 1 (Mon 2025-06-09) it fills at the open;
day 2 the price trades through the stop at 11:05; the paper replay of the same daily bars
gives the prices the fake exchange fills at. ``PersistentFakeBreezeSDK`` keeps the broker's
side in a JSON file after every change, so a process killed with SIGKILL leaves the account
as the exchange would have it for the next process.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from adapters.breeze.historical import _to_bars, bars_to_series
from adapters.memory import InMemoryEventStore, InMemoryFeed
from applications.roots.paper import PaperOptions, run_paper
from applications.services.books import BacktestConfig, SentimentSettings, SlippageSettings, SwingBookConfig
from core.model import Interval
from tests.fakes.breeze_sdk import FakeBreezeSDK, next_day_candle, swing_setup_candles

IST = timezone(timedelta(hours=5, minutes=30))
CREDS = {"BREEZE_API_KEY": "key-abc", "BREEZE_API_SECRET": "secret-xyz", "BREEZE_SESSION_TOKEN": "token-123"}
FRIDAY, DAY1, DAY2, DAY3 = datetime(2025, 6, 6), datetime(2025, 6, 9), datetime(2025, 6, 10), datetime(2025, 6, 11)
DAYS = {"day1": DAY1, "day2": DAY2, "day3": DAY3}
CONFIG = BacktestConfig(strategy="swing", swing=SwingBookConfig(symbols=["TCS"]),
                        sentiment=SentimentSettings(enabled=False), slippage=SlippageSettings(bps=0.0),
                        corporate_actions_file="")


def candles() -> list[dict[str, Any]]:
    rows = swing_setup_candles(FRIDAY)
    rows.append(next_day_candle(rows[-1], DAY1, change=0.004, low=0.003))    # the stop holds on day 1
    rows.append(next_day_candle(rows[-1], DAY2, change=-0.05, low=0.06))     # and breaks on day 2
    return rows


def paper_replay() -> InMemoryEventStore:
    """The same daily bars, Friday's to day 2's, traded by paper on the simulated venue."""
    series = bars_to_series("TCS", Interval.DAY_1, _to_bars("TCS", Interval.DAY_1, candles(), "TCS"))
    store = InMemoryEventStore()
    run_paper(CONFIG, store=store, feed=InMemoryFeed([series]), sentiment=None, run_id="P",
              options=PaperOptions(replay_speed=0.0))
    return store


class DayClock:
    """IST wall clock of one trading day from 09:10: every ``now()`` moves on ``step``;
    ``on_die`` runs once the clock reaches ``die_at`` (raise, or SIGKILL the process)."""

    def __init__(self, day: datetime, *, die_at: datetime | None = None, on_die: Any = None,
                 step: timedelta = timedelta(seconds=20), start: tuple[int, int] = (9, 10)) -> None:
        self._now = day.replace(hour=start[0], minute=start[1], tzinfo=IST)
        self._step, self._die_at, self._on_die = step, die_at, on_die

    def now(self) -> datetime:
        self._now += self._step
        if self._die_at is not None and self._now >= self._die_at:
            self._on_die()
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class Exchange:
    """The exchange behind the fake SDK: fills the entry at day 1's open and the carried stop,
    once placed again on day 2, at its price at 11:05 (prices from the paper replay); its
    night lapses the day orders and settles the shares (``FakeBreezeSDK.next_session``)."""

    def __init__(self, sdk: FakeBreezeSDK, entry_price: float, stop_price: float, day: datetime = DAY1) -> None:
        self.sdk, self.entry_price, self.stop_price = sdk, entry_price, stop_price
        self.day = day
        self.stop_hit_at: str | None = None
        self.now = lambda: day.replace(tzinfo=IST)   # the trading process's clock, set by the test
        self._trade = sum(len(t) for t in sdk.trades.values())
        sdk.on_place = self.on_place
        trade_list = sdk.get_trade_list

        def trade_list_after_the_market_moved(*args: Any, **kwargs: Any) -> Any:
            self.market()
            return trade_list(*args, **kwargs)
        sdk.get_trade_list = trade_list_after_the_market_moved  # type: ignore[method-assign]

    def _fill(self, order_id: str, price: float, when: str) -> None:
        self._trade += 1
        order = self.sdk.orders[order_id]
        self.sdk.execute(order_id, int(order["quantity"]), price, f"T{self._trade}", when)

    def on_place(self, order_id: str, order: dict[str, Any]) -> None:
        if order["action"] == "Buy" and order["order_type"] == "Limit" and self.day == DAY1:
            self._fill(order_id, self.entry_price, self.day.strftime("%d-%b-%Y") + " 09:15:05")

    def market(self) -> None:
        """Day 2 from 11:05: the price trades through the stop placed again that morning."""
        if self.day != DAY2 or self.now() < DAY2.replace(hour=11, minute=5, tzinfo=IST):
            return
        for order_id, order in self.sdk.orders.items():
            if order["order_type"] == "Stoploss" and order["status"] == "Ordered":
                self.stop_hit_at = order_id
                self._fill(order_id, self.stop_price, self.day.strftime("%d-%b-%Y") + " 11:05:00")

    def night(self, next_day: datetime) -> None:
        self.sdk.next_session()
        self.day = next_day


def book_orders(store: Any, stream: str) -> list[tuple[Any, ...]]:
    """Every order a book submitted: (client id, side, quantity, stop-loss, take-profit)."""
    return [(e.client_order_id, e.side, e.quantity, e.stop_loss_paise, e.take_profit_paise)
            for e in (r.event for r in store.read_stream(stream) if r.type == "order.submitted")]


def book_trades(store: Any, stream: str) -> list[tuple[Any, ...]]:
    """Every trade a book closed: (symbol, direction, quantity, entry, exit, reason, net P&L)."""
    return [(e.symbol, e.direction, e.quantity, e.entry_price_paise, e.exit_price_paise, e.exit_reason,
             e.net_pnl_paise) for e in (r.event for r in store.read_stream(stream) if r.type == "trade.closed")]


def scenario_prices(paper: InMemoryEventStore) -> tuple[int, int, int]:
    """(entry price, stop price, quantity) the paper replay filled at (paise, paise, shares)."""
    fills = [r.event for r in paper.read_stream("P:swing") if r.type == "order.filled"]
    entry_fill, stop_fill = fills[0], fills[1]
    assert stop_fill.fill_reason == "stop_loss"  # the scenario's premise, in paper
    return entry_fill.price_paise, stop_fill.price_paise, entry_fill.quantity


def new_account_sdk(sdk: FakeBreezeSDK, entry_price_paise: int) -> FakeBreezeSDK:
    """The scenario's account on ``sdk``: daily candles, a quote, funds above the configured capital."""
    sdk.track_positions = True
    sdk.add_candles("TCS", "1day", candles())
    sdk.quotes["TCS"] = {"ltp": entry_price_paise / 100, "upper_circuit": 5000.0, "lower_circuit": 3500.0}
    sdk.funds.update(allocated_equity=2_000_000.0, block_by_trade_equity=0.0)  # capital = the configured cap
    return sdk


_STATE = ("candles", "quotes", "names", "orders", "trades", "positions", "holdings", "funds", "_order_seq")


class PersistentFakeBreezeSDK(FakeBreezeSDK):
    """The fake SDK whose broker side lives in ``path`` (JSON), written after every change."""

    def __init__(self, api_key: str, path: Path) -> None:
        super().__init__(api_key)
        self._path = Path(path)
        if self._path.exists():
            state = json.loads(self._path.read_text(encoding="utf-8"))
            for name in _STATE:
                value = state[name]
                if name == "candles":
                    value = {tuple(k.split("|")): v for k, v in value.items()}
                setattr(self, name, value)
            self.track_positions = bool(state.get("track_positions", False))

    def save(self) -> None:
        state = {name: getattr(self, name) for name in _STATE}
        state["candles"] = {"|".join(k): v for k, v in self.candles.items()}
        state["track_positions"] = self.track_positions
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(self._path)

    def _saved(self, change: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``change`` (a method of the fake's), then write the account, even if it raised."""
        try:
            return change(self, *args, **kwargs)
        finally:
            self.save()

    def place_order(self, *args: Any, **kwargs: Any) -> Any:
        return self._saved(FakeBreezeSDK.place_order, *args, **kwargs)

    def cancel_order(self, *args: Any, **kwargs: Any) -> Any:
        return self._saved(FakeBreezeSDK.cancel_order, *args, **kwargs)

    def modify_order(self, *args: Any, **kwargs: Any) -> Any:
        return self._saved(FakeBreezeSDK.modify_order, *args, **kwargs)

    def execute(self, *args: Any, **kwargs: Any) -> None:
        self._saved(FakeBreezeSDK.execute, *args, **kwargs)

    def next_session(self) -> None:
        self._saved(FakeBreezeSDK.next_session)
