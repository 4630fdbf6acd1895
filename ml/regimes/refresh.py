"""The daily regime batch: label every new day with the current model, persist to MongoDB and DuckDB.

The current model version is reused (its filtered probabilities for past days never change); a model
is fitted when there is none, or on `refit=True` (a new version, made current). Only days after the
last one stored for the version are written, in date order, by idempotent upserts: re-running a day
changes nothing, and a run that fails midway resumes where it stopped, leaving earlier labels intact.
The DuckDB copy (`ml.regime_labels`, `ml.regime_models`) lets analysts and dbt join regimes with features.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from featurecast.errors import NotReadyError
from ml.regimes.model import RegimeModel, filtered_probabilities, fit, rule_labels
from ml.regimes.store import RegimeStore

SCOPE = "market"
DDL = """
create schema if not exists ml;
create table if not exists ml.regime_labels (
    scope varchar not null, date date not null, model_version varchar not null,
    regime varchar not null, probability double not null, probabilities json not null, rule_regime varchar
);
create table if not exists ml.regime_models (
    model_version varchar primary key, scope varchar not null, fitted_at timestamp not null,
    fit_start date not null, fit_end date not null, metadata json not null
);
"""


@dataclass(frozen=True)
class RefreshReport:
    model_version: str
    fitted: bool
    days_written: int
    latest_date: str
    latest_regime: str
    latest_probabilities: dict[str, float]
    seconds: float


# Fewest market days to fit a regime model on (a year of sessions).
MIN_MARKET_DAYS = 252


class NoMarketSeriesError(ValueError):
    """Too few days of a market series to label regimes (a small universe and no benchmark symbol)."""


def market_features(warehouse: Path) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "select date, mkt_ret_1d, mkt_ret_63d, mkt_vol_21d from marts.fct_market_features order by date"
        ).df()
    finally:
        con.close()


def label_documents(model: RegimeModel, market: pd.DataFrame, after: str | None = None) -> list[dict[str, object]]:
    probabilities = filtered_probabilities(model, market)
    rules = rule_labels(market)
    docs = []
    for row in probabilities.itertuples(index=False):
        day = pd.Timestamp(row.date)
        iso = day.date().isoformat()
        if after is not None and iso <= after:
            continue
        probs = {name: float(getattr(row, name)) for name in model.names}
        regime = max(probs, key=probs.get)
        docs.append(
            {
                "scope": SCOPE,
                "date": iso,
                "model_version": model.version,
                "regime": regime,
                "probability": probs[regime],
                "probabilities": probs,
                "rule_regime": rules.get(day),
            }
        )
    return docs


def refresh_regimes(warehouse: Path, store: RegimeStore, *, refit: bool = False, k: int = 2) -> RefreshReport:
    started = time.perf_counter()
    market = market_features(warehouse)
    if market.empty:
        raise NotReadyError("marts.fct_market_features is empty: run `featurecast build` first")
    if market["mkt_ret_1d"].notna().sum() < MIN_MARKET_DAYS:
        raise NoMarketSeriesError(
            f"the market series has {int(market['mkt_ret_1d'].notna().sum())} days, fewer than the "
            f"{MIN_MARKET_DAYS} a regime model needs: an equal-weight market is null on dates with too few "
            "symbols; set FEATURECAST_MARKET_SERIES to a benchmark symbol you import (e.g. ^GSPC)"
        )
    current = store.current_model(SCOPE)
    fitted = refit or current is None
    model = fit(market, k) if fitted else RegimeModel.from_document(current)
    if fitted:
        store.upsert_model(model.to_document(), scope=SCOPE, current=True)
    # Each store is brought up to date from its own last day, so a run that failed between the two
    # (or midway through either) leaves no gap in the other when it is run again.
    all_docs = label_documents(model, market, None)
    mongo_last = store.last_date(SCOPE, model.version)
    docs = [d for d in all_docs if mongo_last is None or d["date"] > mongo_last]
    store.upsert_labels(docs)
    if docs or fitted:
        store.mark_labels_written(SCOPE, model.version, all_docs[-1]["date"] if all_docs else None)

    con = duckdb.connect(str(warehouse))
    try:
        con.execute(DDL)
        duck_last = con.execute(
            "select cast(max(date) as varchar) from ml.regime_labels where model_version = ?", [model.version]
        ).fetchone()[0]
        duck_docs = [d for d in all_docs if duck_last is None or d["date"] > duck_last]
        con.execute("begin transaction")
        if fitted:
            con.execute("delete from ml.regime_models where model_version = ?", [model.version])
            con.execute(
                "insert into ml.regime_models values (?, ?, ?, ?, ?, ?)",
                [
                    model.version,
                    SCOPE,
                    datetime.now(UTC).replace(tzinfo=None),
                    model.fit_start,
                    model.fit_end,
                    json.dumps(model.metadata),
                ],
            )
        if duck_docs:
            frame = pd.DataFrame(duck_docs)
            frame["probabilities"] = frame["probabilities"].map(json.dumps)
            con.execute(
                "delete from ml.regime_labels where model_version = ? and date >= ?",
                [model.version, frame["date"].min()],
            )
            con.register("new_labels", frame)
            con.execute(
                "insert into ml.regime_labels by name select scope, cast(date as date) as date, model_version, "
                "regime, probability, probabilities, rule_regime from new_labels"
            )
        con.execute("commit")
    finally:
        con.close()
    latest = store.history(SCOPE, model.version, limit=1)[0]
    return RefreshReport(
        model.version,
        fitted,
        len(docs),
        latest["date"],
        latest["regime"],
        latest["probabilities"],
        time.perf_counter() - started,
    )
