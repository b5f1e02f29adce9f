"""CSV market data: ``CsvFeed`` (a ``MarketDataFeed``), strict validation, the NSE calendar."""

from adapters.csv.calendar import NseCalendar
from adapters.csv.feed import CsvFeed, discover
from adapters.csv.manifest import Manifest, SourceSpec
from adapters.csv.reader import FileReport, read_bar_file

__all__ = ["CsvFeed", "FileReport", "Manifest", "NseCalendar", "SourceSpec", "discover", "read_bar_file"]
