"""NewsAPI ``/v2/everything`` as a sentiment source (VADER on title + description)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone

from adapters.sentiment.http import ProviderAuthError, ProviderError, ProviderRateLimitedError, get_json
from adapters.sentiment.vader import compound, confidence_for, recency_weighted_mean
from ports.sentiment import SentimentReading

DEFAULT_QUERIES: dict[str, str] = {
    "RELIANCE": '"Reliance Industries"', "TCS": '"Tata Consultancy" OR TCS', "INFY": "Infosys",
    "HDFCBANK": '"HDFC Bank"', "SBIN": '"State Bank of India" OR SBI', "TATAMOTORS": '"Tata Motors"',
    "WIPRO": "Wipro", "ICICIBANK": '"ICICI Bank"', "NIFTY50": "Nifty OR Sensex",
}
_AUTH_CODES = {"apiKeyDisabled", "apiKeyExhausted", "apiKeyInvalid", "apiKeyMissing"}


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class NewsApiProvider:
    """Scores a symbol from NewsAPI articles published in ``[as_of - lookback, as_of)``.

    The key travels in the ``X-Api-Key`` header (never in the URL, so never in errors).
    The free plan serves articles with a 24 h delay and a month of history.
    """

    def __init__(self, api_key: str, *, base_url: str = "https://newsapi.org", lookback: timedelta = timedelta(days=3),
                 half_life: timedelta = timedelta(days=1), page_size: int = 100, timeout: float = 5.0,
                 queries: Mapping[str, str] | None = None, query_for: Callable[[str], str] | None = None,
                 language: str = "en", name: str = "newsapi") -> None:
        if not api_key:
            raise ProviderAuthError("NewsAPI key is empty: set SENTIMENT_NEWSAPI_API_KEY")
        self._key = api_key
        self.base_url = base_url
        self.lookback = lookback
        self._half_life = half_life.total_seconds()
        self.page_size = max(1, min(100, page_size))
        self.timeout = timeout
        self._queries = dict(DEFAULT_QUERIES if queries is None else queries)
        self._query_for = query_for
        self.language = language
        self.name = name

    def __repr__(self) -> str:
        return f"NewsApiProvider(base_url={self.base_url!r}, api_key=***)"

    def query(self, symbol: str) -> str:
        if self._query_for is not None:
            return self._query_for(symbol)
        return self._queries.get(symbol.upper(), symbol.upper())

    def score(self, symbol: str, as_of: datetime) -> SentimentReading | None:
        start = as_of - self.lookback
        status, body, _ = get_json(
            self.base_url, "/v2/everything",
            {"q": self.query(symbol), "from": start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "to": as_of.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "language": self.language,
             "sortBy": "publishedAt", "pageSize": self.page_size, "searchIn": "title,description"},
            {"X-Api-Key": self._key}, timeout=self.timeout, source="newsapi")
        if status != 200 or body.get("status") != "ok":
            code = str(body.get("code", ""))
            message = f"newsapi: HTTP {status} {code}: {body.get('message', '')}".strip()
            if status == 429 or code == "rateLimited":
                raise ProviderRateLimitedError(message)
            if status == 401 or code in _AUTH_CODES:
                raise ProviderAuthError(message + " (check SENTIMENT_NEWSAPI_API_KEY)")
            raise ProviderError(message)
        scores, ages = [], []
        for article in body.get("articles") or []:
            published = _parse_time(article.get("publishedAt", ""))
            if published is None or not (start <= published < as_of):      # point in time
                continue
            text = ". ".join(t for t in (article.get("title"), article.get("description")) if t)
            if not text:
                continue
            scores.append(compound(text))
            ages.append((as_of - published).total_seconds())
        if not scores:
            return None
        value = recency_weighted_mean(scores, ages, self._half_life)
        return SentimentReading(symbol=symbol.upper(), score=value, as_of=as_of, provider=self.name,
                                sample_size=len(scores), confidence=confidence_for(len(scores)))
