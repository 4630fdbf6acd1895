"""MLSignalService: `/signals/{symbol}` from the serving snapshot, a dictionary lookup, no model work."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np

from featurecast.api.services.common import (
    NO_SNAPSHOT,
    FreshnessAwareService,
    SignalsUnavailableError,
    UnknownSymbolError,
)

log = logging.getLogger(__name__)


class NoSignalError(LookupError):
    """The symbol is known but has no signal on or before the requested date."""


@dataclass(frozen=True)
class Contribution:
    feature: str
    value: float | None
    contribution: float


@dataclass(frozen=True)
class Signal:
    symbol: str
    as_of: date
    probability: float
    raw_score: float
    base_value: float
    model_version: str
    model_family: str
    horizon_sessions: int
    top_contributions: list[Contribution]
    data_last_date: date
    snapshot: str
    stale: bool
    stale_reasons: list[str]


class MLSignalService(FreshnessAwareService):
    """Serves precomputed signals from the current snapshot: a dictionary lookup, no model work."""

    def signal_json(self, symbol: str, as_of: date | None = None, k: int = 5) -> bytes:
        """The `/signals/{symbol}` response body, rendered once per snapshot, symbol, as_of, k and day."""
        from featurecast.api.schemas import SignalOut

        snapshot = self.store.current()
        key = (snapshot.name if snapshot else None, symbol, as_of, k, self.today())
        return self.bodies.get(
            key, lambda: SignalOut(**asdict(self.signal(symbol, as_of, k))).model_dump_json().encode()
        )

    def signal(self, symbol: str, as_of: date | None = None, k: int = 5) -> Signal:
        snapshot = self.store.current()
        if snapshot is None:
            raise SignalsUnavailableError(NO_SNAPSHOT)
        series = snapshot.symbols.get(symbol)
        if series is None:
            raise UnknownSymbolError(symbol)
        position = len(series.dates) - 1
        if as_of is not None:
            position = int(np.searchsorted(series.dates, np.datetime64(as_of, "D"), side="right")) - 1
            if position < 0:
                raise NoSignalError(
                    f"no signal for {symbol} on or before {as_of}; the first is {series.dates[0].astype(date)}"
                )
        contributions = series.contributions[position]
        order = np.argsort(-np.abs(contributions))[:k]
        values = series.feature_values[position]
        top = [
            Contribution(
                snapshot.features[i], None if np.isnan(values[i]) else float(values[i]), float(contributions[i])
            )
            for i in order
        ]
        signal_date = series.dates[position].astype(date)
        reasons = self.stale_reasons(snapshot, symbol, signal_date if as_of is None else None, "signal")
        return Signal(
            symbol=symbol,
            as_of=signal_date,
            probability=float(series.probability[position]),
            raw_score=float(series.raw_score[position]),
            base_value=float(series.base_value[position]),
            model_version=snapshot.model_version,
            model_family=snapshot.family,
            horizon_sessions=snapshot.horizon,
            top_contributions=top,
            data_last_date=snapshot.data_last_date,
            snapshot=snapshot.name,
            stale=bool(reasons),
            stale_reasons=reasons,
        )
