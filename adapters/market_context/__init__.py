"""Market context from shipped index bars (NIFTY 50 daily closes), point in time."""

from adapters.market_context.index_daily import IndexDailyContext, load_index_closes

__all__ = ["IndexDailyContext", "load_index_closes"]
