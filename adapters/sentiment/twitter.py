"""X (Twitter) API v2 recent search as a sentiment source, engagement-weighted."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone

from adapters.sentiment.http import ProviderAuthError, ProviderError, ProviderRateLimitedError, get_json
from adapters.sentiment.vader import compound, confidence_for
from ports.clock import Clock
from ports.sentiment import SentimentReading

RECENT_SEARCH_WINDOW = timedelta(days=7)


def _cashtag_query(symbol: str) -> str:
    return f"(${symbol.upper()} OR #{symbol.upper()}) lang:en -is:retweet"


class XRecentSearchProvider:
    """Scores posts from ``/2/tweets/search/recent`` in ``[as_of - lookback, as_of)``.

    Recent search only reaches back 7 days from *now* (the injected clock), so older
    ``as_of`` values get ``None`` rather than a look-ahead answer. Each post is weighted by
    ``1 + log1p(likes + reposts + replies)``.
    """

    def __init__(self, bearer_token: str, clock: Clock, *, base_url: str = "https://api.x.com",
                 lookback: timedelta = timedelta(hours=24), max_results: int = 100, timeout: float = 5.0,
                 queries: Mapping[str, str] | None = None, query_for: Callable[[str], str] | None = None,
                 name: str = "twitter") -> None:
        if not bearer_token:
            raise ProviderAuthError("X bearer token is empty: set SENTIMENT_TWITTER_BEARER_TOKEN")
        self._token = bearer_token
        self._clock = clock
        self.base_url = base_url
        self.lookback = lookback
        self.max_results = max(10, min(100, max_results))
        self.timeout = timeout
        self._queries = dict(queries or {})
        self._query_for = query_for or _cashtag_query
        self.name = name

    def __repr__(self) -> str:
        return f"XRecentSearchProvider(base_url={self.base_url!r}, bearer_token=***)"

    def score(self, symbol: str, as_of: datetime) -> SentimentReading | None:
        now = self._clock.now()
        oldest = now - RECENT_SEARCH_WINDOW + timedelta(minutes=1)
        start = max(as_of - self.lookback, oldest)
        if start >= as_of:
            return None
        # X wants end_time at least 10 s in the past.
        end = min(as_of, now - timedelta(seconds=10))
        status, body, headers = get_json(
            self.base_url, "/2/tweets/search/recent",
            {"query": self._queries.get(symbol.upper()) or self._query_for(symbol),
             "start_time": start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "end_time": end.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "max_results": self.max_results, "tweet.fields": "created_at,public_metrics,lang",
             "sort_order": "recency"},
            {"Authorization": f"Bearer {self._token}"}, timeout=self.timeout, source="x")
        if status == 429:
            reset = headers.get("x-rate-limit-reset") if headers else None
            wait = None
            if reset and str(reset).isdigit():
                wait = max(0.0, int(reset) - now.timestamp())
            raise ProviderRateLimitedError(f"x: HTTP 429 {body.get('detail', 'Too Many Requests')}", wait)
        if status in (401, 403):
            raise ProviderAuthError(f"x: HTTP {status} {body.get('title', '')}: {body.get('detail', '')} "
                                    "(check SENTIMENT_TWITTER_BEARER_TOKEN and the app's access level)")
        if status != 200:
            raise ProviderError(f"x: HTTP {status} {body.get('title', '')} {body.get('detail', '')}".strip())
        total = weight_sum = 0.0
        n = 0
        for post in body.get("data") or []:
            created = post.get("created_at")
            if created:
                when = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
                if not (start <= when < as_of):
                    continue
            metrics = post.get("public_metrics") or {}
            engagement = sum(int(metrics.get(k, 0) or 0) for k in ("like_count", "retweet_count", "reply_count"))
            weight = 1.0 + math.log1p(engagement)
            total += weight * compound(post.get("text", ""))
            weight_sum += weight
            n += 1
        if n == 0:
            return None
        return SentimentReading(symbol=symbol.upper(), score=total / weight_sum, as_of=as_of, provider=self.name,
                                sample_size=n, confidence=confidence_for(n, saturation=20))
