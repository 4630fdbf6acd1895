"""Daily scoring: the champion's calibrated probability and per-feature contributions for every symbol,
written to `ml.signals` so serving reads precomputed values and does no model work per request.

Re-scoring the same dates with the same model replaces their rows (idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from featurecast.errors import NotReadyError
from featurecast.marts import MartReader
from ml.signals.dataset import scoring_frame
from ml.signals.registry import champion, ensure_schema, load_model


@dataclass(frozen=True)
class ScoreReport:
    model_version: str
    rows: int
    first_date: object
    last_date: object


def score_latest(
    warehouse: Path, *, horizon: int = 5, last_dates: int = 63, marts: MartReader | None = None
) -> ScoreReport:
    """Score the last `last_dates` dates of the feature mart (and each ended symbol's last date) with the
    champion of `horizon`. Re-scoring a (symbol, date) replaces its row. The features are read through
    `marts` (default: the DuckDB warehouse); the scores are written to the warehouse's ml.signals."""
    entry = champion(warehouse, horizon)
    if entry is None:
        raise NotReadyError(
            f"no champion model for horizon {horizon}: train one with `featurecast signals train --promote`"
        )
    model, calibrator = load_model(entry)
    frame = scoring_frame(marts or warehouse, last_dates)
    if frame.empty:
        raise NotReadyError("marts.fct_daily_features is empty: run `featurecast build` first")
    raw = model.raw_score(frame)
    contributions, base = model.contributions(frame)
    p_raw = 1.0 / (1.0 + np.exp(-raw))
    out = pd.DataFrame(
        {
            "symbol": frame["symbol"],
            "date": frame["date"],
            "model_version": entry.version,
            "horizon": horizon,
            "probability": calibrator(p_raw),
            "raw_probability": p_raw,
            "raw_score": raw,
            "base_value": base,
            "feature_values": list(frame[entry.features].to_numpy(dtype=np.float64)),
            "contributions": list(contributions),
            "scored_at": datetime.now(UTC).replace(tzinfo=None),
        }
    )
    con = duckdb.connect(str(warehouse))
    try:
        ensure_schema(con)
        con.execute("begin transaction")
        con.register("scored", out)
        con.execute(
            "delete from ml.signals s using scored where s.model_version = ? "
            "and s.symbol = scored.symbol and s.date = scored.date",
            [entry.version],
        )
        con.execute("insert into ml.signals by name select * from scored")
        con.execute("commit")
    finally:
        con.close()
    return ScoreReport(entry.version, len(out), frame["date"].min(), frame["date"].max())
