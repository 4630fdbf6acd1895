"""RegimeService: current and historical regime labels, from memory, following the regime store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from featurecast.api.periodic import PeriodicRefresh
from featurecast.api.services.common import (
    RenderedBodies,
)

log = logging.getLogger(__name__)


class RegimesUnavailableError(RuntimeError):
    """The regime store has no model yet."""


class UnknownScopeError(LookupError):
    pass


class BadRegimeQueryError(ValueError):
    """A request the caller can fix: a reversed date range or an unknown labelling."""


LABELLINGS = ("point_in_time", "in_sample")


@dataclass(frozen=True)
class LabelSeries:
    dates: np.ndarray  # datetime64[D], ascending
    labels: list[dict[str, Any]]  # oldest first

    @classmethod
    def of(cls, newest_first: list[dict[str, Any]]) -> LabelSeries:
        labels = newest_first[::-1]
        return cls(np.array([doc["date"] for doc in labels], dtype="datetime64[D]"), labels)


@dataclass(frozen=True)
class RegimeView:
    """One scope's current regime model and its two label series, held in memory: the point-in-time
    history (each day labelled by the version current then) and the current version's in-sample
    relabelling."""

    model: dict[str, Any]
    series: dict[str, LabelSeries]


class RegimeService:
    """Current and historical regime labels, served from memory; the regime store (MongoDB through
    pymongo) stays the system of record that the nightly flow writes.

    Every `check_interval` seconds each scope's current model document is read (a single small document
    with a change marker written after each batch of labels; in the server by a background thread, so no
    request waits on the store) and that scope's labels are reloaded only when the marker changed; every
    request answers from the arrays in memory (searchsorted, well
    under a millisecond, the same at any history length). The store is opened for each check and closed
    after it, so no connection is shared between request threads (the embedded store's SQLite connection
    belongs to the thread that made it). If a check fails, the last good view keeps being served."""

    def __init__(
        self, store_factory: Callable[[], tuple[Any, Any]], *, check_interval: float = 1.0, background: bool = False
    ) -> None:
        self._store_factory = store_factory
        self._views: dict[str, RegimeView] | None = None
        self._markers: dict[str, tuple[Any, ...]] = {}
        # The server checks in a thread (no request waits on the store); tests check inline, deterministically.
        self._refresher = PeriodicRefresh(
            self._refresh, lambda: self._views is not None, check_interval, background=background
        )
        self.bodies = RenderedBodies()

    @property
    def check_interval(self) -> float:
        return self._refresher.interval

    @check_interval.setter
    def check_interval(self, seconds: float) -> None:
        self._refresher.interval = seconds

    def views(self) -> dict[str, RegimeView]:
        self._refresher.poll()
        return self._views or {}

    def regime_json(
        self,
        scope: str,
        *,
        start: date | None = None,
        end: date | None = None,
        limit: int | None = None,
        labelling: str = "point_in_time",
    ) -> bytes:
        """The `/market-data/regime` body, rendered once per labels marker and parameters."""
        from featurecast.api.schemas import RegimeOut

        key = (self.marker(scope), scope, start, end, limit, labelling)
        return self.bodies.get(
            key,
            lambda: (
                RegimeOut(**self.regime(scope, start=start, end=end, limit=limit, labelling=labelling))
                .model_dump_json()
                .encode()
            ),
        )

    def marker(self, scope: str) -> tuple[Any, ...] | None:
        """What identifies the labels served for `scope` now (changes when the store's marker moves)."""
        self.views()
        return self._markers.get(scope) if scope in (self._views or {}) else None

    def _refresh(self) -> None:
        try:
            store, client = self._store_factory()
        except Exception as exc:  # an unreachable store must not take the API down
            log.warning("regime store unavailable, keeping the last view: %s", exc)
            return
        try:
            views = dict(self._views or {})
            for scope in store.scopes():
                model = store.current_model(scope)
                if model is None:
                    continue
                marker = (model["model_version"], model.get("labels_through"), model.get("labels_written_at"))
                if scope in views and self._markers.get(scope) == marker:
                    continue
                history = store.history(scope, limit=10**9)
                if history:
                    in_sample = store.history(scope, model["model_version"], limit=10**9)
                    series = {"point_in_time": LabelSeries.of(history), "in_sample": LabelSeries.of(in_sample)}
                    views[scope] = RegimeView(model, series)
                    self._markers[scope] = marker
            self._views = views
        except Exception as exc:  # keep serving the last good view
            log.warning("could not refresh regimes, keeping the last view: %s", exc)
            if self._views is None:
                self._views = {}
        finally:
            client.close()

    def regime(
        self,
        scope: str,
        *,
        start: date | None = None,
        end: date | None = None,
        limit: int | None = None,
        labelling: str = "point_in_time",
    ) -> dict[str, Any]:
        """The newest point-in-time label with the current model's metadata, and on request (start, end
        or limit) the history of the chosen labelling, newest first."""
        if start and end and start > end:
            raise BadRegimeQueryError(f"start {start} is after end {end}")
        if labelling not in LABELLINGS:
            raise BadRegimeQueryError(f"labelling must be one of {', '.join(LABELLINGS)}, got {labelling[:40]!r}")
        view = self.views().get(scope)
        if view is None:
            if scope != "market":
                raise UnknownScopeError(scope)
            raise RegimesUnavailableError(
                "no regime labels yet: the daily flow's regime step writes them (`featurecast run`, or "
                "`featurecast regimes refresh`)"
            )
        latest = view.series["point_in_time"].labels[-1]
        history = None
        if start or end or limit:
            chosen = view.series[labelling]
            low = 0 if start is None else int(np.searchsorted(chosen.dates, np.datetime64(start, "D"), side="left"))
            high = len(chosen.dates)
            if end is not None:
                high = int(np.searchsorted(chosen.dates, np.datetime64(end, "D"), side="right"))
            low = max(low, high - (limit or 100))
            history = chosen.labels[low:high][::-1]
        return {
            **latest,
            "as_of": latest["date"],
            "labelling": labelling,
            "metadata": view.model["metadata"],
            "model_fit_window": [view.model["fit_start"], view.model["fit_end"]],
            "history": history,
        }
