"""The daily regime batch: label every new day point in time, persist to MongoDB and DuckDB.

The stored history is walk-forward: each day is labelled by the model version that was current then,
whose fit ended before the day (ml.regimes.model.walk_forward); a new version is fitted every
`refit_every` sessions on everything before the next unlabelled day, or on `refit=True`. The first run
backfills the whole history that way; a nightly run labels the new day only. Labels are written in date
order by idempotent upserts, so re-running a day changes nothing and a run that fails midway resumes
from the last day the store marked as labelled (the days written after it get the same labels again).
The current version's in-sample relabelling of all history is kept beside it, named `in_sample`.
MongoDB (through pymongo) is the system of record; DuckDB mirrors it (`ml.regime_history`,
`ml.regime_in_sample`, `ml.regime_models`) so analysts and dbt can join regimes with features.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from featurecast.duckdb_rows import one_row
from featurecast.errors import NotReadyError
from featurecast.marts import MartReader, reader_for
from featurecast.progress import Progress
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
    # The current model's marker says through which day labels were written (one small document); the
    # embedded store scans every label to find the newest, so the marker saves a night seconds. A run
    # that failed before marking leaves it behind: those days are labelled again, to the same labels.
    marked = current.get("labels_through") if current else None
    last = marked or store.last_date(SCOPE)
    # Days after the marker have no label, unless a run died mid-write (it left `labels_pending_from`):
    # then every key is looked up before it is written.
    known_new = bool(marked) and not (current or {}).get("labels_pending_from")
    start = min_history if last is None else rows_through(dates, last)
    fitted = 0
    written_docs: list[dict[str, object]] = []
    if start >= len(data) and (model is None or refit):
        model = select_model(data, candidates)  # nothing new to label: the (re)fit labels from the next day on
        store.upsert_model(model.to_document(), scope=SCOPE, current=True)
        fitted += 1
    if known_new and model is not None and start < len(data):
        store.mark_pending(SCOPE, model.version, str(pd.Timestamp(dates[start]).date()))
    progress = Progress("labelling regimes", total=max(len(data) - start, 1))
    for segment_model, new, labels in walk_forward(  # nothing to do when every day is labelled already
        data, start=start, model=model, candidates=candidates, refit_every=refit_every, refit_now=refit
    ):
        if new:
            store.upsert_model(segment_model.to_document(), scope=SCOPE, current=True)
            fitted += 1
        documents = _documents(labels, rules)
        (store.insert_history if known_new else store.upsert_history)(documents)
        written_docs += documents
        model = segment_model
        if documents:
            progress.advance(len(documents), step=f"{len(written_docs)} days through {documents[-1]['date']}")
    assert model is not None  # a day was labelled above, or a model already labelled every day
    in_sample_last = marked if marked and not fitted else store.last_date(SCOPE, model.version)
    if fitted:
        store.drop_in_sample_except(SCOPE, model.version)
    in_start = 0 if in_sample_last is None else rows_through(dates, in_sample_last)
    in_sample_docs: list[dict[str, object]] = []
    if in_start < len(data):
        in_sample_docs = _documents(label_frame(model, data, in_start), rules)
        (store.insert_in_sample if known_new and not fitted else store.upsert_in_sample)(in_sample_docs)
    # Labels are written in date order from the first unlabelled day: the newest written is the store's newest.
    through = str(written_docs[-1]["date"]) if written_docs else last
    if written_docs or fitted or in_sample_docs:
        through = through or store.last_date(SCOPE)
        store.mark_labels_written(SCOPE, model.version, through)
    latest = _mirror_to_duckdb(
        warehouse,
        store,
        model.version,
        str(through) if through else None,
        written=(last, written_docs),
        written_in_sample=(in_sample_last, in_sample_docs),
    )
    written = len(written_docs)
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


Written = tuple[str | None, list[dict[str, object]]]  # (the newest day before them, the labels written)


def _mirror_to_duckdb(
    warehouse: Path,
    store: RegimeStore,
    current_version: str,
    through: str | None,
    *,
    written: Written = (None, []),
    written_in_sample: Written = (None, []),
) -> dict[str, Any]:
    """Bring DuckDB's copy up to date from the store, from DuckDB's own last day: a run that failed
    between the two (or midway through either) leaves no gap when it is run again. `through` is the
    store's newest label (None: unknown); when DuckDB already holds it, the store's labels are not read,
    and when DuckDB ends where this run's labels (`written`, `written_in_sample`) start, those are copied.
    Returns the newest label (date, regime, probabilities)."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(DDL)
        known = {row[0] for row in con.execute("select model_version from ml.regime_models").fetchall()}
        models = [m for m in store.models_for(SCOPE) if m["model_version"] not in known]
        history_last = one_row(con, "select cast(max(date) as varchar) from ml.regime_history")[0]
        in_sample_last = one_row(
            con, "select cast(max(date) as varchar) from ml.regime_in_sample where model_version = ?", [current_version]
        )[0]

        def missing(duckdb_last: str | None, mine: Written, version: str | None) -> list[dict[str, Any]]:
            if through is not None and duckdb_last == through:
                return []
            if mine[1] and mine[0] is not None and duckdb_last == mine[0]:
                return [dict(d) for d in mine[1]]
            return store.history(SCOPE, version, start=_next_day(duckdb_last), limit=10**9)

        history = missing(history_last, written, None)
        in_sample = missing(in_sample_last, written_in_sample, current_version)
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
        day, regime, probabilities = one_row(
            con,
            "select cast(date as varchar), regime, probabilities from ml.regime_history where scope = ? "
            "order by date desc limit 1",
            [SCOPE],
        )
    finally:
        con.close()
    return {"date": day, "regime": regime, "probabilities": json.loads(probabilities)}


def _next_day(day: str | None) -> str | None:
    return None if day is None else (pd.Timestamp(day) + pd.Timedelta(days=1)).date().isoformat()
