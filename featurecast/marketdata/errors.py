"""Errors raised by market-data ingestion. Each one says what was wrong and leaves the warehouse unchanged."""

from __future__ import annotations


class IngestError(Exception):
    """Base class: the input was rejected before anything was written."""


class EmptyDataError(IngestError):
    """The provider or file delivered no rows."""


class SchemaError(IngestError):
    """Columns are missing, unknown or cannot be mapped."""


class InvalidValueError(IngestError):
    """A value cannot be parsed or is out of range (non-numeric price, bad date, future date)."""


class DuplicateRowsError(IngestError):
    """The same (symbol, date) appears twice in one batch with different values."""


class ProviderError(IngestError):
    """The data provider answered with an error body (e.g. Alpha Vantage's `Error Message`)."""


class UnknownSymbolError(ProviderError):
    """The provider does not know the symbol."""


class RateLimitError(ProviderError):
    """The provider's rate limit was hit and bounded backoff did not get through."""


class PremiumEndpointError(ProviderError):
    """The request needs a premium plan."""


class MissingApiKeyError(ProviderError):
    """The provider needs an API key and none is configured."""
