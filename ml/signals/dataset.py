"""Reading what the signal models train and score on, from the feature marts (read-only)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from featurecast.errors import NotReadyError
from featurecast.marts import MartReader, reader_for

# Columns of the marts that are identifiers, raw levels or labels, never model inputs.
NON_FEATURES = {
    "symbol", "date", "close", "volume", "volume_status", "price_fields", "history_rows", "source_loaded_at",
    "label_end_date_21d",
}
LABEL_PREFIXES = ("fwd_ret_", "direction_")


def _feature_mart_columns(marts: MartReader | Path) -> list[tuple[str, str, str]]:
    """(name, type, description) of every column of marts.fct_daily_features, in table order."""
    return reader_for(marts).columns("marts.fct_daily_features")


def feature_columns(marts: MartReader | Path) -> list[str]:
    """The feature list: every column of marts.fct_daily_features but identifiers and raw levels."""
    return [
        name
        for name, _, _ in _feature_mart_columns(marts)
        if name not in NON_FEATURES and not name.startswith(LABEL_PREFIXES)
    ]


def feature_spec_hash(marts: MartReader | Path, features: list[str]) -> str:
    """A hash of the feature columns' names, types and descriptions as the warehouse documents them."""
    wanted = set(features)
    rows = sorted(row for row in _feature_mart_columns(marts) if row[0] in wanted)
    return hashlib.sha256("\n".join("|".join(row) for row in rows).encode()).hexdigest()


def data_fingerprint(marts: MartReader | Path, through: object) -> str:
    """A hash of the cleaned bars up to `through` (the last label's end): the inputs of every feature and
    label a model trains on, bit-exact as landed. Load times are left out, so the same data gives the
    same model version on any machine (and either engine), and a restated or released bar gives a new
    one. The features are not hashed: engines sum in parallel, so two builds can differ in a value's last
    bits."""
    bars = reader_for(marts).frame(
        "select symbol, date, open, high, low, close, volume from intermediate.int_prices_cleaned "
        "where date <= ? order by symbol, date",
        [through],
    )
    hashed = pd.util.hash_pandas_object(bars, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def trading_sessions(marts: MartReader | Path) -> np.ndarray:
    """Every trading session of marts.dim_trading_calendar, in order."""
    frame = reader_for(marts).frame("select date from marts.dim_trading_calendar where is_trading_day order by date")
    return frame["date"].to_numpy(dtype="datetime64[ns]")


def training_frame(marts: MartReader | Path, horizon: int) -> pd.DataFrame:
    """marts.fct_training_set with `label`, `forward_return` and `label_end_date` for one horizon."""
    if horizon not in (1, 5, 21):
        raise ValueError(f"horizon must be 1, 5 or 21 sessions (the labels the marts carry), got {horizon}")
    reader = reader_for(marts)
    frame = reader.frame("select * from marts.fct_training_set order by date, symbol")
    sessions = trading_sessions(reader)
    if frame.empty:
        raise NotReadyError("marts.fct_training_set is empty: ingest data and run `featurecast build` first")
    position = np.searchsorted(sessions, frame["date"].to_numpy(dtype="datetime64[ns]"))
    frame["label_end_date"] = pd.to_datetime(sessions[position + horizon])
    frame["label"] = frame[f"direction_{horizon}d"].astype(int)
    frame["forward_return"] = frame[f"fwd_ret_{horizon}d"]
    return frame


def scoring_frame(marts: MartReader | Path, last_dates: int) -> pd.DataFrame:
    """The last `last_dates` dates of marts.fct_daily_features for every tradable symbol, plus each symbol's
    own last row where its feed ended earlier: a symbol that stopped trading keeps a latest signal (served
    as stale) instead of vanishing. A benchmark (dim_symbols.role) gets no signal: it is not a holding."""
    return reader_for(marts).frame(
        """
        with tradable as (
            select symbol from marts.dim_symbols where is_tradable
        ),
        recent as (
            select distinct date from marts.fct_daily_features order by date desc limit ?
        ),
        cutoff as (
            select min(date) as first_date from recent
        ),
        ended as (
            select symbol, max(date) as last_date from marts.fct_daily_features group by symbol
            having max(date) < (select first_date from cutoff)
        )
        select * from marts.fct_daily_features
        where date >= (select first_date from cutoff) and symbol in (select symbol from tradable)
        union all
        select features.* from marts.fct_daily_features as features
        join ended on ended.symbol = features.symbol and ended.last_date = features.date
        where features.symbol in (select symbol from tradable)
        order by date, symbol
        """,
        [int(last_dates)],
    )
