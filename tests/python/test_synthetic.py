"""The synthetic provider: deterministic, with the stylized facts of real daily prices."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from featurecast.calendar import holidays
from featurecast.marketdata.synthetic import DefectSpec, SyntheticSpec, generate, inject_defects

SPEC = SyntheticSpec(n_symbols=30, years=8.0, seed=3)


@pytest.fixture(scope="module")
def market():
    return generate(SPEC)


def _returns(prices: pd.DataFrame) -> pd.DataFrame:
    wide = prices.pivot(index="date", columns="symbol", values="close")
    return np.log(wide / wide.shift()).dropna()


def test_same_seed_same_data_other_seed_other_data(market) -> None:
    again = generate(SPEC)
    pd.testing.assert_frame_equal(market.prices, again.prices)
    other = generate(SyntheticSpec(n_symbols=30, years=8.0, seed=4))
    assert not np.allclose(market.prices["close"].to_numpy(), other.prices["close"].to_numpy())


def test_bars_are_consistent_and_on_sessions(market) -> None:
    p = market.prices
    assert (p[["open", "high", "low", "close"]] > 0).all().all()
    assert (p["high"] >= p[["open", "close", "low"]].max(axis=1)).all()
    assert (p["low"] <= p[["open", "close", "high"]].min(axis=1)).all()
    dates = pd.to_datetime(pd.Series(p["date"].unique()))
    assert (dates.dt.day_of_week < 5).all()
    assert not set(p["date"]) & set(holidays()["date"])
    assert len(p) == 30 * round(8.0 * 252)


def test_fat_tails_and_volatility_clustering(market) -> None:
    r = _returns(market.prices).to_numpy().ravel()
    assert stats.kurtosis(r) > 1.0  # a normal distribution has 0
    absolute = np.abs(_returns(market.prices))
    lag1 = np.mean([absolute[c].autocorr(1) for c in absolute.columns])
    assert lag1 > 0.05  # |r| is autocorrelated: calm and stormy periods cluster


def test_common_market_factor_and_regimes(market) -> None:
    r = _returns(market.prices)
    corr = r.corr().to_numpy()
    assert corr[np.triu_indices_from(corr, 1)].mean() > 0.15
    regimes = market.regimes.set_index("date")
    assert set(regimes["regime_name"]) == {"bull", "bear"}
    index = r.mean(axis=1)
    bear = regimes.loc[index.index, "regime"] == 1
    assert index[bear].std() > 1.5 * index[~bear].std()  # bear markets are more volatile
    assert index[bear].mean() < index[~bear].mean()


def test_volume_rises_with_absolute_returns(market) -> None:
    p = market.prices.sort_values(["symbol", "date"]).copy()
    p["abs_r"] = p.groupby("symbol")["close"].transform(lambda s: np.log(s / s.shift()).abs())
    p["log_v"] = np.log(p["volume"])
    p = p.dropna()
    within = p.groupby("symbol")[["abs_r", "log_v"]].corr().xs("abs_r", level=1)["log_v"]
    assert within.mean() > 0.2


def test_defect_log_describes_exactly_what_changed(market) -> None:
    clean = market.prices
    spec = DefectSpec(gaps=3, spikes=3, volume_spikes=2, stale_runs=1, ohlc_inconsistent=2, duplicates=2)
    dirty, log = inject_defects(clean, spec)
    counts = log["defect"].value_counts().to_dict()
    assert counts == {
        "gap": 3,
        "spike": 3,
        "volume_spike": 2,
        "stale": spec.stale_run_length,
        "ohlc_inconsistent": 2,
        "duplicate": 2,
    }
    assert len(dirty) == len(clean) - 3 + 2
    keyed = dirty.drop_duplicates().set_index(["symbol", "date"])
    for row in log[log["defect"] == "gap"].itertuples():
        assert (row.symbol, row.date) not in keyed.index
    for row in log[log["defect"] == "ohlc_inconsistent"].itertuples():
        bar = keyed.loc[(row.symbol, row.date)]
        assert bar["high"] < bar["close"]
    assert dirty.duplicated().sum() == 2
