"""The Alpha Vantage client against a loopback replay of the provider's responses. No internet.

What each provider answer gets:
| answer (HTTP 200 unless noted)                 | result                                             |
| time series JSON / CSV                         | rows, canonical columns                            |
| {"Error Message": "Invalid API call ..."}      | UnknownSymbolError, no retry                       |
| {"Note": "... 5 calls per minute ..."}         | bounded backoff, then data or RateLimitError       |
| {"Information": "... 1 request per second"}    | bounded backoff (transient)                        |
| {"Information": "... 25 requests per day ..."} | RateLimitError at once (retrying cannot help)      |
| {"Information": "... premium ..."}             | PremiumEndpointError, no retry                     |
| {} / empty series / CSV header only            | EmptyDataError                                     |
| HTTP 503 then 200                              | retried by urllib3, then data                      |
| connection refused                             | ProviderError with the key redacted                |
| HTTP 429 (then 200, or every time)             | bounded backoff, then data or RateLimitError       |
| "2. Symbol" MSFT for a request for IBM         | ProviderError, nothing lands                       |
| a date key twice in the series                 | ProviderError (the CSV path rejects it too)        |
| null / [1,2] / a row that is a string          | ProviderError naming the shape, no traceback       |
Any failure during a multi-symbol ingest leaves the warehouse unchanged.
"""

import logging
import re
import socket
from dataclasses import replace

import pytest

from featurecast.marketdata.alphavantage import AlphaVantageClient, AlphaVantageRequest
from featurecast.marketdata.errors import (
    EmptyDataError,
    MissingApiKeyError,
    PremiumEndpointError,
    ProviderError,
    RateLimitError,
    UnknownSymbolError,
)
from featurecast.marketdata.service import MarketDataService
from tests.python.av_replay import FIXTURES, Replay
from tests.python.conftest import make_settings, warehouse_state

KEY = "SECRETKEY123"


@pytest.fixture()
def replay():
    with Replay() as server:
        yield server


@pytest.fixture()
def settings(tmp_path, replay):
    return replace(
        make_settings(tmp_path),
        alphavantage_api_key=KEY,
        alphavantage_base_url=replay.url,
        alphavantage_max_retries=2,
        alphavantage_backoff_seconds=0.01,
        alphavantage_timeout_seconds=5,
    )


def client(settings, sleeps: list[float] | None = None) -> AlphaVantageClient:
    return AlphaVantageClient(settings, sleep=(sleeps.append if sleeps is not None else None))


def test_daily_json_is_parsed_and_the_key_is_sent(settings, replay) -> None:
    replay.script("IBM", "time_series_daily_IBM.json")
    frame = client(settings).fetch(AlphaVantageRequest("IBM", function="TIME_SERIES_DAILY"))
    assert list(frame.columns) == ["symbol", "date", "open", "high", "low", "close", "volume"]
    assert frame.iloc[0].to_dict() == {
        "symbol": "IBM",
        "date": "2024-06-07",
        "open": "168.1800",
        "high": "171.3050",
        "low": "168.0600",
        "close": "170.0100",
        "volume": "3475495",
    }
    assert replay.requests[0] == {
        "function": "TIME_SERIES_DAILY",
        "symbol": "IBM",
        "outputsize": "compact",
        "datatype": "json",
        "apikey": KEY,
    }


def test_adjusted_json_and_csv(settings, replay) -> None:
    replay.script("IBM", "time_series_daily_adjusted_IBM.json", "time_series_daily_IBM.csv")
    adjusted = client(settings).fetch(AlphaVantageRequest("IBM"))
    assert adjusted.set_index("date").loc["2024-06-06", ["adjusted_close", "dividend_amount"]].tolist() == [
        "166.53",
        "1.6700",
    ]
    csv = client(settings).fetch(AlphaVantageRequest("IBM", datatype="csv", outputsize="full"))
    assert csv["close"].tolist() == ["170.0100", "168.2000"]
    assert replay.requests[1]["outputsize"] == "full" and replay.requests[1]["datatype"] == "csv"


def test_error_message_is_an_unknown_symbol(settings, replay) -> None:
    replay.script("NOPE", "error_message.json")
    with pytest.raises(UnknownSymbolError, match=r"symbol 'NOPE'.*Invalid API call"):
        client(settings).fetch(AlphaVantageRequest("NOPE"))
    assert len(replay.requests) == 1


def test_rate_limit_note_backs_off_then_succeeds(settings, replay) -> None:
    replay.script("IBM", "note_rate_limit.json", "information_burst.json", "time_series_daily_IBM.json")
    sleeps: list[float] = []
    frame = client(settings, sleeps).fetch(AlphaVantageRequest("IBM"))
    assert len(frame) == 3
    assert len(replay.requests) == 3 and len(sleeps) == 2
    assert sleeps[1] >= sleeps[0] > 0  # exponential, bounded


def test_rate_limit_that_persists_gives_up_after_the_bound(settings, replay) -> None:
    replay.script("IBM", "note_rate_limit.json")
    with pytest.raises(RateLimitError, match="after 2 retries"):
        client(settings, []).fetch(AlphaVantageRequest("IBM"))
    assert len(replay.requests) == 3  # first try + 2 retries, then stop


def test_daily_quota_fails_at_once(settings, replay) -> None:
    replay.script("IBM", "information_daily_limit.json")
    with pytest.raises(RateLimitError, match="daily request quota"):
        client(settings, []).fetch(AlphaVantageRequest("IBM"))
    assert len(replay.requests) == 1


def test_premium_notice(settings, replay) -> None:
    replay.script("IBM", "information_premium.json")
    with pytest.raises(PremiumEndpointError, match="outputsize=full"):
        client(settings).fetch(AlphaVantageRequest("IBM", function="TIME_SERIES_DAILY", outputsize="full"))


@pytest.mark.parametrize(
    ("fixture", "datatype"), [("empty.json", "json"), ("empty_series.json", "json"), ("header_only.csv", "csv")]
)
def test_empty_responses(settings, replay, fixture, datatype) -> None:
    replay.script("NEWCO", fixture)
    with pytest.raises(EmptyDataError):
        client(settings).fetch(AlphaVantageRequest("NEWCO", datatype=datatype))


def test_error_body_for_a_csv_request(settings, replay) -> None:
    replay.script("NOPE", "error_message.json")
    with pytest.raises(UnknownSymbolError):
        client(settings).fetch(AlphaVantageRequest("NOPE", datatype="csv"))


def test_server_errors_are_retried(settings, replay) -> None:
    replay.script("IBM", (503, "busy"), "time_series_daily_IBM.json")
    assert len(client(settings).fetch(AlphaVantageRequest("IBM"))) == 3
    assert len(replay.requests) == 2


def test_the_key_never_appears_in_errors_or_logs(settings, replay, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    replay.script("IBM", "note_rate_limit.json")
    with pytest.raises(RateLimitError) as limited:
        client(settings, []).fetch(AlphaVantageRequest("IBM"))
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/query"
    with pytest.raises(ProviderError) as refused:
        client(replace(settings, alphavantage_base_url=dead, alphavantage_max_retries=0)).fetch(
            AlphaVantageRequest("IBM")
        )
    for exc in (limited.value, refused.value):
        assert KEY not in str(exc) and KEY not in repr(exc)
        assert exc.__cause__ is None and exc.__suppress_context__
    assert "***" in str(refused.value)
    assert KEY not in caplog.text


def test_missing_key_is_a_clear_error(settings) -> None:
    with pytest.raises(MissingApiKeyError, match="ALPHAVANTAGE_API_KEY"):
        AlphaVantageClient(replace(settings, alphavantage_api_key=None))


def test_ingest_lands_all_symbols_or_none(settings, replay) -> None:
    service = MarketDataService(settings)
    replay.script("IBM", "time_series_daily_adjusted_IBM.json")
    replay.script("MSFT", "information_daily_limit.json")
    with pytest.raises(RateLimitError):
        service.ingest_alphavantage(["IBM", "MSFT"])
    assert warehouse_state(settings.warehouse_path) == {"exists": False}
    adjusted = (FIXTURES / "time_series_daily_adjusted_IBM.json").read_text()
    replay.script("MSFT", adjusted.replace('"2. Symbol": "IBM"', '"2. Symbol": "MSFT"'))
    report = service.ingest_alphavantage(["ibm", "msft"])
    assert report.symbols == ["IBM", "MSFT"] and report.rows_inserted == 4 and report.source == "alphavantage"


FIXTURE = (FIXTURES / "time_series_daily_IBM.json").read_text()


def test_http_429_is_a_rate_limit_with_bounded_backoff(settings, replay) -> None:
    replay.script("IBM", (429, '{"message": "Too Many Requests"}'), "time_series_daily_IBM.json")
    sleeps: list[float] = []
    assert len(client(settings, sleeps).fetch(AlphaVantageRequest("IBM"))) == 3
    assert len(sleeps) == 1
    replay.script("MSFT", (429, "Too Many Requests"))
    with pytest.raises(RateLimitError, match=r"after 2 retries.*429"):
        client(settings, []).fetch(AlphaVantageRequest("MSFT"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (FIXTURE.replace('"2. Symbol": "IBM"', '"2. Symbol": "MSFT"'), "for IBM with data for 'MSFT'"),
        (FIXTURE.replace('"2024-06-06": {', '"2024-06-07": {'), "repeats the key '2024-06-07'"),
        ("null", "JSON NoneType"),
        ("[1, 2]", "JSON list"),
        ('{"Meta Data": {}, "Time Series (Daily)": {"2024-06-07": "168.18"}}', "on '2024-06-07' is a str"),
        ('{"Meta Data": {}, "Time Series (Daily)": [1, 2]}', "is a list, not an object"),
    ],
)
def test_bodies_not_of_the_documented_shape_are_rejected(settings, replay, body, message) -> None:
    replay.script("IBM", body)
    service = MarketDataService(settings)
    with pytest.raises(ProviderError, match=re.escape(message)):
        service.ingest_alphavantage(["IBM"])
    assert not settings.warehouse_path.exists()
