"""NewsAPI and X recent-search providers against a local HTTP server (documented shapes)."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.sentiment import (NewsApiProvider, ProviderAuthError, ProviderError, ProviderRateLimitedError,
                                XRecentSearchProvider)
from ports.sentiment import SentimentProvider
from tests.fakes.manual_clock import ManualClock

UTC = timezone.utc
AS_OF = datetime(2025, 2, 5, 10, 0, tzinfo=UTC)
NEWS_KEY, BEARER = "news-key-123", "bearer-abc-999"


class Api:
    """Routes: path -> (status, body, headers) or a callable(query) returning that; logs requests."""

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.delay = 0.0


@pytest.fixture
def api():
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server naming
            parsed = urllib.parse.urlparse(self.path)
            query = urllib.parse.parse_qs(parsed.query)
            state.requests.append((parsed.path, query, dict(self.headers)))
            if state.delay:
                time.sleep(state.delay)
            route = state.routes.get(parsed.path, (404, {"status": "error", "code": "notFound"}, {}))
            status, body, headers = route(query) if callable(route) else route
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def article(title: str, published: str, description: str | None = None) -> dict:
    return {"source": {"id": None, "name": "Mint"}, "author": "x", "title": title, "description": description,
            "url": "https://example.invalid/a", "urlToImage": None, "publishedAt": published, "content": "..."}


def newsapi(api, **kw) -> NewsApiProvider:
    return NewsApiProvider(NEWS_KEY, base_url=api.base_url, timeout=2.0, **kw)


def test_newsapi_scores_articles_before_as_of_with_key_in_header_only(api):
    api.routes["/v2/everything"] = (200, {"status": "ok", "totalResults": 3, "articles": [
        article("Reliance shares surge to record high", "2025-02-05T09:00:00Z", "Analysts bullish"),
        article("Reliance stock tumbles on weak refining margins", "2025-02-04T09:00:00Z"),
        article("Reliance plunges after results", "2025-02-05T10:30:00Z"),      # after as_of: ignored
    ]}, {})
    provider = newsapi(api)
    assert isinstance(provider, SentimentProvider)
    reading = provider.score("RELIANCE", AS_OF)
    assert reading.sample_size == 2 and reading.score > 0 and reading.provider == "newsapi"
    path, query, headers = api.requests[0]
    assert query["q"] == ['"Reliance Industries"'] and query["from"] == ["2025-02-02T10:00:00Z"]
    assert query["to"] == ["2025-02-05T10:00:00Z"] and query["sortBy"] == ["publishedAt"]
    assert headers.get("X-Api-Key") == NEWS_KEY and NEWS_KEY not in path + json.dumps(query)
    assert NEWS_KEY not in repr(provider)


def test_newsapi_no_articles_is_none(api):
    api.routes["/v2/everything"] = (200, {"status": "ok", "totalResults": 0, "articles": []}, {})
    assert newsapi(api).score("TCS", AS_OF) is None


@pytest.mark.parametrize("status, code, error", [
    (429, "rateLimited", ProviderRateLimitedError),
    (401, "apiKeyInvalid", ProviderAuthError),
    (426, "apiKeyExhausted", ProviderAuthError),
    (400, "parameterInvalid", ProviderError),
    (500, "unexpectedError", ProviderError),
])
def test_newsapi_error_objects_become_typed_errors(api, status, code, error):
    api.routes["/v2/everything"] = (status, {"status": "error", "code": code, "message": "documented message"}, {})
    with pytest.raises(error) as info:
        newsapi(api).score("TCS", AS_OF)
    assert code in str(info.value) and NEWS_KEY not in str(info.value)


def test_newsapi_timeout_is_a_provider_error(api):
    api.delay = 0.5
    api.routes["/v2/everything"] = (200, {"status": "ok", "articles": []}, {})
    provider = NewsApiProvider(NEWS_KEY, base_url=api.base_url, timeout=0.1)
    with pytest.raises(ProviderError, match="request failed"):
        provider.score("TCS", AS_OF)


def test_connection_refused_is_a_provider_error():
    provider = NewsApiProvider(NEWS_KEY, base_url="http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(ProviderError):
        provider.score("TCS", AS_OF)


def tweets(*posts) -> dict:
    return {"data": list(posts), "includes": {"users": []},
            "meta": {"newest_id": "2", "oldest_id": "1", "result_count": len(posts)}}


def post(pid: str, text: str, created: str, likes: int = 0) -> dict:
    return {"id": pid, "text": text, "edit_history_tweet_ids": [pid], "created_at": created, "lang": "en",
            "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": likes, "quote_count": 0}}


def x_provider(api, now=AS_OF + timedelta(hours=1)) -> XRecentSearchProvider:
    return XRecentSearchProvider(BEARER, ManualClock(now), base_url=api.base_url, timeout=2.0)


def test_x_engagement_weighted_score_with_bearer_header(api):
    api.routes["/2/tweets/search/recent"] = (200, tweets(
        post("1", "$TCS looking bullish, breakout rally", "2025-02-05T09:00:00.000Z", likes=500),
        post("2", "$TCS this will crash, bearish", "2025-02-05T08:00:00.000Z", likes=0),
        post("3", "$TCS plunges", "2025-02-05T10:05:00.000Z", likes=9999)), {})   # after as_of
    provider = x_provider(api)
    assert isinstance(provider, SentimentProvider)
    reading = provider.score("TCS", AS_OF)
    assert reading.sample_size == 2 and reading.score > 0.2
    path, query, headers = api.requests[0]
    assert headers.get("Authorization") == f"Bearer {BEARER}"
    assert query["query"] == ["($TCS OR #TCS) lang:en -is:retweet"] and query["end_time"] == ["2025-02-05T10:00:00Z"]
    assert BEARER not in repr(provider)


def test_x_429_reports_when_to_retry(api):
    reset = int((AS_OF + timedelta(hours=1, minutes=15)).timestamp())
    api.routes["/2/tweets/search/recent"] = (429, {"title": "Too Many Requests", "type": "about:blank",
                                                   "status": 429, "detail": "Too Many Requests"},
                                             {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0",
                                              "x-rate-limit-reset": str(reset)})
    with pytest.raises(ProviderRateLimitedError) as info:
        x_provider(api).score("TCS", AS_OF)
    assert info.value.retry_after_seconds == pytest.approx(15 * 60)


def test_x_unauthorized_is_an_auth_error(api):
    api.routes["/2/tweets/search/recent"] = (401, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                                                   "detail": "Unauthorized"}, {})
    with pytest.raises(ProviderAuthError, match="BEARER_TOKEN"):
        x_provider(api).score("TCS", AS_OF)


def test_x_cannot_answer_for_times_older_than_recent_search_reaches(api):
    provider = x_provider(api, now=AS_OF + timedelta(days=10))
    assert provider.score("TCS", AS_OF) is None and api.requests == []


def test_empty_credentials_are_refused():
    with pytest.raises(ProviderAuthError):
        NewsApiProvider("")
    with pytest.raises(ProviderAuthError):
        XRecentSearchProvider("", ManualClock(AS_OF))
