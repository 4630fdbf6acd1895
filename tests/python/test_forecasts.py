"""D3 (first part): walk-forward percentile forecasts, their calibration, and the SQL evaluation."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from dbt_project.runner import build
from featurecast.calendar import trading_days
from featurecast.marketdata.synthetic import SyntheticSpec, generate
from ml.forecasts.engine import forecast_portfolio
from ml.forecasts.issue import issue_forecasts
from tests.python.conftest import make_settings

SESSIONS = np.array(trading_days(date(1990, 1, 1), date(2035, 12, 31)), dtype="datetime64[ns]")


@pytest.fixture(scope="module")
def long_history() -> pd.DataFrame:
    """20 years of an equal-weight portfolio over a synthetic market with bull/bear volatility regimes."""
    prices = generate(SyntheticSpec(n_symbols=20, years=20.0, seed=9)).prices
    wide = prices.pivot(index="date", columns="symbol", values="close")
    ret = np.log(np.exp(np.log(wide / wide.shift())).mean(axis=1)).dropna()
    daily = pd.DataFrame({"date": pd.to_datetime(ret.index), "ret_1d": ret.to_numpy()})
    daily["equity"] = np.exp(daily["ret_1d"].cumsum())
    return daily


@pytest.fixture(scope="module")
def scored(long_history) -> pd.DataFrame:
    forecasts = forecast_portfolio(long_history, SESSIONS)
    equity = long_history.set_index("date")["equity"]
    forecasts["realised"] = np.log(
        equity.reindex(forecasts["target_date"]).to_numpy() / forecasts["equity_at_issue"].to_numpy()
    )
    forecasts = forecasts.dropna(subset=["realised"])
    # Skip the first year: the conformal forecaster is still gathering outcomes.
    return forecasts[forecasts["issue_date"] >= forecasts["issue_date"].min() + pd.Timedelta(days=365)]


def calibration(frame: pd.DataFrame) -> dict[str, float]:
    r = frame["realised"]
    return {
        "coverage": ((r >= frame["q05"]) & (r <= frame["q95"])).mean(),
        "q05": (r < frame["q05"]).mean(),
        "q50": (r < frame["q50"]).mean(),
        "q95": (r < frame["q95"]).mean(),
    }


@pytest.mark.parametrize(
    "horizon",
    [
        5,
        21,
        pytest.param(
            63,
            marks=pytest.mark.xfail(
                strict=True,
                reason="63-session coverage is about 81 %: overlapping outcomes leave the online conformal "
                "layer too few independent samples; quantile models with volatility and regime "
                "features are the open part of issue 5",
            ),
        ),
    ],
)
def test_conformal_forecasts_are_calibrated_out_of_sample(scored, horizon) -> None:
    result = calibration(scored[(scored["model"] == "conformal") & (scored["horizon"] == horizon)])
    assert abs(result["coverage"] - 0.90) <= 0.04, result
    for level in ("q05", "q50", "q95"):
        assert abs(result[level] - float(level[1:]) / 100) <= 0.03, result


def test_quantiles_never_cross(scored) -> None:
    assert ((scored["q05"] <= scored["q50"]) & (scored["q50"] <= scored["q95"])).all()


def test_forecasts_are_walk_forward(long_history) -> None:
    """Appending future data changes no past forecast."""
    cut = len(long_history) - 300
    before = forecast_portfolio(long_history.iloc[:cut], SESSIONS)
    after = forecast_portfolio(long_history, SESSIONS)
    after = after[after["issue_date"] <= before["issue_date"].max()]
    key = ["issue_date", "horizon", "model"]
    pd.testing.assert_frame_equal(
        before.sort_values(key).reset_index(drop=True),
        after.sort_values(key).reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,
    )


@pytest.mark.dbt
def test_issued_forecasts_are_stored_once_and_evaluated_only_when_due(clean_warehouse, tmp_path) -> None:
    settings = make_settings(tmp_path)
    shutil.copy(clean_warehouse.path, settings.warehouse_path)
    first = issue_forecasts(settings.warehouse_path)
    again = issue_forecasts(settings.warehouse_path)
    build(settings, select="stg_ml__forecasts+", quiet=True)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        stored, distinct = con.execute(
            "select count(*), count(distinct (portfolio, issue_date, horizon, model_version)) from ml.forecasts"
        ).fetchone()
        last_day = con.execute("select max(date) from marts.fct_portfolio_daily").fetchone()[0]
        evaluated = con.execute("select count(*), max(target_date) from marts.fct_forecast_evaluation").fetchone()
        due = con.execute("select count(*) from ml.forecasts where target_date <= ?", [last_day]).fetchone()[0]
        calibration_rows = con.execute("select count(*) from marts.fct_forecast_calibration").fetchone()[0]
        var_rows = con.execute("select count(*) from marts.fct_var_backtest").fetchone()[0]
    finally:
        con.close()
    assert first.forecasts == again.forecasts == stored == distinct
    assert evaluated[0] == due and evaluated[1] <= last_day  # due forecasts are scored, later ones are not
    assert calibration_rows == var_rows == 6  # 2 models x 3 horizons, one portfolio
