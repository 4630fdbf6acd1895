"""PortfolioService and ForecastService: the portfolios, their newest forecasts (each horizon's
champion by default) and the evaluation of past ones, from the snapshot."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from featurecast.api.services.common import (
    NO_SNAPSHOT,
    SignalsUnavailableError,
    records,
)
from featurecast.api.snapshot import Snapshot, SnapshotStore
from ml.forecasts.as_of import behind_data
from ml.forecasts.names import BASELINE

log = logging.getLogger(__name__)


class UnknownPortfolioError(LookupError):
    pass


class ForecastsUnavailableError(RuntimeError):
    """No forecasts have been published yet."""


class BadHorizonError(ValueError):
    """A horizon the portfolio's forecasts do not have (the caller can fix it: 422)."""


class ForecastNotIssuedError(LookupError):
    """A forecaster issues no forecasts for this portfolio (its history is too short for that model)."""


class PortfolioService:
    """The named portfolios (equal_weight over the universe, plus seeds/portfolio_weights.csv)."""

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    def portfolio(self, name: str) -> dict[str, Any]:
        snapshot = self.store.current()
        if snapshot is None:
            raise SignalsUnavailableError(NO_SNAPSHOT)
        found = snapshot.portfolios[snapshot.portfolios["portfolio"] == name]
        if found.empty:
            known = ", ".join(snapshot.portfolios["portfolio"]) or "none"
            raise UnknownPortfolioError(f"unknown portfolio {name!r}; known: {known}")
        return records(found)[0]


class ForecastService:
    """The latest percentile forecasts of a portfolio and the evaluation of past ones, from the snapshot."""

    def __init__(self, store: SnapshotStore, portfolios: PortfolioService) -> None:
        self.store = store
        self.portfolios = portfolios

    def _snapshot(self) -> Snapshot:
        snapshot = self.store.current()
        if snapshot is None:
            raise SignalsUnavailableError(NO_SNAPSHOT)
        return snapshot

    def forecast(self, name: str, *, model: str | None = None, horizon: int | None = None) -> dict[str, Any]:
        """The newest forecasts of `name`: by `model`, or by default each horizon's champion forecaster
        (marts.fct_forecaster_selection; the baseline where nothing has matured to judge yet)."""
        portfolio = self.portfolios.portfolio(name)
        snapshot = self._snapshot()
        mine = snapshot.forecasts[snapshot.forecasts["portfolio"] == name]
        if mine.empty:
            raise ForecastsUnavailableError(
                f"no forecasts published for {name} yet: the daily flow issues them (`featurecast run`, or "
                "`featurecast forecasts issue` then `featurecast publish`)"
            )
        selection = snapshot.forecaster_selection
        selection = selection[selection["portfolio"] == name]
        if model is None:
            champions = selection[selection["is_champion"]].set_index("horizon")
            chosen = mine["horizon"].map(lambda h: champions["model"].get(h, BASELINE))
            rows = mine[mine["model"] == chosen]
        else:
            rows = mine[mine["model"] == model]
        if rows.empty:
            issued = ", ".join(sorted(mine["model"].unique()))
            raise ForecastNotIssuedError(
                f"{model} issues no forecasts for {name}: the portfolio's history ({portfolio['first_date']} to "
                f"{portfolio['last_date']}) is too short for that model; forecasters with forecasts for it: {issued}"
            )
        available = sorted(int(h) for h in rows["horizon"].unique())
        if horizon is not None:
            if horizon not in available:
                choices = ", ".join(map(str, available))
                raise BadHorizonError(f"horizon must be one of {choices} sessions, got {horizon}")
            rows = rows[rows["horizon"] == horizon]
        verdicts = selection.set_index(["horizon", "model"])
        first = rows.iloc[0]
        versions = rows["model_version"].unique()
        as_of = first["issue_date"].date()
        return {
            "portfolio": name,
            "as_of": as_of,
            "data_last_date": snapshot.data_last_date,
            "behind_data": behind_data(name, as_of, snapshot.data_last_date),
            "equity_at_issue": float(first["equity_at_issue"]),
            "equity_last_date": portfolio["last_date"],
            "model": model or "champion",
            "model_version": versions[0] if len(versions) == 1 else None,
            "model_versions": sorted(str(v) for v in versions),
            "horizons": [
                {
                    "horizon_sessions": int(r["horizon"]),
                    "model": r["model"],
                    "model_version": r["model_version"],
                    **_verdict(verdicts, int(r["horizon"]), r["model"]),
                    "target_date": r["target_date"].date(),
                    # a target on or before the newest data is history, not a projection
                    "target_passed": r["target_date"].date() <= snapshot.data_last_date,
                    "return_q05": float(r["q05"]),
                    "return_q50": float(r["q50"]),
                    "return_q95": float(r["q95"]),
                    "equity_q05": float(r["equity_q05"]),
                    "equity_q50": float(r["equity_q50"]),
                    "equity_q95": float(r["equity_q95"]),
                }
                for _, r in rows.sort_values("horizon").iterrows()
            ],
        }

    def evaluation(self, name: str) -> dict[str, Any]:
        self.portfolios.portfolio(name)
        snapshot = self._snapshot()
        calibration = snapshot.forecast_calibration
        backtest = snapshot.var_backtest
        by_regime = snapshot.calibration_by_regime
        selection = snapshot.forecaster_selection
        return {
            "portfolio": name,
            "calibration": records(calibration[calibration["portfolio"] == name].drop(columns="portfolio")),
            "var_backtest": records(backtest[backtest["portfolio"] == name].drop(columns="portfolio")),
            "by_regime": records(by_regime[by_regime["portfolio"] == name].drop(columns="portfolio")),
            "selection": records(selection[selection["portfolio"] == name].drop(columns="portfolio")),
        }


def _verdict(selection: pd.DataFrame, horizon: int, model: str) -> dict[str, Any]:
    """What the selection rule says of a forecaster at a horizon (nothing before any forecast matured)."""
    if (horizon, model) not in selection.index:
        return {"champion": False, "eligible": None, "ineligible_because": "no matured forecasts to judge yet"}
    row = selection.loc[(horizon, model)]
    reason = row["ineligible_because"]
    return {
        "champion": bool(row["is_champion"]),
        "eligible": bool(row["eligible"]),
        "ineligible_because": None if pd.isna(reason) else str(reason),
    }
