"""The daily regime batch: label every new day point in time, persist to MongoDB and DuckDB.

The stored history is walk-forward: each day is labelled by the model version that was current then,
whose fit ended before the day (ml.regimes.model.walk_forward); a new version is fitted every
`refit_every` sessions on everything before the next unlabelled day, or on `refit=True`. The first run
backfills the whole history that way; a nightly run labels the new day only. Labels are written in date
order by idempotent upserts, so re-running a day changes nothing and a run that fails midway resumes
where it stopped. The current version's in-sample relabelling of all history is kept beside it, named
`in_sample`. MongoDB (through pymongo) is the system of record; DuckDB mirrors it (`ml.regime_history`,
`ml.regime_in_sample`, `ml.regime_models`) so analysts and dbt can join regimes with features.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from featurecast.duckdb_rows import one_row
from featurecast.errors import NotReadyError
from featurecast.marts import MartReader, reader_for
from ml.regimes.model import (
    STATE_CANDIDATES,
    RegimeModel,
    clean_market,
    label_frame,
    rows_through,
    rule_labels,
    select_model,
    walk_forward,
)
from ml.regimes.store import RegimeStore

SCOPE = "market"
LABEL_COLUMNS = """scope varchar not null, date date not null, model_version varchar not null, fit_end date not null,
    regime varchar not null, probability double not null, probabilities json not null, rule_regime varchar,
    mean_return_z double"""
DDL = f"""
create schema if not exists ml;
create table if not exists ml.regime_history ({LABEL_COLUMNS});
create table if not exists ml.regime_in_sample ({LABEL_COLUMNS});
create table if not exists ml.regime_models (
    model_version varchar primary key, scope varchar not null, fitted_at timestamp not null,
    fit_start date not null, fit_end date not null, metadata json not null
);
-- Labels written before each label carried its confidence (the state mean's z) have none.
alter table ml.regime_history add column if not exists mean_return_z double;
alter table ml.regime_in_sample add column if not exists mean_return_z double;
-- The in-sample labels of releases before the point-in-time history; superseded by the two tables above.
drop table if exists ml.regime_labels;
"""
DEFAULT_REFIT_SESSIONS = 252
DEFAULT_MIN_HISTORY = 504


@dataclass(frozen=True)
class RefreshReport:
    model_version: str
    fitted: bool
    days_written: int
    latest_date: str
    latest_regime: str
    latest_probabilities: dict[str, float]
    seconds: float
    versions_fitted: int = 0


class NoMarketSeriesError(ValueError):
    """Too few days of a market series to label regimes (a small universe and no benchmark symbol)."""


def market_features(marts: MartReader | Path) -> pd.DataFrame:
    """The market series the regime model reads, oldest first."""
    return reader_for(marts).frame(
        "select date, mkt_ret_1d, mkt_ret_63d, mkt_vol_21d from marts.fct_market_features order by date"
    )


def _documents(labels: pd.DataFrame, rules: pd.Series) -> list[dict[str, object]]:
    docs = []
    for row in labels.itertuples(index=False):
        day = pd.Timestamp(row.date)
        docs.append(
            {
                "scope": SCOPE,
                "date": day.date().isoformat(),
                "model_version": row.model_version,
                "fit_end": row.fit_end,
                "regime": row.regime,
                "mean_return_z": float(row.mean_return_z),
                "probability": float(row.probability),
                "probabilities": row.probabilities,
                "rule_regime": rule if isinstance(rule := rules.get(day), str) else None,
            }
        )
    return docs


def refresh_regimes(
    warehouse: Path,
    store: RegimeStore,
    *,
    refit: bool = False,
    candidates: Sequence[int] = STATE_CANDIDATES,
    refit_every: int = DEFAULT_REFIT_SESSIONS,
    min_history: int = DEFAULT_MIN_HISTORY,
    marts: MartReader | None = None,
) -> RefreshReport:
    """Label the days the store has no label for (refitting on schedule) from the market series read
    through `marts` (default: the DuckDB warehouse); the store and the warehouse's ml tables get them."""
    started = time.perf_counter()
    market = market_features(marts or warehouse)
    if market.empty:
        raise NotReadyError("marts.fct_market_features is empty: run `featurecast build` first")
    data = clean_market(market)
    if len(data) <= min_history:
        raise NoMarketSeriesError(
            f"the market series has {len(data)} days; point-in-time regime labels start after the first "
            f"{min_history} (FEATURECAST_REGIME_MIN_HISTORY): an equal-weight market is null on dates with too "
            "few symbols; set FEATURECAST_MARKET_SERIES to a benchmark symbol you import (e.g. ^GSPC)"
        )
    rules = rule_labels(market)
    dates = data["date"].to_numpy()
    current = store.current_model(SCOPE)
    model = RegimeModel.from_document(current) if current else None
    last = store.last_date(SCOPE)
    start = min_history if last is None else rows_through(dates, last)
    fitted = 0
    written = 0
    if start >= len(data) and (model is None or refit):
        model = select_model(data, candidates)  # nothing new to label: the (re)fit labels from the next day on
        store.upsert_model(model.to_document(), scope=SCOPE, current=True)
        fitted += 1
    for segment_model, new, labels in walk_forward(  # nothing to do when every day is labelled already
        data, start=start, model=model, candidates=candidates, refit_every=refit_every, refit_now=refit
    ):
        if new:
            store.upsert_model(segment_model.to_document(), scope=SCOPE, current=True)
            fitted += 1
        written += store.upsert_history(_documents(labels, rules))
        model = segment_model
    assert model is not None  # a day was labelled above, or a model already labelled every day
    in_sample_last = store.last_date(SCOPE, model.version)
    if fitted:
        store.drop_in_sample_except(SCOPE, model.version)
    in_start = 0 if in_sample_last is None else rows_through(dates, in_sample_last)
    if in_start < len(data):
        store.upsert_in_sample(_documents(label_frame(model, data, in_start), rules))
    if written or fitted or in_start < len(data):
        store.mark_labels_written(SCOPE, model.version, store.last_date(SCOPE))
    _mirror_to_duckdb(warehouse, store, model.version)
    latest = store.history(SCOPE, limit=1)[0]
    return RefreshReport(
        model.version,
        fitted > 0,
        written,
        latest["date"],
        latest["regime"],
        latest["probabilities"],
        time.perf_counter() - started,
        fitted,
    )


def _mirror_to_duckdb(warehouse: Path, store: RegimeStore, current_version: str) -> None:
    """Bring DuckDB's copy up to date from the store, from DuckDB's own last day: a run that failed
    between the two (or midway through either) leaves no gap when it is run again."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(DDL)
        known = {row[0] for row in con.execute("select model_version from ml.regime_models").fetchall()}
        models = [m for m in store.models_for(SCOPE) if m["model_version"] not in known]
        history_last = one_row(con, "select cast(max(date) as varchar) from ml.regime_history")[0]
        history = store.history(SCOPE, start=_next_day(history_last), limit=10**9)
        in_sample_last = one_row(
            con, "select cast(max(date) as varchar) from ml.regime_in_sample where model_version = ?", [current_version]
        )[0]
        in_sample = store.history(SCOPE, current_version, start=_next_day(in_sample_last), limit=10**9)
        con.execute("begin transaction")
        for doc in models:
            con.execute(
                "insert into ml.regime_models values (?, ?, ?, ?, ?, ?)",
                [
                    doc["model_version"],
                    SCOPE,
                    datetime.now(UTC).replace(tzinfo=None),
                    doc["fit_start"],
                    doc["fit_end"],
                    json.dumps(doc["metadata"]),
                ],
            )
        con.execute("delete from ml.regime_in_sample where model_version <> ?", [current_version])
        for table, docs in (("regime_history", history), ("regime_in_sample", in_sample)):
            if not docs:
                continue
            frame = pd.DataFrame(docs)
            frame["probabilities"] = frame["probabilities"].map(json.dumps)
            con.register("new_labels", frame)
            con.execute(
                f"insert into ml.{table} by name select scope, cast(date as date) as date, model_version, "
                "cast(fit_end as date) as fit_end, regime, probability, probabilities, rule_regime, mean_return_z "
                "from new_labels"
            )
            con.unregister("new_labels")
        con.execute("commit")
    finally:
        con.close()


def _next_day(day: str | None) -> str | None:
    return None if day is None else (pd.Timestamp(day) + pd.Timedelta(days=1)).date().isoformat()
