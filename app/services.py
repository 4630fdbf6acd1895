"""The ServiceFactory and the services it registers (MLSignalService first).

Routes never build services themselves: they ask the factory for a service by name through a FastAPI
dependency, so tests and later phases (regimes, forecasts, backtests) plug in the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from app.snapshot import SnapshotStore


class UnknownServiceError(KeyError):
    pass


class ServiceFactory:
    """A registry of named services, each built once on first use."""

    def __init__(self) -> None:
        self._builders: dict[str, Callable[[], Any]] = {}
        self._instances: dict[str, Any] = {}

    def register(self, name: str, builder: Callable[[], Any]) -> None:
        if name in self._builders:
            raise ValueError(f"service {name!r} is already registered")
        self._builders[name] = builder

    def names(self) -> list[str]:
        return sorted(self._builders)

    def get(self, name: str) -> Any:
        if name not in self._builders:
            raise UnknownServiceError(name)
        if name not in self._instances:
            self._instances[name] = self._builders[name]()
        return self._instances[name]


class SignalsUnavailableError(RuntimeError):
    """No snapshot has been published yet."""


class UnknownSymbolError(LookupError):
    pass


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


class MLSignalService:
    """Serves precomputed signals from the current snapshot: a dictionary lookup, no model work."""

    def __init__(
        self,
        store: SnapshotStore,
        *,
        max_data_age_days: int = 4,
        max_sessions_behind: int = 3,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.store = store
        self.max_data_age_days = max_data_age_days
        self.max_sessions_behind = max_sessions_behind
        self.today = today or (lambda: datetime.now(UTC).date())

    def signal(self, symbol: str, as_of: date | None = None, k: int = 5) -> Signal:
        snapshot = self.store.current()
        if snapshot is None:
            raise SignalsUnavailableError("no serving snapshot has been published yet: run `featurecast run`")
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
        reasons = []
        age = (self.today() - snapshot.data_last_date).days
        if age > self.max_data_age_days:
            reasons.append(f"the newest market data is from {snapshot.data_last_date}, {age} days ago")
        last_date, behind, _ = snapshot.symbol_freshness.get(symbol, (None, 0, False))
        if behind > self.max_sessions_behind:
            reasons.append(f"{symbol}'s feed is {behind} sessions behind the market (last bar {last_date})")
        if as_of is None and signal_date < snapshot.data_last_date:
            reasons.append(
                f"the latest signal for {symbol} is from {signal_date}, the data runs to {snapshot.data_last_date}"
            )
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
