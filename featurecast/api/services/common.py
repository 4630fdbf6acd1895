"""What the services share: the "no snapshot" contract, per-symbol freshness, the rendered-body cache
and DataFrame rows as plain records."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from featurecast.api.snapshot import Snapshot, SnapshotStore

log = logging.getLogger(__name__)


NO_SNAPSHOT = (
    "no serving snapshot has been published yet: the daily flow's last step publishes it (`featurecast run`, "
    "or `featurecast publish` after training a champion)"
)


class SignalsUnavailableError(RuntimeError):
    """No snapshot has been published yet."""


class UnknownSymbolError(LookupError):
    pass


class RenderedBodies:
    """An explicit, bounded cache of JSON response bodies, keyed by everything a body depends on (the
    snapshot or regime marker, the request's parameters, the day). A repeated request then skips the
    response model and the JSON encoder, which cost ten times the lookup behind them. When full it is
    emptied, so hostile parameter values cannot grow it."""

    def __init__(self, limit: int = 8192) -> None:
        self.limit = limit
        self._bodies: dict[tuple[Any, ...], bytes] = {}

    def get(self, key: tuple[Any, ...], render: Callable[[], bytes]) -> bytes:
        body = self._bodies.get(key)
        if body is None:
            body = render()
            if len(self._bodies) >= self.limit:
                self._bodies = {}
            self._bodies[key] = body
        return body


def stale_reasons(
    snapshot: Snapshot,
    symbol: str,
    latest_served: date | None,
    *,
    today: date,
    max_data_age_days: int,
    max_sessions_behind: int,
    what: str,
) -> list[str]:
    """Why an answer for `symbol` from `snapshot` is stale (empty when fresh). `latest_served` is the date
    of what a "latest" request got (None for an as-of request, which asked for the past)."""
    reasons = []
    age = (today - snapshot.data_last_date).days
    if age > max_data_age_days:
        reasons.append(f"the newest market data is from {snapshot.data_last_date}, {age} days ago")
    last_date, behind, _ = snapshot.symbol_freshness.get(symbol, (None, 0, False))
    if behind > max_sessions_behind:
        reasons.append(f"{symbol}'s feed is {behind} sessions behind the market (last bar {last_date})")
    if latest_served is not None and latest_served < snapshot.data_last_date:
        reasons.append(
            f"the latest {what} for {symbol} is from {latest_served}, the data runs to {snapshot.data_last_date}"
        )
    return reasons


class FreshnessAwareService:
    """A service answering per symbol from the current snapshot, with the freshness limits its answers are
    judged stale by and a cache of rendered bodies."""

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
        self.bodies = RenderedBodies()

    def stale_reasons(self, snapshot: Snapshot, symbol: str, latest_served: date | None, what: str) -> list[str]:
        return stale_reasons(
            snapshot,
            symbol,
            latest_served,
            today=self.today(),
            max_data_age_days=self.max_data_age_days,
            max_sessions_behind=self.max_sessions_behind,
            what=what,
        )


def interval(row: dict[str, float] | None) -> list[float] | None:
    return [row["ci_low"], row["ci_high"]] if row else None


def records(frame: Any) -> list[dict[str, Any]]:
    """DataFrame rows as plain dicts with Python scalars (NaN as None). Timestamps become dates, except in
    columns named `*_at`, which are instants: those keep their time of day, in UTC."""
    out = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            if isinstance(value, pd.Timestamp) and key.endswith("_at"):
                value = value.to_pydatetime().replace(tzinfo=UTC) if value.tzinfo is None else value.to_pydatetime()
            elif hasattr(value, "date") and callable(value.date):
                value = value.date()
            elif isinstance(value, float) and np.isnan(value):
                value = None
            elif isinstance(value, np.generic):
                value = value.item()
            clean[key] = value
        out.append(clean)
    return out
