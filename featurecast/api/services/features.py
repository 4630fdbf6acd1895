"""The online feature store: `GET /features/{symbol}` answered from the serving snapshot's feature arrays.

The snapshot holds each symbol's newest bars of every feature (and the market's newest dates); a request
is a binary search on the dates and a column pick, the rendered body cached per snapshot and parameters.
Values are as of `as_of` the way `featurecast.features.get_historical_features` gives them with
`at_close=True`: the newest bar dated on or before it, never a later one, and the market-wide features as
of the same day.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from featurecast.api.services.common import (
    NO_SNAPSHOT,
    FreshnessAwareService,
    SignalsUnavailableError,
    UnknownSymbolError,
)
from featurecast.api.snapshot import FeatureRows, Snapshot

MAX_NAMES = 200


class UnknownFeatureError(LookupError):
    """Requested feature names that the snapshot does not hold; the message lists near matches."""


class NoFeaturesError(LookupError):
    """The symbol is known but the snapshot has no bar of it on or before the requested date."""


def near(name: str, known: Sequence[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, list(known), n=n, cutoff=0.5)


def _position(dates: np.ndarray, as_of: date | None) -> int:
    if as_of is None:
        return len(dates) - 1
    return int(np.searchsorted(dates, np.datetime64(as_of, "D"), side="right")) - 1


def _value(rows: FeatureRows, position: int, column: int) -> Any:
    if position < 0:
        return None
    value = rows.values[position, column]
    if np.isnan(value):
        return None
    if rows.boolean[column]:
        return bool(value)
    if rows.integral[column]:
        return int(value)
    return float(value)


class FeatureService(FreshnessAwareService):
    """Serves features from the current snapshot; nothing is computed per request."""

    def names(self) -> list[str]:
        """Every feature name the snapshot serves: per-symbol features, then market-wide ones."""
        snapshot = self._snapshot()
        return self._all_names(snapshot)

    def features_json(self, symbol: str, names: Sequence[str] | None = None, as_of: date | None = None) -> bytes:
        """The `/features/{symbol}` body, rendered once per snapshot, symbol, names, as_of and day."""
        snapshot = self.store.current()
        key = (snapshot.name if snapshot else None, symbol, tuple(names) if names else None, as_of, self.today())
        return self.bodies.get(key, lambda: json.dumps(self.features(symbol, names, as_of)).encode())

    def features(
        self, symbol: str, names: Sequence[str] | None = None, as_of: date | None = None
    ) -> dict[str, Any]:
        snapshot = self._snapshot()
        rows = snapshot.online_features.get(symbol)
        if rows is None:
            hint = near(symbol, list(snapshot.online_features))
            raise UnknownSymbolError(
                f"unknown symbol {symbol!r}: the serving snapshot has no features for it"
                + (f" (did you mean {', '.join(hint)}?)" if hint else "")
            )
        market = snapshot.online_market_features
        wanted = self._resolve(snapshot, names)
        position = _position(rows.dates, as_of)
        if position < 0:
            first, last = rows.dates[0].astype(date), rows.dates[-1].astype(date)
            raise NoFeaturesError(
                f"no features for {symbol} on or before {as_of}: the serving snapshot holds its bars from {first} "
                f"to {last} (the newest {len(rows.dates)}); older values are in the warehouse, read them with "
                "featurecast.features.get_historical_features"
            )
        feature_date = rows.dates[position].astype(date)
        market_position = _position(market.dates, as_of)
        symbol_columns = {n: i for i, n in enumerate(rows.names)}
        market_columns = {n: i for i, n in enumerate(market.names)}
        values: dict[str, Any] = {}
        for name in wanted:
            if name in symbol_columns:
                values[name] = _value(rows, position, symbol_columns[name])
            else:
                values[name] = _value(market, market_position, market_columns[name])
        reasons = self.stale_reasons(snapshot, symbol, feature_date if as_of is None else None, "bar")
        return {
            "symbol": symbol,
            "as_of": (as_of or feature_date).isoformat(),
            "feature_date": feature_date.isoformat(),
            "market_feature_date": market.dates[market_position].astype(date).isoformat()
            if market_position >= 0
            else None,
            "features": values,
            "data_last_date": snapshot.data_last_date.isoformat(),
            "snapshot": snapshot.name,
            "stale": bool(reasons),
            "stale_reasons": reasons,
        }

    def _snapshot(self) -> Snapshot:
        snapshot = self.store.current()
        if snapshot is None:
            raise SignalsUnavailableError(NO_SNAPSHOT)
        return snapshot

    @staticmethod
    def _all_names(snapshot: Snapshot) -> list[str]:
        first = next(iter(snapshot.online_features.values()), None)
        return (first.names if first else []) + snapshot.online_market_features.names

    def _resolve(self, snapshot: Snapshot, names: Sequence[str] | None) -> list[str]:
        known = self._all_names(snapshot)
        if not names:
            return known
        if len(names) > MAX_NAMES:
            raise UnknownFeatureError(f"at most {MAX_NAMES} feature names per request, got {len(names)}")
        known_set = set(known)
        unknown = [n for n in names if n not in known_set]
        if unknown:
            parts = []
            for name in unknown[:5]:
                hint = near(name, known)
                shown = name if len(name) <= 40 else f"{name[:40]}…"
                parts.append(f"{shown!r}" + (f" (did you mean {', '.join(hint)}?)" if hint else ""))
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise UnknownFeatureError(
                f"unknown feature {', '.join(parts)}{more}; `featurecast features list` lists the {len(known)} names"
            )
        return list(dict.fromkeys(names))
