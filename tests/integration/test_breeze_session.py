"""Breeze session: credentials, envelopes, failure classification, health events, secrecy."""

from __future__ import annotations

import logging

import pytest

from adapters.breeze import BreezeSession, TokenBucket, load_breeze_credentials, open_breeze_session
from adapters.breeze.credentials import BreezeCredentials
from adapters.breeze.errors import BreezeTransientError
from core.errors import BrokerApiError, BrokerDailyLimitError, BrokerSessionError, ConfigError
from core.events.codec import encode_payload
from tests.fakes.breeze_sdk import DAILY_CAP, FakeBreezeSDK, err
from tests.fakes.manual_clock import FakeTime

KEY, SECRET, TOKEN = "key-ABC123abc", "secret-xyz", "token-123"
CREDS = BreezeCredentials(api_key=KEY, api_secret=SECRET, session_token=TOKEN)


def make_session(sdk: FakeBreezeSDK | None = None, events: list | None = None, time: FakeTime | None = None,
                 **kw) -> tuple[BreezeSession, FakeBreezeSDK, FakeTime]:
    sdk = sdk or FakeBreezeSDK(KEY)
    time = time or FakeTime()
    session = BreezeSession(CREDS, sdk_factory=lambda key: sdk, on_health=(events.append if events is not None else None),
                            rate_limiter=TokenBucket(100, 60, monotonic=time.monotonic, sleep=time.sleep),
                            sleep=time.sleep, **{"order_limiter": TokenBucket(10, 1, monotonic=time.monotonic,
                                                                             sleep=time.sleep), **kw})
    return session.connect(), sdk, time


def test_credentials_come_from_env_and_dotenv_with_env_winning(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("BREEZE_API_KEY=from-file\nBREEZE_API_SECRET=s-file\nBREEZE_SESSION_TOKEN=t-file\n")
    creds = load_breeze_credentials({"BREEZE_SESSION_TOKEN": "t-env"}, dotenv_path=dotenv)
    assert (creds.api_key, creds.api_secret, creds.session_token) == ("from-file", "s-file", "t-env")


def test_missing_credentials_name_the_variables_not_values():
    with pytest.raises(ConfigError) as info:
        load_breeze_credentials({"BREEZE_API_KEY": "k-visible"})
    message = str(info.value)
    assert "BREEZE_API_SECRET" in message and "BREEZE_SESSION_TOKEN" in message
    assert "k-visible" not in message and "API_Session" in message


def test_credentials_never_appear_in_repr_str_or_session_repr():
    session, _, _ = make_session()
    for text in (repr(CREDS), str(CREDS), repr(session)):
        for secret in (KEY, SECRET, TOKEN):
            assert secret not in text


def test_connect_with_wrong_token_is_a_session_error_without_secrets():
    events: list = []
    sdk = FakeBreezeSDK(KEY, session_token="the-real-one")
    with pytest.raises(BrokerSessionError) as info:
        make_session(sdk, events)
    assert "Could not authenticate" in str(info.value) and "BREEZE_SESSION_TOKEN" in str(info.value)
    assert TOKEN not in str(info.value) and SECRET not in str(info.value)
    assert events[-1].status == "down" and events[-1].feed == "breeze"


def test_expired_session_key_gives_typed_error_and_down_event():
    events: list = []
    with pytest.raises(BrokerSessionError, match="Session key is expired"):
        make_session(FakeBreezeSDK(KEY, expired=True), events)
    assert [e.status for e in events] == ["down"]


def test_expiry_during_the_day_is_reported_once(caplog):
    events: list = []
    session, sdk, _ = make_session(events=events)
    sdk.fail_next("get_funds", Exception("Unexpected error: Session key is expired."),
                  Exception("Unexpected error: Session key is expired."))
    for _ in range(2):
        with pytest.raises(BrokerSessionError):
            session.call("get_funds")
    assert [e.status for e in events] == ["ok", "down"]


def test_sdk_answering_none_before_generate_session_is_a_session_error():
    sdk = FakeBreezeSDK(KEY)
    session, _, _ = make_session(sdk)
    sdk.session_ok = False           # as if generate_session never ran
    with pytest.raises(BrokerSessionError, match="not established"):
        session.call("get_funds")


def test_daily_cap_status_5_is_not_retried():
    events: list = []
    session, sdk, time = make_session(events=events)
    sdk.fail_next("get_funds", DAILY_CAP)
    with pytest.raises(BrokerDailyLimitError, match="daily API call limit"):
        session.call_with_retry("get_funds")
    assert sdk.count("get_funds") == 1 and time.sleeps == []
    assert events[-1].status == "down"


def test_429_backs_off_then_succeeds():
    session, sdk, time = make_session(rate_limit_backoff_seconds=30.0)
    sdk.fail_next("get_funds", err("Too Many Requests", 429))
    funds = session.call_with_retry("get_funds")
    assert funds["total_bank_balance"] == 100000.0
    assert sdk.count("get_funds") == 2 and time.sleeps == [30.0]


def test_transient_failures_retry_with_exponential_backoff_then_give_up():
    session, sdk, time = make_session(retry_attempts=4, backoff_seconds=1.0)
    boom = Exception("Error in get_funds(): HTTPSConnectionPool: Read timed out.")
    sdk.fail_next("get_funds", boom, boom, boom, boom)
    with pytest.raises(BreezeTransientError):
        session.call_with_retry("get_funds")
    assert sdk.count("get_funds") == 4 and time.sleeps == [1.0, 2.0, 4.0]


def test_other_error_envelopes_are_api_errors_and_not_retried():
    session, sdk, time = make_session()
    sdk.fail_next("get_funds", err("Exchange-Code should be either 'nse', or 'nfo' or 'ndx' or 'mcx'"))
    with pytest.raises(BrokerApiError, match="Exchange-Code"):
        session.call_with_retry("get_funds")
    assert time.sleeps == []


def test_rate_limiter_spaces_calls_to_100_per_minute():
    session, sdk, time = make_session()
    for _ in range(150):
        session.call("get_funds")
    # 1 token went to generate_session; 100 free, the other 51 wait 0.6 s each.
    assert time.t == pytest.approx(51 * 0.6)
    assert session.calls == 150


def test_orders_are_paced_to_the_venues_10_per_second():
    session, sdk, time = make_session()
    ok = {"Success": {"order_id": "X"}, "Status": 200, "Error": None}
    for method in ("place_order", "modify_order", "cancel_order"):
        setattr(sdk, method, lambda **_kw: ok)  # the pacing is under test, not the order book
    for _ in range(12):
        session.call("get_funds")  # not an order: only the per-minute cap applies
    assert time.t == 0
    for k in range(25):
        session.call(("place_order", "modify_order", "cancel_order")[k % 3])
    # 25 order calls: 10 free, the other 15 wait 0.1 s each (the per-minute cap is not reached)
    assert time.t == pytest.approx(15 * 0.1)
    assert session.order_limiter.capacity == 10 and session.calls == 37


def test_secrets_are_scrubbed_from_sdk_error_texts_and_logs(caplog):
    caplog.set_level(logging.DEBUG)
    events: list = []
    session, sdk, _ = make_session(events=events)
    sdk.fail_next("get_funds", Exception(f"Error in get_funds(): 503 for url ?key={KEY}&t={TOKEN}&s={SECRET}"))
    sdk.fail_next("get_funds", err(f"bad checksum for {SECRET}"))
    with pytest.raises(BreezeTransientError) as first:
        session.call("get_funds")
    with pytest.raises(BrokerApiError) as second:
        session.call("get_funds")
    texts = [str(first.value), str(second.value), caplog.text] + [encode_payload(e) for e in events]
    for text in texts:
        for secret in (KEY, SECRET, TOKEN):
            assert secret not in text
    assert first.value.__cause__ is None and first.value.__suppress_context__


def test_open_breeze_session_reads_env(monkeypatch):
    monkeypatch.setenv("BREEZE_API_KEY", KEY)
    monkeypatch.setenv("BREEZE_API_SECRET", SECRET)
    monkeypatch.setenv("BREEZE_SESSION_TOKEN", TOKEN)
    seen = []
    session = open_breeze_session(sdk_factory=lambda key: seen.append(key) or FakeBreezeSDK(key))
    assert seen == [KEY] and session.health_status == "ok"


def test_default_factory_without_the_sdk_installed_says_how_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "breeze_connect", None)   # import raises ImportError
    with pytest.raises(ConfigError, match=r"sensequant\[live\]"):
        BreezeSession(CREDS).connect()


def test_importing_the_adapter_does_not_import_breeze_connect():
    import subprocess
    import sys
    code = "import adapters.breeze, sys; print('breeze_connect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_sdk_method_is_an_api_error_not_retried():
    session, sdk, time = make_session()
    with pytest.raises(BrokerApiError, match="no get_everything"):
        session.call_with_retry("get_everything")
    assert time.sleeps == []
