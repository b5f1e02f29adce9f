"""Portfolio accounting: cash, positions, exact P&L in int paise."""

from core.portfolio.book import IST, FillOutcome, Portfolio, Position, ist_session_date

__all__ = ["FillOutcome", "IST", "Portfolio", "Position", "ist_session_date"]
