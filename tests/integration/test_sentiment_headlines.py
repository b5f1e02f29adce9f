"""Offline headline sentiment: point in time, lookback, recency weighting, formats, speed."""

from __future__ import annotations

import gzip
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapters.sentiment import HeadlinesSentimentProvider, compound
from core.errors import DataError
from ports.sentiment import SentimentProvider

IST = timezone(timedelta(hours=5, minutes=30))
ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "data" / "news" / "headlines_RELIANCE_SBIN_TATAMOTORS_WIPRO_201605_202102_07akshay.csv.gz"


def write(path: Path, header: str, rows: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(header + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def news(tmp_path) -> Path:
    write(tmp_path / "a.csv.gz", "published_at,symbol,search_term,headline", [
        "2021-01-04 09:00:00,TCS,tcs,TCS shares surge after strong quarterly results",
        "2021-01-05 10:00:00,TCS,tcs,TCS stock plunges as company cuts revenue guidance",
        "2021-01-05 12:00:00,INFY,infosys,Infosys announces board meeting date",
        "2021-01-01 08:00:00,TCS,tcs,TCS rallies to a record high on upgrade",
    ])
    write(tmp_path / "b.csv.gz", "published_at_utc,symbol,publisher,headline,link", [
        "2021-01-05T06:00:00Z,INFY,Mint,Infosys soars on bullish outlook,https://example.invalid/1",
    ])
    return tmp_path


def at(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


def test_is_a_sentiment_provider(news):
    assert isinstance(HeadlinesSentimentProvider(news), SentimentProvider)


def test_finance_words_move_vader():
    assert compound("Infosys stock plunges as company cuts revenue guidance") < -0.5
    assert compound("TCS shares surge after strong quarterly results") > 0.3
    assert compound("Analysts downgrade Wipro, bearish on margins") < -0.3
    assert compound("TCS announces board meeting date") == 0.0


def test_only_headlines_published_before_as_of_count(news):
    provider = HeadlinesSentimentProvider(news, bucket=timedelta(seconds=1))
    assert provider.score("TCS", at(2021, 1, 1, 8, 0)) is None                  # published exactly then: not yet
    first = provider.score("TCS", at(2021, 1, 1, 8, 0, 1))
    assert first.sample_size == 1 and first.score > 0.5
    before_plunge = provider.score("TCS", at(2021, 1, 5, 10, 0))
    after_plunge = provider.score("TCS", at(2021, 1, 5, 10, 0, 1))
    assert before_plunge.sample_size == 1 and after_plunge.sample_size == 2   # 01-01 fell out of the 3-day lookback
    assert after_plunge.score < before_plunge.score
    assert after_plunge.as_of == at(2021, 1, 5, 10, 0, 1)


def test_recency_weighting_and_lookback(news):
    provider = HeadlinesSentimentProvider(news, lookback=timedelta(days=3), half_life=timedelta(hours=6),
                                          bucket=timedelta(seconds=1))
    reading = provider.score("TCS", at(2021, 1, 5, 11, 0))
    surge, plunge = compound(
        "TCS shares surge after strong quarterly results"), compound("TCS stock plunges as company cuts revenue guidance")
    w_surge, w_plunge = 0.5 ** (26 / 6), 0.5 ** (1 / 6)
    assert reading.score == pytest.approx((w_surge * surge + w_plunge * plunge) / (w_surge + w_plunge))
    assert provider.score("TCS", at(2021, 1, 9)) is None                       # everything older than 3 days


def test_utc_file_and_naive_ist_file_are_merged(news):
    provider = HeadlinesSentimentProvider(news, bucket=timedelta(seconds=1))
    # 06:00Z is 11:30 IST, before the naive 12:00 (IST) headline.
    assert provider.score("INFY", at(2021, 1, 5, 11, 29)) is None
    assert provider.score("INFY", at(2021, 1, 5, 11, 31)).sample_size == 1
    assert provider.score("INFY", at(2021, 1, 5, 12, 1)).sample_size == 2
    assert provider.symbols() == ["INFY", "TCS"]
    assert provider.score("WIPRO", at(2021, 1, 5)) is None


def test_bucketed_memo_never_looks_ahead(news):
    provider = HeadlinesSentimentProvider(news, bucket=timedelta(hours=1))
    # Buckets are whole UTC hours (hh:30 IST). 10:29 IST floors to 09:30 IST, so the 10:00
    # headline is not used even though it is before 10:29: the memo serves the whole bucket.
    early = provider.score("TCS", at(2021, 1, 5, 10, 29))
    assert early.sample_size == 1 and early.as_of == at(2021, 1, 5, 9, 30)
    again = provider.score("TCS", at(2021, 1, 5, 9, 45))
    assert again is early and provider.memo_hits == 1


def test_bad_files_raise_data_errors_naming_file_row_column(tmp_path):
    bad = write(tmp_path / "bad.csv.gz", "published_at,symbol,search_term,headline",
                ["2021-01-04 09:00:00,TCS,tcs,ok", "yesterday,TCS,tcs,broken"])
    with pytest.raises(DataError) as info:
        HeadlinesSentimentProvider(bad)
    assert info.value.row == 2 and info.value.column == "published_at" and "bad.csv.gz" in str(info.value)
    nocol = write(tmp_path / "nocol.csv.gz", "when,symbol,headline", ["2021-01-04,TCS,x"])
    with pytest.raises(DataError, match="published_at"):
        HeadlinesSentimentProvider(nocol)


def test_shipped_headlines_match_a_brute_force_point_in_time_reference():
    provider = HeadlinesSentimentProvider(SHIPPED, lookback=timedelta(days=3), half_life=timedelta(days=1),
                                          bucket=timedelta(seconds=1))
    frame = pd.read_csv(SHIPPED)
    frame["t"] = pd.to_datetime(frame["published_at"]).dt.tz_localize("Asia/Kolkata")
    frame = frame.drop_duplicates(subset=["symbol", "t", "headline"])
    rng = random.Random(7)
    checked = 0
    for _ in range(60):
        symbol = rng.choice(["RELIANCE", "SBIN", "TATAMOTORS", "WIPRO"])
        as_of = pd.Timestamp("2017-01-01", tz="Asia/Kolkata") + pd.Timedelta(minutes=rng.randrange(0, 4 * 365 * 1440))
        window = frame[(frame.symbol == symbol) & (frame.t < as_of) & (frame.t >= as_of - pd.Timedelta(days=3))]
        reading = provider.score(symbol, as_of.to_pydatetime())
        if window.empty:
            assert reading is None
            continue
        ages = (as_of - window.t).dt.total_seconds().to_numpy()
        weights = np.power(0.5, ages / 86400)
        expected = float(np.dot(weights, [compound(h) for h in window.headline]) / weights.sum())
        assert reading.sample_size == len(window) and reading.score == pytest.approx(expected)
        checked += 1
    assert checked > 10


def test_plain_csv_files_in_the_folder_are_read_too(news):
    (news / "c.csv").write_text("published_at,symbol,search_term,headline\n"
                                "2021-01-05 09:00:00,WIPRO,wipro,Wipro shares tumble after downgrade\n")
    provider = HeadlinesSentimentProvider(news)
    reading = provider.score("WIPRO", at(2021, 1, 5, 10))
    assert reading.sample_size == 1 and reading.score < -0.3
