"""A real Alpha Vantage client for TIME_SERIES_DAILY and TIME_SERIES_DAILY_ADJUSTED (JSON and CSV).

Alpha Vantage answers most problems with HTTP 200 and a JSON body instead of data:
- `{"Error Message": "Invalid API call. ..."}`: a bad symbol or function -> `UnknownSymbolError`/`ProviderError`;
- `{"Note": "... 5 calls per minute ..."}` or an `Information` notice about calls per second/minute: a
  transient rate limit -> bounded exponential backoff (tenacity), then `RateLimitError`;
- `{"Information": "... 25 requests per day ..."}`: the daily quota -> `RateLimitError` at once
  (retrying within the day cannot succeed);
- `{"Information": "... premium ..."}` (premium endpoint or `outputsize=full`) -> `PremiumEndpointError`;
- an empty object, a time series with no rows, or a CSV with only a header -> `EmptyDataError`.
The same JSON error bodies arrive for `datatype=csv` requests, so both formats are checked for them.
HTTP 429 is a rate limit like the notices (bounded backoff, then `RateLimitError`); HTTP 5xx and
connection errors are retried by urllib3 with backoff. A body for another symbol than requested, a date
key repeated, or any body not of the documented shape is a `ProviderError`: nothing lands.

The API key is sent as the query parameter Alpha Vantage requires and never appears in a log line, an
exception message or a chained traceback: errors are rebuilt from text redacted by `featurecast.redaction`
(any case, URL-encoded, or cut across) before anything cuts it, and redirects are not followed (the key is
in the URL; a 3xx is a `ProviderError` naming the host it pointed to).
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryError, Retrying, nap, retry_if_exception_type, stop_after_attempt, wait_exponential
from urllib3.util.retry import Retry

from featurecast.config import Settings
from featurecast.marketdata.errors import (
    EmptyDataError,
    IngestError,
    MissingApiKeyError,
    PremiumEndpointError,
    ProviderError,
    RateLimitError,
    UnknownSymbolError,
)
from featurecast.marketdata.validation import normalize_symbol
from featurecast.redaction import cut, install_log_redaction, redact, register

log = logging.getLogger(__name__)

Function = Literal["TIME_SERIES_DAILY", "TIME_SERIES_DAILY_ADJUSTED"]
OutputSize = Literal["compact", "full"]
DataType = Literal["json", "csv"]

_JSON_FIELDS = {
    "1. open": "open",
    "2. high": "high",
    "3. low": "low",
    "4. close": "close",
    "5. volume": "volume",  # TIME_SERIES_DAILY
    "5. adjusted close": "adjusted_close",  # TIME_SERIES_DAILY_ADJUSTED
    "6. volume": "volume",
    "7. dividend amount": "dividend_amount",
    "8. split coefficient": "split_coefficient",
}
_CSV_FIELDS = {
    "timestamp": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adjusted_close": "adjusted_close",
    "volume": "volume",
    "dividend_amount": "dividend_amount",
    "split_coefficient": "split_coefficient",
}
_TRANSIENT = re.compile(r"per (second|minute)|call frequency|spreading out|burst", re.IGNORECASE)
_DAILY = re.compile(r"per day|daily (rate )?limit", re.IGNORECASE)


class _TransientRateLimit(Exception):
    """Internal: a per-second/minute notice; tenacity retries on it."""


@dataclass(frozen=True)
class AlphaVantageRequest:
    symbol: str
    function: Function = "TIME_SERIES_DAILY_ADJUSTED"
    outputsize: OutputSize = "compact"
    datatype: DataType = "json"


class AlphaVantageClient:
    """Fetches daily bars for one symbol at a time. Construct with `Settings`; reuse for many symbols."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] | None = None) -> None:
        if not settings.alphavantage_api_key:
            raise MissingApiKeyError("ALPHAVANTAGE_API_KEY is not set: the alphavantage provider needs a key")
        self._key = settings.alphavantage_api_key
        self._url = settings.alphavantage_base_url
        self._timeout = settings.alphavantage_timeout_seconds
        self._max_retries = settings.alphavantage_max_retries
        self._backoff = settings.alphavantage_backoff_seconds
        self._sleep = sleep
        register(self._key)
        install_log_redaction()
        self._session = requests.Session()
        retry = Retry(
            total=settings.alphavantage_max_retries,
            backoff_factor=min(1.0, settings.alphavantage_backoff_seconds),
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=("GET",),
            raise_on_status=False,
            # 429 is a rate limit: tenacity's bounded backoff handles it, not a server-chosen Retry-After.
            respect_retry_after_header=False,
        )
        self._session.mount("http://", HTTPAdapter(max_retries=retry))
        self._session.mount("https://", HTTPAdapter(max_retries=retry))

    def close(self) -> None:
        self._session.close()

    def _get(self, request: AlphaVantageRequest) -> requests.Response:
        params = {
            "function": request.function,
            "symbol": request.symbol,
            "outputsize": request.outputsize,
            "datatype": request.datatype,
            "apikey": self._key,
        }
        try:
            # Redirects are not followed: the key is in the query, and a redirect could carry it to another host.
            response = self._session.get(self._url, params=params, timeout=self._timeout, allow_redirects=False)
        except requests.RequestException as exc:
            # requests puts the full URL (with the key, perhaps URL-encoded) in its messages: rebuild, don't chain.
            raise ProviderError(
                f"Alpha Vantage request for {request.symbol} failed: {type(exc).__name__}: {cut(str(exc), 300)}"
            ) from None
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After")
            raise _TransientRateLimit(
                f"HTTP 429 Too Many Requests{f' (Retry-After: {cut(retry_after, 20)})' if retry_after else ''}"
            )
        if response.is_redirect or 300 <= response.status_code < 400:
            location = urlsplit(response.headers.get("Location", "")).hostname or "an unnamed place"
            raise ProviderError(
                f"Alpha Vantage answered HTTP {response.status_code} for {request.symbol}, a redirect to "
                f"{cut(location, 80)}; redirects are not followed (the API key would travel with them): check "
                "ALPHAVANTAGE_BASE_URL"
            )
        if response.status_code >= 400:
            raise ProviderError(
                f"Alpha Vantage answered HTTP {response.status_code} for {request.symbol}: {cut(response.text, 200)}"
            )
        return response

    def _check_notice(self, request: AlphaVantageRequest, text: str) -> None:
        """Raise for Alpha Vantage's JSON error and notice bodies; return if the body may hold data."""
        stripped = text.lstrip()
        if not stripped.startswith("{"):
            return
        try:
            body = json.loads(stripped)
        except json.JSONDecodeError:
            raise ProviderError(f"Alpha Vantage sent malformed JSON for {request.symbol}") from None
        if not isinstance(body, dict):
            raise ProviderError(f"Alpha Vantage sent an unexpected JSON document for {request.symbol}")
        if "Error Message" in body:
            message = cut(str(body["Error Message"]), 300)
            if "invalid api call" in message.lower():
                raise UnknownSymbolError(
                    f"Alpha Vantage rejected {request.function} for symbol {request.symbol!r} "
                    f"(unknown symbol or bad parameters): {message}"
                )
            raise ProviderError(f"Alpha Vantage error for {request.symbol}: {message}")
        notice = body.get("Note") or body.get("Information")
        if notice is not None:
            message = cut(str(notice), 300)
            if "Note" in body or _TRANSIENT.search(message):
                raise _TransientRateLimit(message)
            if _DAILY.search(message):
                raise RateLimitError(f"Alpha Vantage daily request quota reached: {message}")
            if "premium" in message.lower():
                raise PremiumEndpointError(
                    f"Alpha Vantage says {request.function} (outputsize={request.outputsize}) needs a premium "
                    f"plan: {message}"
                )
            raise ProviderError(f"Alpha Vantage notice for {request.symbol}: {message}")

    def _fetch_text(self, request: AlphaVantageRequest) -> str:
        def attempt() -> str:
            text = self._get(request).text
            self._check_notice(request, text)
            return text

        retrying = Retrying(
            retry=retry_if_exception_type(_TransientRateLimit),
            stop=stop_after_attempt(self._max_retries + 1),
            wait=wait_exponential(multiplier=self._backoff, min=self._backoff, max=max(self._backoff, 60.0)),
            before_sleep=lambda state: log.warning(
                "Alpha Vantage rate limit for %s; retry %d of %d",
                request.symbol,
                state.attempt_number,
                self._max_retries,
            ),
            reraise=False,
            sleep=self._sleep or nap.sleep,
        )
        try:
            return retrying(attempt)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise RateLimitError(
                f"Alpha Vantage kept rate-limiting {request.symbol} after {self._max_retries} retries: {last}"
            ) from None

    def fetch(self, request: AlphaVantageRequest) -> pd.DataFrame:
        """Fetch one symbol's daily bars as a frame with canonical column names (values still text).

        Every error leaves here redacted as a whole, whatever part of the provider's answer it quotes."""
        try:
            text = self._fetch_text(request)
            frame = _parse_csv(text) if request.datatype == "csv" else _parse_json(text, request.symbol)
        except IngestError as exc:
            raise type(exc)(redact(str(exc))) from None
        if frame.empty:
            raise EmptyDataError(f"Alpha Vantage returned no rows for {request.symbol}")
        frame.insert(0, "symbol", request.symbol.upper())
        return frame


class _RepeatedKeyError(ValueError):
    pass


def _reject_repeated_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """json object hook: a key twice in one object (a date delivered twice) is an error, not last-wins."""
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise _RepeatedKeyError(key)
        seen[key] = value
    return seen


def _parse_json(text: str, symbol: str) -> pd.DataFrame:
    """Rows of an Alpha Vantage daily JSON body, or a ProviderError for anything not of its documented
    shape: {"Meta Data": {..., "2. Symbol": ...}, "Time Series (Daily)": {date: {"1. open": ...}}}."""
    try:
        body = json.loads(text, object_pairs_hook=_reject_repeated_keys)
    except _RepeatedKeyError as exc:
        raise ProviderError(
            f"Alpha Vantage response for {symbol} repeats the key {str(exc)!r} (a date delivered twice); "
            "the feed contradicts itself, nothing was loaded"
        ) from None
    except (json.JSONDecodeError, RecursionError):
        raise ProviderError(f"Alpha Vantage sent malformed JSON for {symbol}") from None
    if not isinstance(body, dict):
        raise ProviderError(
            f"Alpha Vantage sent a JSON {type(body).__name__} for {symbol}, not the documented object with "
            "'Meta Data' and a time series"
        )
    series_key = next((k for k in body if k.startswith("Time Series")), None)
    if series_key is None:
        if not body:
            raise EmptyDataError(f"Alpha Vantage returned an empty response for {symbol}")
        keys = cut(", ".join(body), 200)
        raise ProviderError(f"Alpha Vantage response for {symbol} has no time series (keys: {keys})")
    meta = body.get("Meta Data")
    if isinstance(meta, dict):
        answered = meta.get("2. Symbol")
        if answered is not None and str(answered).strip().upper() != symbol.strip().upper():
            raise ProviderError(
                f"Alpha Vantage answered the request for {symbol} with data for {cut(str(answered), 40)!r}; "
                "nothing was loaded"
            )
    series = body[series_key] or {}
    if not isinstance(series, dict):
        raise ProviderError(f"Alpha Vantage's {series_key!r} for {symbol} is a {type(series).__name__}, not an object")
    rows = []
    for day, values in series.items():
        if not isinstance(values, dict):
            raise ProviderError(
                f"Alpha Vantage's row for {symbol} on {cut(str(day), 20)!r} is a {type(values).__name__}, not an object"
            )
        row = {"date": day}
        for field, value in values.items():
            if field in _JSON_FIELDS:
                row[_JSON_FIELDS[field]] = value
        rows.append(row)
    return pd.DataFrame(rows)


def _parse_csv(text: str) -> pd.DataFrame:
    if not text.strip():
        return pd.DataFrame()
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    unknown = [c for c in frame.columns if c not in _CSV_FIELDS]
    if unknown:
        raise ProviderError(f"Alpha Vantage CSV has unexpected column(s): {cut(', '.join(unknown), 200)}")
    return frame.rename(columns=_CSV_FIELDS)


def fetch_many(client: AlphaVantageClient, symbols: Iterable[str], **request: str) -> pd.DataFrame:
    """Fetch every symbol or none: the first failure raises before anything is returned."""
    frames = [client.fetch(AlphaVantageRequest(symbol=normalize_symbol(s), **request)) for s in symbols]  # type: ignore[arg-type]
    if not frames:
        raise EmptyDataError("no symbols requested")
    return pd.concat(frames, ignore_index=True)
